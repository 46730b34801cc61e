"""The eval stage's preflight rule (registered in recipes.preflight.STAGE_RULES): the model it evaluates and the
judge SEA-HELM needs, checked before any GPU time is spent."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from evals.seahelm import JUDGE_MODEL_TYPES, is_local_path, missing_weights

if TYPE_CHECKING:
    from recipes.preflight import Finding
    from recipes.schema import RootConfig


def _is_registered(cfg: RootConfig, ref: str) -> bool:
    from recipes.versions import Registry

    try:
        Registry(Path(cfg.launch.root) / "registry").get(ref)
        return True
    except KeyError:
        return False


def check_eval(cfg: RootConfig) -> list[Finding]:
    from recipes.preflight import Finding, _missing_path

    out, model = [], cfg.eval.model
    # A dry run renders what would run: what is not there yet is reported, not fatal.
    severity = "warning" if cfg.launch.dryrun or not cfg.launch.check_paths else "error"
    if (cfg.launch.check_paths and model and is_local_path(model) and not os.path.exists(model)
            and not _is_registered(cfg, model)):  # missing, unless an earlier stage writes it (sft's hf/ export)
        out.append(_missing_path(cfg, "eval.model", model, f"{model!r} is no existing path, registered version or "
                                 "hub id (org/name)", "point eval.model at a model folder, a version in the registry, "
                                 "or a hub id"))
    if "seahelm" not in cfg.eval.suites:
        return [f for f in out if f]
    settings = cfg.eval.seahelm
    judge = settings.judge
    if judge.model_type not in JUDGE_MODEL_TYPES:
        out.append(Finding("eval.seahelm.judge.model_type", f"unknown judge type {judge.model_type!r}",
                           f"use one of {list(JUDGE_MODEL_TYPES)} (vllm: served on the node, as SEA-HELM does)"))
    elif judge.model_type == "litellm":
        if not judge.base_url:
            out.append(Finding("eval.seahelm.judge.base_url", "unset for an endpoint (litellm) judge",
                               "set it to the OpenAI-compatible endpoint, e.g. http://judge:8000/v1"))
        key = judge.api_key_env
        if key and key not in cfg.cluster.secrets:
            out.append(Finding("eval.seahelm.judge.api_key_env", f"{key} is not in cluster.secrets, so the job "
                               "never receives the judge's key", f"add {key} to cluster.secrets"))
        elif key and key not in os.environ:
            out.append(Finding("eval.seahelm.judge.api_key_env", f"{key} is unset in this environment",
                               f"export {key} before launching", severity))
    if settings.hf_home:
        hub_model = model if model and not is_local_path(model) and not _is_registered(cfg, model) else None
        missing = missing_weights(settings, hub_model) if os.path.isdir(settings.hf_home) else ["all"]
        if missing:
            out.append(Finding("eval.seahelm.hf_home", f"{settings.hf_home} lacks {', '.join(missing)} (the runs "
                               "are offline)", f"run `python -m evals.seahelm stage-weights {settings.hf_home}"
                               + (f" --model {hub_model}" if hub_model else "") + "` on a node with network, or set "
                               "eval.seahelm.hf_home=null", severity))
    return [f for f in out if f]
