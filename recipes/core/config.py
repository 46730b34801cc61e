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
from collections.abc import Sequence
from dataclasses import field, fields, is_dataclass, make_dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast, get_type_hints

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, OmegaConfBaseException, ValidationError

from recipes.core.schema import RootConfig
from recipes.core.stage_specs import StageSpec

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
# A section name -> its dataclass, in the order stages declare them.
Sections = tuple[tuple[str, type], ...]


def tree_sections(specs: Sequence[StageSpec]) -> Sections:
    """Every stage's own sections: what the whole tree (every experiment's settings for every stage) may hold."""
    found: dict[str, type] = {}
    for spec in specs:
        for name, kind in spec.sections.items():
            if found.setdefault(name, kind) is not kind:
                other = found[name].__name__
                raise TypeError(f"stage {spec.name}: section {name} is {kind.__name__}, another stage's is {other}")
    return tuple(found.items())


def section_owners(specs: Sequence[StageSpec]) -> dict[str, tuple[str, ...]]:
    """Section -> the stages that own it; RootConfig's shared sections have none."""
    owners: dict[str, tuple[str, ...]] = {}
    for spec in specs:
        for name in spec.sections:
            owners[name] = (*owners.get(name, ()), spec.name)
    return owners


def owned_elsewhere(owners: dict[str, tuple[str, ...]], section: str, allowed: set[str]) -> tuple[str, ...]:
    """The stages owning `section` when none of them is in `allowed` (a shared section: none): a config of those
    stages does not hold it."""
    owning = owners.get(section, ())
    return () if allowed.intersection(owning) else owning


@cache
def schema(sections: Sections) -> type:
    """RootConfig with `sections` added: the dataclass a config is merged onto."""
    if not sections:
        return RootConfig
    return make_dataclass(
        "StageRootConfig",
        [(name, kind, field(default_factory=kind)) for name, kind in sections],
        bases=(RootConfig,),
    )


def compose_tree(specs: Sequence[StageSpec], overrides: Sequence[str] = ()) -> DictConfig:
    """The whole tree, every stage's sections in it, for the stage chosen by the overrides (or the default): what
    the pipeline reads `pipeline.stages` from. A job never sees this; it gets `compose`'s config."""
    register_resolvers()
    tree = schema(tree_sections(specs))
    # conf/config.yaml composes onto the schema first, so every schema key takes a plain `key=value` override.
    ConfigStore.instance().store(name=SCHEMA_NAME, node=tree)
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3", job_name="sealion"):
            cfg = hydra_compose("config", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(_explain(err, tree)) from None
    return validate(cfg, tree)


def compose(
    specs: Sequence[StageSpec], stage: str | None, overrides: Sequence[str] = (), pipeline: Sequence[str] = ()
) -> DictConfig:
    """The resolved, validated config of `stage`'s job (None: the stage chosen by the overrides, or the default):
    the shared sections and the stage's own, nothing of another stage's. An override of a section only other stages
    own is refused, unless one of them is in `pipeline` (a pipeline gives every stage the same overrides)."""
    by_name = {spec.name: spec for spec in specs}

    def registered(name: str) -> StageSpec:
        if name not in by_name:
            raise ConfigError(f"stage: unknown stage {name!r}; choose one of {', '.join(by_name)}")
        return by_name[name]

    if stage is not None:
        registered(stage)
        if any(o.lstrip("+~").partition("=")[0] == "stage" for o in overrides):
            raise ConfigError(f"stage: set by the command (sealion {stage}); run `sealion <stage>` for another stage")
    tree = compose_tree(specs, ([f"stage={stage}"] if stage else []) + list(overrides))
    spec = registered(tree.stage.name)  # a conf/stage file without a stage module is refused here
    _refuse_other_stages_overrides(specs, spec.name, overrides, pipeline)
    job = {name: tree[name] for name in (*(f.name for f in fields(RootConfig)), *spec.sections)}
    return validate(OmegaConf.create(job), job_schema(spec))  # the tree is resolved: the job keeps its values


def job_schema(spec: StageSpec) -> type:
    return schema(tuple(spec.sections.items()))


def _refuse_other_stages_overrides(
    specs: Sequence[StageSpec], stage: str, overrides: Sequence[str], pipeline: Sequence[str]
) -> None:
    owners, allowed = section_owners(specs), {stage, *pipeline}
    for override in overrides:
        key = override.lstrip("+~").split("=", 1)[0]
        for section in sections_set_by(key, override.partition("=")[2]):
            owning = owned_elsewhere(owners, section, allowed)
            if owning:
                names = " or ".join(owning)
                if pipeline:
                    raise ConfigError(
                        f"{key}: the {section} section belongs to stage {names}, which is not in pipeline.stages "
                        f"({', '.join(pipeline)}); add it there or drop the override"
                    )
                raise ConfigError(
                    f"{key}: the {section} section belongs to stage {names}, not {stage}; pass it to "
                    f"`sealion {owning[0]}`, or run both in a pipeline (sealion pipeline pipeline.stages=[...])"
                )


def sections_set_by(key: str, value: str) -> tuple[str, ...]:
    """The top-level sections an override sets: a key's first part, or what a config group's option sets (its
    `# @package`; none for `_global_` options, such as experiments, whose keys span stages by design)."""
    if "." in key or not (CONF_DIR / key).is_dir():
        return (key.split(".", 1)[0],)
    option = CONF_DIR / key / f"{value}.yaml"
    header = option.read_text().splitlines()[:1] if option.is_file() else []
    package = header[0].removeprefix("# @package").strip() if header and header[0].startswith("# @package") else key
    return () if package == "_global_" else (package.split(".", 1)[0],)


def validate(cfg: DictConfig | ListConfig, kind: type) -> DictConfig:
    """Merge onto the schema `kind` and resolve; raise ConfigError for the first problem found."""
    try:
        # as plain data: a key Hydra appended (`+key=`) to a typed node would otherwise pass unchecked
        plain = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
        merged = OmegaConf.merge(OmegaConf.structured(kind), plain)
        OmegaConf.resolve(merged)
    except OmegaConfBaseException as err:
        raise ConfigError(_explain(err, kind)) from None
    missing = sorted(OmegaConf.missing_keys(merged))
    if missing:
        key = missing[0]
        raise ConfigError(f"{key}: required but not set (???); set it in the experiment or pass {key}=<value>")
    return cast(DictConfig, merged)


def to_object(cfg: DictConfig) -> RootConfig:
    """The typed view (dataclass instances) of a validated config. A section's own checks (a settings class's
    __post_init__ raising ValueError with the field and the fix) become ConfigError."""
    try:
        return cast(RootConfig, OmegaConf.to_object(cfg))
    except ValueError as err:
        raise ConfigError(str(err)) from None


def _schema_keys(path: str, kind: type) -> list[str]:
    """Valid keys under a dotted path of the schema ([] where the path is not a dataclass)."""
    node: Any = kind
    for part in [p for p in path.split(".") if p]:
        if not is_dataclass(node):
            return []
        hints = get_type_hints(node)
        if part not in hints:
            return []
        node = hints[part]
    return [f.name for f in fields(node)] if is_dataclass(node) else []


def unknown_key_message(full_key: str, kind: type) -> str:
    parent, _, leaf = full_key.rpartition(".")
    valid = _schema_keys(parent, kind)
    close = difflib.get_close_matches(leaf, valid, n=1, cutoff=0.45)
    hint = (
        f"did you mean {parent + '.' if parent else ''}{close[0]}?"
        if close
        else (f"valid keys under {parent or 'the root'}: {', '.join(valid)}" if valid else "remove it")
    )
    return f"{full_key}: unknown key; {hint}"


def _explain(err: Exception, kind: type) -> str:
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
            return unknown_key_message(full_key, kind)
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
