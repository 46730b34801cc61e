"""The code is layered and has no import circles: every import of the repo's own modules (function-level imports
included, since a lazy import is how a circle hides) goes from a higher layer to the same or a lower one, and no
set of modules imports itself back. The layers, lowest first, are what ARCHITECTURE.md ("Layers") describes."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("recipes", "data_prep", "evals")
# Lowest first. A module belongs to the longest prefix listed; what no prefix covers under recipes/ is a command
# (recipes.<stage>, plan, pipeline, status, versions, report) or the test fixture builder: the top layer.
LAYERS = (
    # schema, composition, stage registry, stage context, the text and language utilities data prep and evaluation
    # share (language ID, word tokens, the chat endpoint client, hub ids); the fixture builder, whose path a config
    # resolver names
    ("recipes.core", "recipes.gemma3_fixture"),
    ("recipes.posttrain",),  # RL losses, rewards and environments (data_prep builds IFEval specs with them)
    # side by side: neither imports the other (test_data_prep_and_evals_import_neither_other)
    ("data_prep", "evals"),
    ("recipes.artifacts",),  # versions, checkpoints, multimodal split, release variants
    ("recipes.engines",),  # Megatron-Bridge, NeMo-RL, mergekit adapters
    ("recipes.stages",),  # what each stage does inside its job
    ("recipes.runtime",),  # the job side: the stage runner
    ("recipes.submit",),  # the submit side: cli, launch, preflight, memory, manifest
    ("recipes",),  # commands, the review app and `python -m recipes.synthetic` among them
)
# Packages that share a layer and no code: no module of one imports a module of the other.
INDEPENDENT = (("data_prep", "evals"),)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for package in PACKAGES for p in sorted((REPO / package).rglob("*.py"))}


def layer(module: str) -> int:
    matches = [
        (len(prefix), i)
        for i, prefixes in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    ]
    return max(matches)[1]


def _owner(name: str) -> str | None:
    """The repo module an imported name lives in (`recipes.core.config.compose` -> `recipes.core.config`)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


@cache
def imports(module: str) -> frozenset[str]:
    """Repo modules `module` imports anywhere in its body (top level, functions, TYPE_CHECKING blocks)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {owner for owner in map(_owner, names) if owner and owner != module}
    return frozenset(found)


def in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def crossings(graph: dict[str, frozenset[str]], a: str, b: str) -> list[str]:
    """Imports between packages `a` and `b`, either way."""
    return [
        f"{m} imports {t}"
        for m in sorted(graph)
        for t in sorted(graph[m])
        if (in_package(m, a) and in_package(t, b)) or (in_package(m, b) and in_package(t, a))
    ]


def upward_imports(graph: dict[str, frozenset[str]]) -> list[str]:
    return [
        f"{m} (layer {layer(m)}) imports {t} (layer {layer(t)})"
        for m in sorted(graph)
        for t in sorted(graph[m])
        if layer(t) > layer(m)
    ]


def circles(graph: dict[str, frozenset[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, frozenset[str]]:
    return {m: imports(m) for m in MODULES}


def test_every_import_goes_down_the_layers(graph):
    assert upward_imports(graph) == []


def test_no_import_circle(graph):
    assert circles(graph) == []


@pytest.mark.parametrize("a, b", INDEPENDENT)
def test_data_prep_and_evals_import_neither_other(graph, a, b):
    """What both need (language ID, word tokens, the endpoint client, hub ids) is in recipes.core; the apps that use
    both (the review app, the synthetic eval sets' command) are commands."""
    assert crossings(graph, a, b) == []


def test_the_checks_catch_what_they_are_for():
    """A lazy upward import and a two-module circle, the shapes this repo had (stage.py -> hf_import -> cli ->
    launch -> stage), are found."""
    graph = {
        "recipes.core.config": frozenset({"recipes.submit.launch"}),
        "recipes.submit.launch": frozenset({"recipes.core.config"}),
    }
    assert upward_imports(graph) == ["recipes.core.config (layer 0) imports recipes.submit.launch (layer 7)"]
    assert circles(graph) == [["recipes.core.config", "recipes.submit.launch"]]
    assert circles({"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset()}) == []
    # one layer, so only the package check sees data prep and evaluation importing each other (evals.review did)
    graph = {"evals.seahelm": frozenset({"data_prep.clair"}), "data_prep.synthetic": frozenset({"recipes.core.jsonl"})}
    assert upward_imports(graph) == []
    assert crossings(graph, "data_prep", "evals") == ["evals.seahelm imports data_prep.clair"]
    assert crossings({"data_prep_extra.x": frozenset({"evals.metrics"})}, "data_prep", "evals") == []


def test_imports_inside_functions_count():
    source = MODULES["recipes.stages.merge"].read_text()
    assert "    from recipes.engines.mergekit_merge import run" in source  # a function-level import
    assert "recipes.engines.mergekit_merge" in imports("recipes.stages.merge")


def test_commands_stay_thin():
    """`python -m recipes.<stage>` only parses and hands over: it imports nothing but the submit side's cli."""
    from recipes.stages import STAGES

    for stage in STAGES:
        assert imports(f"recipes.{stage}") == {"recipes.submit.cli"}, stage


def test_every_module_that_defines_a_stage_is_registered():
    """The registry finds its stages by walking recipes/stages: a module assigning STAGE at its top level is a
    stage (and only those: checks.py is a helper)."""
    from recipes.stages import STAGES

    defining = {
        name.rpartition(".")[2]
        for name, path in MODULES.items()
        if name.startswith("recipes.stages.")
        and any(
            isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "STAGE" for t in node.targets)
            for node in ast.parse(path.read_text()).body
        )
    }
    assert defining == set(STAGES)
    assert "checks" not in STAGES
