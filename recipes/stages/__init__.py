"""What each stage does inside its job, given a StageContext (execute, and render where the engine reads its own
config), and the composition of a stage's config from the registered stages' sections."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from recipes.core import config
from recipes.core.stage_specs import SPECS, stage_spec


def compose(stage: str | None, overrides: Sequence[str] = (), pipeline: Sequence[str] = ()) -> DictConfig:
    """The config of `stage`'s job: the shared sections and its own (recipes.core.config.compose)."""
    return config.compose(tuple(SPECS.values()), stage, overrides, pipeline)


def compose_tree(overrides: Sequence[str] = ()) -> DictConfig:
    """The whole tree, every stage's sections (what the pipeline reads pipeline.stages from)."""
    return config.compose_tree(tuple(SPECS.values()), overrides)


def read_job_config(path: Path) -> DictConfig:
    """A job's resolved.yaml, validated against its stage's schema."""
    raw = OmegaConf.load(path)
    return config.validate(raw, config.job_schema(stage_spec(raw.stage.name)))
