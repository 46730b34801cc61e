"""The stage registry: every module of this package that defines `STAGE` (a StageSpec) is a stage, listed in
pipeline order (`StageSpec.order`). Adding a stage is adding its module (and its conf/stage/<name>.yaml): nothing
else names it. Stage modules import their engines inside `execute`, so importing the registry imports none.

A stage's config is composed here from the registered stages' sections (recipes.core.config does the work): its job
gets the shared sections and its own."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from recipes.core import config
from recipes.core.config import ConfigError
from recipes.core.schema import RootConfig
from recipes.core.stage_context import StageContext
from recipes.core.stage_specs import StageSpec


def _discover() -> dict[str, StageSpec]:
    found: list[StageSpec] = []
    for info in pkgutil.iter_modules(__path__):
        spec = getattr(importlib.import_module(f"{__name__}.{info.name}"), "STAGE", None)
        if spec is None:
            continue  # a helper module (checks.py)
        if not isinstance(spec, StageSpec) or spec.name != info.name:
            raise TypeError(f"recipes/stages/{info.name}.py: STAGE must be a StageSpec named {info.name!r}")
        found.append(spec)
    found.sort(key=lambda spec: spec.order)
    for before, after in zip(found, found[1:]):
        if before.order == after.order:
            raise ValueError(f"stages {before.name} and {after.name} share order={after.order}; give each its own")
    return {spec.name: spec for spec in found}


_SPECS = _discover()
STAGES: tuple[str, ...] = tuple(_SPECS)  # in pipeline order


def specs() -> tuple[StageSpec, ...]:
    """Every stage's spec, in pipeline order."""
    return tuple(_SPECS.values())


def stage(name: str) -> StageSpec:
    try:
        return _SPECS[name]
    except KeyError:
        raise ConfigError(f"stage: unknown stage {name!r}; choose one of {', '.join(STAGES)}") from None


def stage_context(cfg: RootConfig, run_dir: Path) -> StageContext:
    """The context a stage's render and execute get, with what it needs to know of its upstream stage."""
    upstream = cfg.run.upstream
    return StageContext(cfg, Path(run_dir), upstream_payload=stage(upstream).payload_kind if upstream else None)


def compose(name: str | None, overrides: Sequence[str] = (), pipeline: Sequence[str] = ()) -> DictConfig:
    """The config of stage `name`'s job (None: the stage the overrides choose): the shared sections and its own.
    `pipeline`: the stages launched with it, whose sections the overrides may also set."""
    return config.compose(specs(), name, overrides, pipeline)


def compose_tree(overrides: Sequence[str] = ()) -> DictConfig:
    """The whole tree, every stage's sections (what the pipeline reads pipeline.stages from)."""
    return config.compose_tree(specs(), overrides)


def read_job_config(path: Path) -> DictConfig:
    """A job's resolved.yaml, validated against its stage's schema."""
    raw = OmegaConf.load(path)
    name = OmegaConf.select(raw, "stage.name") if isinstance(raw, DictConfig) else None
    if not isinstance(name, str):
        raise ConfigError(f"stage.name: {path} names no stage; launch the stage again to write it")
    return config.validate(raw, config.job_schema(stage(name)))
