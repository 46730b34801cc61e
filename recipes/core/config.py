"""Compose the Hydra tree in `conf/` into one validated config, with one-line errors that name the field.

Composition uses Hydra's compose API (the same path for a single stage and for each stage of the pipeline), then
merges the result onto the typed schema (`recipes.core.schema.RootConfig`): unknown keys, wrong types and required
values left unset (`???`) all fail here, before any preflight or launch.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
from dataclasses import fields, is_dataclass
from functools import cache
from pathlib import Path
from typing import Any, get_type_hints

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, OmegaConfBaseException, ValidationError

from recipes.core.schema import RootConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = REPO_ROOT / "conf"


def default_launch_root() -> Path:
    """launch.root's default ($SEALION_RUNS, else <repo>/runs), for the commands that read runs without a config."""
    return Path(os.environ.get("SEALION_RUNS") or REPO_ROOT / "runs")


class ConfigError(Exception):
    """A config the user must fix: the message is one line naming the field and the fix."""


@cache
def _gpus() -> tuple[int, float]:
    """(count, GiB per GPU) of this machine's NVIDIA GPUs, without importing torch."""
    if shutil.which("nvidia-smi") is None:
        return 0, 0.0
    out = subprocess.run(
        ["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"], capture_output=True, text=True
    )
    sizes = [float(line) for line in out.stdout.split() if line.strip()] if out.returncode == 0 else []
    return len(sizes), (min(sizes) / 1024 if sizes else 0.0)


def _fixture_dir() -> str:
    """Built on first use, so the README's first command works on a machine with an empty cache."""
    from recipes.gemma3_fixture import build

    return str(build())


def gpus_per_node(cfg: RootConfig) -> int:
    """The stage's GPUs per node: its own setting, else the cluster's."""
    return cfg.stage.gpus_per_node if cfg.stage.gpus_per_node is not None else cfg.cluster.gpus_per_node


def register_resolvers() -> None:
    resolvers = {
        "sealion.repo": lambda: str(REPO_ROOT),
        "sealion.fixture": _fixture_dir,
        "sealion.cuda_devices": lambda: _gpus()[0],
        "sealion.cuda_memory_gib": lambda: _gpus()[1],
    }
    for name, fn in resolvers.items():
        OmegaConf.register_new_resolver(name, fn, replace=True)


SCHEMA_NAME = "sealion_schema"


def compose(stage: str | None, overrides: list[str] = ()) -> DictConfig:
    """The resolved, validated config of `stage` (None: the stage chosen by the overrides, or the default)."""
    register_resolvers()
    # conf/config.yaml composes onto the schema first, so every schema key takes a plain `key=value` override.
    ConfigStore.instance().store(name=SCHEMA_NAME, node=RootConfig)
    full = ([f"stage={stage}"] if stage else []) + list(overrides)
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3", job_name="sealion"):
            cfg = hydra_compose("config", overrides=full)
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(_explain(err)) from None
    return validate(cfg)


def validate(cfg: DictConfig) -> DictConfig:
    """Merge onto the schema and resolve; raise ConfigError for the first problem found."""
    try:
        # as plain data: a key Hydra appended (`+key=`) to a typed node would otherwise pass unchecked
        plain = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
        merged = OmegaConf.merge(OmegaConf.structured(RootConfig), plain)
        OmegaConf.resolve(merged)
    except OmegaConfBaseException as err:
        raise ConfigError(_explain(err)) from None
    missing = sorted(OmegaConf.missing_keys(merged))
    if missing:
        key = missing[0]
        raise ConfigError(f"{key}: required but not set (???); set it in the experiment or pass {key}=<value>")
    return merged


def to_object(cfg: DictConfig) -> RootConfig:
    """The typed view (dataclass instances) of a validated config."""
    return OmegaConf.to_object(cfg)


def _schema_keys(path: str) -> list[str]:
    """Valid keys under a dotted path of the schema ([] where the path is not a dataclass)."""
    node: Any = RootConfig
    for part in [p for p in path.split(".") if p]:
        if not is_dataclass(node):
            return []
        hints = get_type_hints(node)
        if part not in hints:
            return []
        node = hints[part]
    return [f.name for f in fields(node)] if is_dataclass(node) else []


def unknown_key_message(full_key: str) -> str:
    parent, _, leaf = full_key.rpartition(".")
    valid = _schema_keys(parent)
    close = difflib.get_close_matches(leaf, valid, n=1, cutoff=0.45)
    hint = (
        f"did you mean {parent + '.' if parent else ''}{close[0]}?"
        if close
        else (f"valid keys under {parent or 'the root'}: {', '.join(valid)}" if valid else "remove it")
    )
    return f"{full_key}: unknown key; {hint}"


def _explain(err: Exception) -> str:
    """One line naming the field and the fix, from an OmegaConf or Hydra error."""
    cause = err.__cause__ or err.__context__
    text = f"{err}\n{cause or ''}"
    full_key = getattr(err, "full_key", None) or getattr(cause, "full_key", None)
    match = re.search(r"full_key: (\S+)", text) or re.search(r"Could not override '([^']+)'", text)
    if not full_key and match:
        full_key = match.group(1)
    if full_key and "does not support deletion" in text:
        return f"{full_key}: the schema declares it, so it cannot be removed (~); set it instead: {full_key}=<value>"
    unknown = "not in struct" in text or re.search(r"Key '[^']+' not in '\w+'", text)
    if isinstance(err, ConfigKeyError) or isinstance(cause, ConfigKeyError) or unknown:
        if full_key:
            return unknown_key_message(full_key)
    if isinstance(err, ValidationError) or isinstance(cause, ValidationError):
        first = str(err if isinstance(err, ValidationError) else cause).splitlines()[0]
        return f"{full_key}: {first}; pass a value of the declared type (see `--cfg job`)"
    if isinstance(err, MissingMandatoryValue):
        return f"{full_key}: required but not set (???); pass {full_key}=<value>"
    group = re.search(r"Could not find '([^/']+)/([^']+)'", text)
    if group:
        options = sorted(p.stem for p in (CONF_DIR / group.group(1)).glob("*.yaml"))
        close = difflib.get_close_matches(group.group(2), options, n=1)
        hint = f"did you mean {group.group(1)}={close[0]}?" if close else f"choose one of {', '.join(options)}"
        return f"{group.group(1)}: no option {group.group(2)!r}; {hint}"
    return " ".join(text.split())
