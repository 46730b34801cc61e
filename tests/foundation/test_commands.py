"""Every user command: `sealion <command> --help` and `python -m <module> --help` exit 0 and print the summary
`sealion --help` lists; the command table covers every registered stage and every runnable module of the packages
(a new stage without its `recipes.<stage>` module, or a new `python -m` module not in the table, fails here)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from recipes import cli
from recipes.stages import STAGES, specs

REPO = Path(__file__).resolve().parents[2]
COMMANDS = cli.commands()
# Modules that run as `python -m` but are no user command, and why. A library CLI that a stage covers is listed
# with that stage: its argparse is still to move out (the stage command is the one way to do it).
NOT_COMMANDS = {
    "recipes.cli": "the sealion dispatcher itself",
    "recipes.__main__": "`python -m recipes`: the sealion dispatcher",
    "recipes.runtime.stage_runner": "what every job runs, not a user",
    "data_prep.curate": "the data_prep stage",
    "data_prep.tokenize": "the data_prep stage",
    "data_prep.clair": "the clair stage",
}


def normal(text: str) -> str:
    return " ".join(text.split()).lower()


def runnable_modules() -> set[str]:
    """Modules of the packages with an `if __name__ == "__main__":` block, and packages' `__main__` modules."""
    found = set()
    for package in ("recipes", "data_prep", "evals"):
        for path in (REPO / package).rglob("*.py"):
            module = ".".join(path.relative_to(REPO).with_suffix("").parts)
            tree = ast.parse(path.read_text())
            guarded = any(
                isinstance(node, ast.If)
                and "__main__" in ast.unparse(node.test)
                and "__name__" in ast.unparse(node.test)
                for node in tree.body
            )
            if guarded or path.name == "__main__.py":
                found.add(module)
    return found


def test_every_registered_stage_is_a_command():
    """`sealion <stage>` for every registered stage, with its spec's summary; a stage module of its own
    (`python -m recipes.<stage>`) is optional: the first stages keep theirs."""
    for spec in specs():
        command = COMMANDS[spec.name]
        assert (command.group, command.stage_summary) == ("stages", spec.summary), spec.name
        module = REPO / "recipes" / f"{spec.name}.py"
        assert command.module == (f"recipes.{spec.name}" if module.is_file() else None), spec.name


def test_every_runnable_module_is_in_the_table_or_named_as_no_command():
    in_table = {cli.entry_module(c.module) for c in COMMANDS.values() if c.module}
    unlisted = runnable_modules() - in_table - set(NOT_COMMANDS)
    assert not unlisted, f"runnable modules that are no sealion command: {sorted(unlisted)}; add them to recipes.cli"
    stale = (in_table | set(NOT_COMMANDS)) - runnable_modules()
    assert not stale, f"listed but not runnable with python -m: {sorted(stale)}"


def test_names_are_unique_and_summaries_one_line():
    names = [c.name for c in cli.TOOLS] + list(STAGES)
    assert len(names) == len(set(names))
    for command in COMMANDS.values():
        text = cli.describe(command)
        assert text and "\n" not in text and len(text) < 130, (command.name, text)


def test_the_console_script_is_the_dispatcher():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"sealion": "recipes.cli:main"}


def test_sealion_help_lists_every_command_with_its_summary():
    out = subprocess.run([sys.executable, "-m", "recipes", "--help"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    listed = {line.split()[0]: " ".join(line.split()[1:]) for line in out.stdout.splitlines() if line.startswith("  ")}
    assert listed == {name: cli.describe(c) for name, c in COMMANDS.items()}


def test_unknown_command_is_one_error_line_naming_it(capsys):
    assert cli.main(["statuz"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: statuz: no such command; did you mean status? (`sealion --help` lists them)"]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_sealion_command_help(name, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    try:
        code = cli.main([name, "--help"])
    except SystemExit as exit_:  # argparse's --help
        code = exit_.code
    out = capsys.readouterr().out
    assert code in (0, None), out
    assert normal(cli.describe(COMMANDS[name]).split(" (")[0]) in normal(out), out


# `python -m MODULE --help` for each module in turn, in one process: runpy as `python -m` runs it (as __main__, with
# sys.argv[0] the module's file), each reported as `<module>\t<exit code>\t<output>` on a line of its own.
RUN_EACH = """
import contextlib, io, json, runpy, sys
for module in sys.argv[1:]:
    out = io.StringIO()
    sys.argv = [module, "--help"]
    with contextlib.redirect_stdout(out):
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exit_:
            code = exit_.code
    print(json.dumps([module, code, out.getvalue()]))
"""


def test_python_dash_m_help_of_every_module():
    by_module = {c.module: c for c in COMMANDS.values() if c.module}
    modules = list(by_module)
    out = subprocess.run(
        [sys.executable, "-c", RUN_EACH, *modules],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert out.returncode == 0, out.stderr
    results = [json.loads(line) for line in out.stdout.splitlines()]
    assert [module for module, _, _ in results] == modules
    for module, code, text in results:
        assert code in (0, None), (module, text)
        assert normal(cli.describe(by_module[module]).split(" (")[0]) in normal(text), (module, text)


def help_rows(capsys, command: str) -> dict[str, str]:
    assert cli.main([command, "--help"]) == 0
    out = capsys.readouterr().out
    return {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and len(line.split()) > 1}


def test_stage_help_lists_every_config_group_and_its_options(capsys):
    """The plan command (any stage) lists every conf group; a stage lists the groups its job takes: not `stage`
    (the command chooses it), not a group that sets only other stages' sections."""
    rows = help_rows(capsys, "plan")
    groups = [d for d in sorted((REPO / "conf").iterdir()) if d.is_dir()]
    assert {"context", "merge", "select"} <= {d.name for d in groups}
    for group in groups:
        assert group.name in rows, f"conf/{group.name}/ missing from --help"
        if group.name not in ("experiment_stage",):  # picked as ${experiment}_${stage}, not listed one by one
            for option in group.glob("*.yaml"):
                assert option.stem in rows[group.name], (group.name, option.stem)
    assert "gemma3_270m*" in rows["model"] and "+merge=OPTION" in rows["merge"]
    sft = help_rows(capsys, "sft")
    assert {"precision", "model", "cluster", "context"} <= set(sft) and not {"stage", "merge", "select"} & set(sft)
    rl = help_rows(capsys, "rl")
    assert not {"precision", "merge", "select", "stage"} & set(rl) and "experiment" in rl
    assert "merge" in help_rows(capsys, "merge")


def test_sealion_hands_the_command_its_arguments(tmp_path, capsys):
    assert cli.main(["checkpoints", str(tmp_path)]) == 1  # an empty directory: no complete checkpoint
    assert capsys.readouterr().out.strip() == f"no complete checkpoint in {tmp_path}"


def test_mergekit_renders_a_preset_with_its_models(capsys):
    preset = REPO / "conf" / "merge" / "sft_ties.yaml"
    assert cli.main(["mergekit", str(preset), "--base-model", "/m/base", "--models", "/m/a", "/m/b", "--render"]) == 0
    out = capsys.readouterr().out
    assert "merge_method: ties" in out and "base_model: /m/base" in out and "- model: /m/b" in out


def test_variants_of_an_unknown_source_is_one_error_line(tmp_path, capsys):
    code = cli.main(["variants", str(tmp_path / "nope"), str(tmp_path / "out"), "--registry", str(tmp_path / "reg")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: source: no version '{tmp_path / 'nope'}'"), err
