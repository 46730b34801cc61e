"""docs/config-reference.md is the generator's output over today's schema and conf/, and says what the schema says:
every section and key, types as written, defaults, the comments beside the fields, every group and option."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import sys
import textwrap
import typing
from pathlib import Path

from recipes import config_reference
from recipes.core.config import CONF_DIR
from recipes.core.schema import ClairConfig, RLConfig, RootConfig, RunConfig
from recipes.stages import specs

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "config-reference.md"


def _section_text(doc: str, name: str) -> str:
    match = re.search(rf"^## {re.escape(name)}\n(.*?)(?=^## |\Z)", doc, re.M | re.S)
    assert match, f"no section {name}"
    return match.group(1)


def _row(doc: str, section: str, key: str) -> list[str]:
    """The cells of one key's row (pipes inside cells are escaped as `\\|`)."""
    for line in _section_text(doc, section).splitlines():
        if line.startswith(f"| `{key}` |"):
            return [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
    raise AssertionError(f"no row {section}.{key}")


def test_committed_reference_is_the_generators_output():
    assert DOC.read_text() == config_reference.render(), (
        "docs/config-reference.md is stale: run `python -m recipes.config_reference` and commit it"
    )


def _all_keys(cls: type, prefix: str = "") -> list[str]:
    hints, out = typing.get_type_hints(cls), []
    for f in dataclasses.fields(cls):
        out.append(prefix + f.name)
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            out += _all_keys(hint, f"{prefix}{f.name}.")
        elif typing.get_origin(hint) is list and dataclasses.is_dataclass(typing.get_args(hint)[0]):
            out += _all_keys(typing.get_args(hint)[0], f"{prefix}{f.name}[].")
    return out


def test_every_section_and_key_of_the_schema_is_documented():
    doc = DOC.read_text()
    hints = typing.get_type_hints(RootConfig)
    for section in dataclasses.fields(RootConfig):
        text = _section_text(doc, section.name)
        documented = re.findall(r"^\| `([^`]+)` \|", text, re.M)
        assert documented == _all_keys(hints[section.name]), section.name
        assert f"`{hints[section.name].__name__}`; owner: shared." in text
    for spec in specs():  # every stage's own sections, under the stages that own them
        for name, kind in spec.sections.items():
            text = _section_text(doc, name)
            assert re.findall(r"^\| `([^`]+)` \|", text, re.M) == _all_keys(kind), name
            assert re.search(rf"`{kind.__name__}`; owner: [a-z_, ]*\b{spec.name}\b", text), (name, spec.name)


def test_rows_carry_type_default_and_the_fields_comment():
    doc = DOC.read_text()
    assert _row(doc, "launch", "dryrun") == [
        "`dryrun`",
        "`bool`",
        "`false`",
        "render everything to the run directory; submit nothing",
    ]
    assert _row(doc, "model", "num_layers")[2] == "`required`"  # omegaconf's MISSING
    assert _row(doc, "run", "input")[1:3] == ["`str \\| None`", "`null`"]
    assert _row(doc, "eval", "suites")[2] == '`["local"]`'  # a default_factory's value
    # a comment block above the field (two lines) is the field's, the next field's inline comment its own
    cp = _row(doc, "model", "cp_comm_type")[3]
    assert cp.startswith("How CP ranks exchange K/V") and cp.endswith("divide the heads per TP rank.")
    assert _row(doc, "model", "sequence_parallel")[3] == ""
    assert _row(doc, "eval", "seahelm.judge.model_type")[2] == '`"vllm"`'  # nested two deep
    assert _row(doc, "merge", "models[].density")[3].startswith("fraction of task-vector entries kept")


def test_every_group_and_option_of_conf_is_listed():
    doc = DOC.read_text()
    for directory in (p for p in CONF_DIR.rglob("*") if p.is_dir() and any(p.glob("*.yaml"))):
        group = directory.relative_to(CONF_DIR).as_posix()
        if group == "data/datamix":  # datamix files are named by data.datamix, not chosen as options
            assert f"### `{group}`" not in doc
            continue
        heading = re.search(rf"^### `{re.escape(group)}`.*$", doc, re.M)
        assert heading, group
        block = doc[heading.end() :].split("\n### ", 1)[0].split("\n## ", 1)[0]
        assert re.findall(r"^- `([^`]+)`", block, re.M) == sorted(p.stem for p in directory.glob("*.yaml"))
    assert "### `model` (default `gemma3_270m`)" in doc
    assert "### `experiment` (default `smoke`)" in doc
    assert "### `merge`\n" in doc  # no default: chosen per run
    # an option's note is the first sentence of its leading comment, past `# @package`, not cut at "Dr. GRPO"
    first = (CONF_DIR / "precision" / "bf16.yaml").read_text().splitlines()[1].lstrip("# ")  # past `# @package`
    assert f"- `bf16`: {first}\n" in doc
    assert re.search(r"^- `sealion_v4_27b_rl`: Dr\. GRPO for instruction following .*\)\.$", doc, re.M)


def test_owner_stages_are_shown_per_section():
    sections = [
        config_reference.Section("run", RunConfig, None),
        config_reference.Section("rl", RLConfig, ("rl",)),
        config_reference.Section("clair", ClairConfig, ("clair", "select")),
    ]
    doc = config_reference.render(sections)
    assert "| [`rl`](#rl) | `RLConfig` | rl |" in doc
    assert "| [`clair`](#clair) | `ClairConfig` | clair, select |" in doc
    assert "`RunConfig`; owner: shared." in _section_text(doc, "run")
    assert "`RLConfig`; owner: rl." in _section_text(doc, "rl")
    assert "## model" not in doc  # only the sections given


def test_comments_are_read_from_the_defining_source(tmp_path, monkeypatch):
    (tmp_path / "toy_schema.py").write_text(
        textwrap.dedent(
            '''
            from __future__ import annotations
            from dataclasses import dataclass, field


            @dataclass
            class Base:
                inherited: int = 1  # from the base class


            @dataclass
            class Toy(Base):
                """A toy."""

                # above, line one
                # above, line two
                spread: list[int] = field(
                    default_factory=lambda: [1, 2],  # on its second line
                )
                plain: str = "x"

                # a comment a blank line separates from the field is not its
                # (it introduces a group)

                last: float | None = None
            '''
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = importlib.util.spec_from_file_location("toy_schema", tmp_path / "toy_schema.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "toy_schema", module)
    spec.loader.exec_module(module)
    keys = {k.path: k for k in config_reference.keys(module.Toy)}
    assert list(keys) == ["inherited", "spread", "plain", "last"]
    assert keys["inherited"].comment == "from the base class"
    assert keys["spread"] == config_reference.Key(
        "spread", "list[int]", "[1, 2]", "above, line one above, line two on its second line"
    )
    assert keys["plain"].comment == ""
    assert keys["last"].comment == "" and keys["last"].type == "float | None" and keys["last"].default == "null"
    assert config_reference.class_doc(module.Toy) == "A toy."
