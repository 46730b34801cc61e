"""`sealion <command> [ARGS]`: every user command behind one console script (also `python -m recipes`).

A command is a module with `main(argv)`; `sealion X` imports it only when X runs and hands it the rest of the
command line, so `sealion X ...` and `python -m <module> ...` are the same command. The stage commands are the
registered stages (`recipes.<stage>`, one module each); the others are the table below, by module name. A summary is
the first sentence of the module's docstring, read without importing the module (`sealion --help` stays fast).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from recipes.stages import specs


@dataclass(frozen=True)
class Command:
    name: str
    # a module with main(argv), or a package whose __main__ has it; None: a stage without a `python -m` module of
    # its own (`sealion <stage>` runs every registered stage)
    module: str | None
    group: str  # the heading `sealion --help` lists it under
    stage_summary: str | None = None  # a stage's: its spec's summary


TOOLS: tuple[Command, ...] = (
    Command("pipeline", "recipes.pipeline", "runs"),
    Command("plan", "recipes.plan", "runs"),
    Command("status", "recipes.status", "runs"),
    Command("checkpoints", "recipes.checkpoints", "runs"),
    Command("versions", "recipes.versions", "models"),
    Command("report", "recipes.report", "models"),
    Command("mergekit", "recipes.mergekit", "models"),
    Command("variants", "recipes.variants", "models"),
    Command("multimodal", "recipes.multimodal", "models"),
    Command("multimodal_check", "evals.multimodal_check", "models"),
    Command("datamix", "data_prep.datamix", "data"),
    Command("sft_format", "data_prep.sft_format", "data"),
    Command("tool_format", "data_prep.tool_format", "data"),
    Command("rl_data", "data_prep.rl_data", "data"),
    Command("synthetic", "recipes.synthetic", "data"),
    Command("seahelm", "evals.seahelm", "evaluation"),
    Command("review", "recipes.review", "evaluation"),
    Command("fixture", "recipes.gemma3_fixture", "setup"),
    Command("config_reference", "recipes.config_reference", "setup"),
)


def commands() -> dict[str, Command]:
    """Every command by name: the registered stages first, then the tools."""
    table = {
        spec.name: Command(spec.name, _module_if_any(f"recipes.{spec.name}"), "stages", spec.summary)
        for spec in specs()
    }
    for tool in TOOLS:
        if tool.name in table:
            raise RuntimeError(f"command {tool.name!r} is both a stage and a tool: rename the tool")
        table[tool.name] = tool
    return table


def _module_if_any(module: str) -> str | None:
    return module if importlib.util.find_spec(module) else None


def describe(command: Command) -> str:
    """The line `sealion --help` shows: a stage's spec summary, else its module's docstring's first sentence."""
    if command.stage_summary is not None:
        return command.stage_summary[:1].upper() + command.stage_summary[1:]
    assert command.module is not None
    return summary(command.module)


def entry_module(module: str) -> str:
    """The module holding main(): a package's `__main__`."""
    spec = importlib.util.find_spec(module)
    return f"{module}.__main__" if spec and spec.submodule_search_locations else module


def summary(module: str) -> str:
    """The first sentence of the entry module's docstring, without a leading "`command`: " or "Stage X: "."""
    spec = importlib.util.find_spec(entry_module(module))
    if spec is None or spec.origin is None:
        raise LookupError(f"command module {module} is not importable: fix its row in recipes/cli.py")
    doc = ast.get_docstring(ast.parse(Path(spec.origin).read_text())) or ""
    first = " ".join(doc.split("\n\n")[0].split())
    first = re.sub(r"^(`[^`]*`|Stage \w+): ", "", first)
    sentence = re.split(r"(?<=[a-z)][a-z)])\. ", first)[0].rstrip(".")
    return sentence[:1].upper() + sentence[1:]


def usage() -> str:
    table = commands()
    lines = ["usage: sealion <command> [ARGS]   (sealion <command> --help: its own arguments)", ""]
    for group in dict.fromkeys(c.group for c in table.values()):
        lines.append(f"{group}:")
        lines += [f"  {c.name:<17} {describe(c)}" for c in table.values() if c.group == group]
    lines += ["", "`sealion X` runs the same command as `python -m <its module>` (the first stages: recipes.<stage>)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    table = commands()
    name, rest = argv[0], argv[1:]
    if name not in table:
        close = [c for c in table if c.startswith(name[:3])]
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        print(f"error: {name}: no such command{hint} (`sealion --help` lists them)", file=sys.stderr)
        return 2
    command = table[name]
    if command.stage_summary is not None:
        from recipes.submit.cli import stage_main

        return stage_main(name, rest, prog=f"sealion {name}") or 0
    assert command.module is not None
    command_main = importlib.import_module(entry_module(command.module)).main
    takes_prog = "prog" in inspect.signature(command_main).parameters
    code = command_main(rest, prog=f"sealion {name}") if takes_prog else command_main(rest)
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
