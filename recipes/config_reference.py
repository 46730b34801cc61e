"""`python -m recipes.config_reference`: write docs/config-reference.md from the typed schema and `conf/`.

The reference is generated so it cannot drift: every section, key, type (as written in the dataclass), default and
the comment written beside or above the field (read from the source with ast and tokenize, since a dataclass keeps
no comments), then the config groups and their options. `tests/foundation/test_config_reference.py` holds the committed
file equal to `render()`.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import io
import json
import re
import sys
import tokenize
import typing
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from omegaconf import MISSING

from recipes.core.config import CONF_DIR, REPO_ROOT, section_owners, tree_sections
from recipes.core.schema import RootConfig
from recipes.stages import specs

OUTPUT = REPO_ROOT / "docs" / "config-reference.md"
# Directories under conf/ that hold plain files a key names (data.datamix), not options of a group.
NOT_GROUPS = {"data/datamix"}
NESTED = "(the keys below)"  # the default column of a field that is itself a dataclass


@dataclass(frozen=True)
class Section:
    """One top-level config section: its name, its dataclass, and the stages that own it (None: shared by all)."""

    name: str
    schema: type
    owners: tuple[str, ...] | None


@dataclass(frozen=True)
class Key:
    path: str  # dotted under its section; `[]` marks the items of a list of dataclasses
    type: str  # the annotation as the source writes it
    default: str
    comment: str


@dataclass(frozen=True)
class Group:
    name: str  # conf/ sub-directory, e.g. context/stage
    default: str | None  # the option conf/config.yaml's defaults list picks (None: none, or chosen per run)
    options: dict[str, str]  # option -> the first sentence of its leading comment


def schema_sections() -> list[Section]:
    """RootConfig's sections, shared by every stage, then each stage's own (StageSpec.sections) with its owners."""
    hints = typing.get_type_hints(RootConfig)
    shared = [Section(f.name, hints[f.name], None) for f in dataclasses.fields(RootConfig)]
    owners = section_owners(specs())
    return shared + [Section(name, kind, owners[name]) for name, kind in tree_sections(specs())]


@cache
def _source(path: str) -> tuple[ast.Module, dict[int, str], list[str]]:
    """A module's syntax tree, its comments by line number and its lines."""
    text = Path(path).read_text()
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    comments = {t.start[0]: t.string.lstrip("#").strip() for t in tokens if t.type == tokenize.COMMENT}
    return ast.parse(text), comments, text.splitlines()


def _class_node(cls: type) -> tuple[ast.ClassDef, dict[int, str], list[str]]:
    path = inspect.getsourcefile(cls)
    tree, comments, lines = _source(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            return node, comments, lines
    raise LookupError(f"class {cls.__qualname__} not found in {path}")


def field_notes(cls: type) -> dict[str, tuple[str, str]]:
    """Field name -> (annotation as written, comment): comment lines directly above the field, then the comment on
    its own lines. Fields inherited from a base class come from that class's source."""
    notes: dict[str, tuple[str, str]] = {}
    for klass in reversed([k for k in cls.__mro__ if dataclasses.is_dataclass(k)]):
        node, comments, lines = _class_node(klass)
        for stmt in node.body:
            if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                continue
            above: list[str] = []
            line = stmt.lineno - 1
            while line in comments and lines[line - 1].lstrip().startswith("#"):
                above.insert(0, comments[line])
                line -= 1
            beside = [comments[n] for n in range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1) if n in comments]
            notes[stmt.target.id] = (ast.unparse(stmt.annotation), " ".join(above + beside))
    return notes


def _value(value: Any) -> str:
    if value == MISSING:
        return "required"
    return json.dumps(value, ensure_ascii=False, default=str)


def _nested(hint: Any) -> tuple[type | None, str]:
    """The dataclass a field holds (itself, or the items of a list of them) and the key suffix that says which."""
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return hint, ""
    arg = typing.get_args(hint)[0] if typing.get_origin(hint) is list else None
    if isinstance(arg, type) and dataclasses.is_dataclass(arg):
        return arg, "[]"
    return None, ""


def class_doc(cls: type) -> str:
    """The docstring the source writes (dataclasses invent one from the signature where there is none)."""
    node, _, _ = _class_node(cls)
    return " ".join((ast.get_docstring(node) or "").split())


def keys(cls: type, prefix: str = "") -> list[Key]:
    """Every key of a section, nested dataclasses flattened into dotted paths."""
    hints, notes, out = typing.get_type_hints(cls), field_notes(cls), []
    for f in dataclasses.fields(cls):
        written, comment = notes[f.name]
        inner, suffix = _nested(hints[f.name])
        if f.default is not dataclasses.MISSING:
            default = _value(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = _value(f.default_factory())
        else:
            default = _value(MISSING)
        if inner is not None and suffix == "":
            default, comment = NESTED, comment or class_doc(inner)
        out.append(Key(prefix + f.name, written, default, comment))
        if inner is not None:
            out += keys(inner, f"{prefix}{f.name}{suffix}.")
    return out


def _first_sentence(lines: list[str]) -> str:
    """Up to the first full stop that ends a line or comes before a capital (not the one of "Dr. GRPO")."""
    text = "\n".join(lines)
    end = re.search(r"(?<!\bDr)\.(?:\n|\s+(?=[A-Z]))", text)
    return " ".join((text if end is None else text[: end.start() + 1]).split())


def _leading_comment(path: Path) -> str:
    block = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        if not line.startswith("# @package"):
            block.append(line.lstrip("#").strip())
    return _first_sentence(block)


def groups(conf: Path = CONF_DIR) -> list[Group]:
    """Every directory of options under conf/, with the option the primary config's defaults list picks."""
    picked = {}
    for entry in yaml.safe_load((conf / "config.yaml").read_text())["defaults"]:
        if isinstance(entry, dict):
            [(name, option)] = entry.items()
            picked[name.removeprefix("optional ")] = option
    found = []
    for directory in sorted(p for p in conf.rglob("*") if p.is_dir()):
        name = directory.relative_to(conf).as_posix()
        options = {p.stem: _leading_comment(p) for p in sorted(directory.glob("*.yaml"))}
        if options and name not in NOT_GROUPS:
            found.append(Group(name, picked.get(name), options))
    return found


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _owners(section: Section) -> str:
    return "shared" if section.owners is None else ", ".join(section.owners)


def render(sections: list[Section] | None = None, conf: Path = CONF_DIR) -> str:
    sections = schema_sections() if sections is None else sections
    out = [
        "# Config reference",
        "",
        "Generated by `python -m recipes.config_reference` from the typed schema and `conf/`: do not edit it by hand.",
        "A schema change without a regenerated file fails `tests/ops/test_config_reference.py`.",
        "",
        "Set any key on the command line as `section.key=value` (Hydra syntax) and pick a group's option as",
        "`group=option`; `python -m recipes.<stage> --cfg job` prints the composed values. Defaults here are the",
        "schema's; `conf/config.yaml`, the presets and the experiments set many of them. `required`: a preset or an",
        "override must set it, else composition stops with an error naming the key. A key under `name[]` belongs to",
        "each item of the list `name`.",
        "",
        "## Config groups",
        "",
    ]
    for group in groups(conf):
        chosen = f" (default `{group.default}`)" if group.default else ""
        if group.default and "${" in group.default:
            chosen = f" (picked as `{group.default}` where that option exists)"
        out += [f"### `{group.name}`{chosen}", ""]
        out += [f"- `{option}`: {note}" if note else f"- `{option}`" for option, note in group.options.items()]
        out.append("")
    out += ["## Sections", "", "| section | schema class | owner |", "|---|---|---|"]
    out += [f"| [`{s.name}`](#{s.name}) | `{s.schema.__name__}` | {_owners(s)} |" for s in sections]
    out.append("")
    for section in sections:
        out += [f"## {section.name}", "", f"`{section.schema.__name__}`; owner: {_owners(section)}.", ""]
        if doc := class_doc(section.schema):
            out += [doc, ""]
        out += ["| key | type | default | comment |", "|---|---|---|---|"]
        for key in keys(section.schema):
            default = key.default if key.default == NESTED else f"`{_cell(key.default)}`"
            out.append(f"| `{key.path}` | `{_cell(key.type)}` | {default} | {_cell(key.comment)} |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None, prog: str = "python -m recipes.config_reference") -> int:
    argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0].split(": ", 1)[1]).parse_args(argv)
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
