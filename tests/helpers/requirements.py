"""The distributions the project's extras install, read from pyproject.toml and this venv's metadata: what the
image, extras and job-side install checks compare a module's imports against."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OWN = {"recipes", "data_prep", "evals"}  # the repository's own packages: never a distribution


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(extras: tuple[str, ...]) -> set[str]:
    """The base dependencies and those of `extras` (nested sealion-recipes[...] extras followed), with theirs."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps, todo = list(project["dependencies"]), list(extras)
    while todo:
        for dep in project["optional-dependencies"][todo.pop()]:
            nested = re.fullmatch(r"sealion-recipes\[([\w,]+)\]", dep)
            todo.extend(nested.group(1).split(",")) if nested else deps.append(dep)
    return with_dependencies({normalise(re.split(r"[<>=!~\[;@ ]", dep, maxsplit=1)[0]) for dep in deps})


def with_dependencies(names: set[str]) -> set[str]:
    """The distributions and everything they require (unconditionally), as installed in this venv."""
    out, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [normalise(re.split(r"[<>=!~\[;@ (]", r, maxsplit=1)[0]) for r in requires if "extra ==" not in r]
    return out
