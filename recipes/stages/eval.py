"""Stage eval: the suites in eval.suites on one model. `local`: the quick SEA evaluation (Global MMLU Lite,
log-probability or generation, normalised scores with confidence intervals) and per-language perplexity, on CPU or
GPU. `seahelm` and `lm_eval`: the official SEA-HELM and the English suite with vLLM in the eval container, their
scripts rendered at launch into launch/. Results go into the artifact and, when the evaluated model is a
registered version, into its version record."""

from __future__ import annotations

import glob
import json
import os
import subprocess
from pathlib import Path

from evals.seahelm import JUDGE_MODEL_TYPES, missing_weights
from recipes.artifacts.versions import run_registry
from recipes.core.config import ConfigError
from recipes.core.findings import Finding, Severity
from recipes.core.hub_ids import is_local_path
from recipes.core.run_layout import StageDir
from recipes.core.schema import EvalConfig, RootConfig
from recipes.core.stage_context import StageContext
from recipes.core.stage_specs import StageSpec
from recipes.stages.checks import missing_path

SUITES = ("local", "seahelm", "lm_eval")


def model_to_evaluate(ctx: StageContext) -> str:
    """eval.model (a path, a registered version, or a hub id), else the stage's model source (run.input, the
    upstream model, model.hf_id)."""
    if ctx.cfg.eval.model:
        try:
            return str(run_registry(ctx.cfg).resolve(ctx.cfg.eval.model))
        except KeyError:
            return ctx.cfg.eval.model  # not a path or a version: a hub id
    return ctx.model_source()


def _scripts(ctx: StageContext) -> dict[str, Path]:
    return {
        suite: StageDir(ctx.run_dir).launch / f"{suite}.sh"
        for suite in ("seahelm", "lm_eval")
        if suite in ctx.cfg.eval.suites
    }


def render(ctx: StageContext) -> None:
    from evals import lm_eval, seahelm

    unknown = sorted(set(ctx.cfg.eval.suites) - set(SUITES))
    if unknown:
        raise ConfigError(f"eval.suites: unknown {unknown}; choose from {list(SUITES)}")
    model, scripts = model_to_evaluate(ctx), _scripts(ctx)
    if "seahelm" in scripts:
        try:
            seahelm.run(ctx.cfg.eval.seahelm, model, str(ctx.artifact_dir / "seahelm"), scripts["seahelm"])
        except ValueError as err:
            raise ConfigError(
                f"eval.model: {err}; set eval.model to an absolute path, a registered version or a hub id (org/name)"
            ) from err
    if "lm_eval" in scripts:
        lm_eval.run(ctx.cfg.eval.lm_eval, model, str(ctx.artifact_dir / "lm_eval"), scripts["lm_eval"])


def seahelm_model_key(model: str) -> str:
    """The key naming the model's SEA-HELM output: its version id when it is a registered version, else its
    weights' hash (evals.seahelm.model_key), so SEA-HELM's cache is reused only for the same model."""
    from evals import seahelm
    from recipes.artifacts.versions import RECORD_FILE

    record = Path(model) / RECORD_FILE
    return str(json.loads(record.read_text())["id"]) if record.is_file() else seahelm.model_key(model)


def execute(ctx: StageContext) -> None:
    from evals import lm_eval, seahelm

    model = model_to_evaluate(ctx)
    print(f"evaluating {model}: {', '.join(ctx.cfg.eval.suites)}", flush=True)
    results: dict[str, dict] = {}
    if "local" in ctx.cfg.eval.suites:
        results.update(_local(ctx, model))
    scripts = _scripts(ctx)
    if "seahelm" in scripts:
        key = seahelm_model_key(model)
        subprocess.run(["bash", str(scripts["seahelm"])], check=True, env={**os.environ, "SEAHELM_MODEL_KEY": key})
        results["seahelm"] = {
            "model_key": key,
            **seahelm.parse_results(ctx.artifact_dir / "seahelm" / key, seahelm.seeds(ctx.cfg.eval.seahelm)),
        }
    if "lm_eval" in scripts:
        subprocess.run(["bash", str(scripts["lm_eval"])], check=True)
        results["lm_eval"] = lm_eval.parse_results(ctx.artifact_dir / "lm_eval")
    ctx.artifact_dir.mkdir(parents=True, exist_ok=True)
    (ctx.artifact_dir / "results.json").write_text(
        json.dumps({"model": model, **results}, indent=2, default=str) + "\n"
    )
    _record(ctx, model, results)


def _local(ctx: StageContext, model: str) -> dict[str, dict]:
    from evals import local_eval, perplexity

    cfg, out = ctx.cfg.eval, ctx.artifact_dir
    results = local_eval.run(
        local_eval.LocalEvalSettings(
            languages=list(cfg.languages),
            n_per_language=cfg.n_per_language,
            seeds=list(cfg.seeds),
            modes=list(cfg.modes),
        ),
        model,
        out / "local",
    )
    pattern = cfg.perplexity_data or [s["path"] for s in ctx.cfg.data.sources]
    documents = sorted(p for pat in ([pattern] if isinstance(pattern, str) else pattern) for p in glob.glob(pat))
    ppl = perplexity.run(
        perplexity.PerplexitySettings(
            max_length=cfg.perplexity_max_length, max_docs_per_language=cfg.perplexity_max_documents
        ),
        model,
        documents,
        out / "perplexity",
    )
    return {
        "local_eval": results["aggregate"],
        "perplexity": ppl["perplexity"],
        "perplexity_documents": {
            lang: {"used": ppl["documents"][lang], "available": available}
            for lang, available in ppl["documents_available"].items()
            if lang in ppl["documents"]
        },
    }


def _record(ctx: StageContext, model: str, results: dict[str, dict]) -> None:
    """Scores into the evaluated model's version record, when it has one."""
    from recipes.artifacts.versions import RECORD_FILE

    if (Path(model) / RECORD_FILE).is_file():
        registry = run_registry(ctx.cfg)
        record = json.loads((Path(model) / RECORD_FILE).read_text())
        for suite, scores in results.items():
            registry.add_metrics(record["id"], suite, scores)


# The model it evaluates and the judge SEA-HELM needs, checked before any GPU time is spent.
# The eval stage: the model it evaluates and the judge SEA-HELM needs, checked before any GPU time is spent.
def _is_registered(cfg: RootConfig, ref: str) -> bool:
    from recipes.artifacts.versions import run_registry

    try:
        run_registry(cfg).get(ref)
        return True
    except KeyError:
        return False


def check_eval(cfg: RootConfig) -> list[Finding]:
    out, model = [], cfg.eval.model
    # A dry run renders what would run: what is not there yet is reported, not fatal.
    severity: Severity = "warning" if cfg.launch.dryrun or not cfg.launch.check_paths else "error"
    if (
        cfg.launch.check_paths
        and model
        and is_local_path(model)
        and not os.path.exists(model)
        and not _is_registered(cfg, model)
    ):  # missing, unless an earlier stage writes it (sft's hf/ export)
        out.append(
            missing_path(
                cfg,
                "eval.model",
                model,
                f"{model!r} is no existing path, registered version or hub id (org/name)",
                "point eval.model at a model folder, a version in the registry, or a hub id",
            )
        )
    if "seahelm" not in cfg.eval.suites:
        return [f for f in out if f]
    from evals.seahelm import seeds

    settings = cfg.eval.seahelm
    judge = settings.judge
    if judge.model_type not in JUDGE_MODEL_TYPES:
        out.append(
            Finding(
                "eval.seahelm.judge.model_type",
                f"unknown judge type {judge.model_type!r}",
                f"use one of {list(JUDGE_MODEL_TYPES)} (vllm: served on the node, as SEA-HELM does)",
            )
        )
    elif judge.model_type == "litellm":
        if not judge.base_url:
            out.append(
                Finding(
                    "eval.seahelm.judge.base_url",
                    "unset for an endpoint (litellm) judge",
                    "set it to the OpenAI-compatible endpoint, e.g. http://judge:8000/v1",
                )
            )
        key = judge.api_key_env
        if key and key not in cfg.cluster.secrets:
            out.append(
                Finding(
                    "eval.seahelm.judge.api_key_env",
                    f"{key} is not in cluster.secrets, so the job never receives the judge's key",
                    f"add {key} to cluster.secrets",
                )
            )
        elif key and key not in os.environ:
            out.append(
                Finding(
                    "eval.seahelm.judge.api_key_env",
                    f"{key} is unset in this environment",
                    f"export {key} before launching",
                    severity,
                )
            )
    try:
        seeds(settings)
    except ValueError as err:
        out.append(
            Finding(
                "eval.seahelm.runs",
                str(err),
                "keep eval.seahelm.runs within 0..7 (SEA-HELM's 8 seeds) or list a seed per run in eval.seahelm.seeds",
            )
        )
    if settings.hf_home:
        from evals.seahelm import missing_datasets

        hub_model = model if model and not is_local_path(model) and not _is_registered(cfg, model) else None
        staged = os.path.isdir(settings.hf_home)
        missing = (missing_weights(settings, hub_model) + missing_datasets(settings)) if staged else ["all"]
        if missing:
            out.append(
                Finding(
                    "eval.seahelm.hf_home",
                    f"{settings.hf_home} lacks {', '.join(missing)} (the runs "
                    "are offline: weights and the task set's datasets must be staged)",
                    f"run `python -m evals.seahelm stage-weights {settings.hf_home}"
                    + (f" --model {hub_model}" if hub_model else "")
                    + " --seahelm-dir <SEA-HELM checkout "
                    f"at {settings.commit[:7]}>` on a node with network, or set "
                    "eval.seahelm.hf_home=null",
                    severity,
                )
            )
    return [f for f in out if f]


def evaluate_upstream_export(upstream: StageSpec, upstream_run_dir: Path) -> list[str]:
    """After a Megatron stage, evaluate the Hugging Face model it exports (sft's `artifact/hf`), not model.hf_id:
    the model source sees a Megatron payload upstream and falls back to the hub id. After a stage whose artifact
    is the Hugging Face model (merge, rl, apo) the model source already finds it."""
    if upstream.payload_kind != "megatron" or upstream.hf_export is None:
        return []
    return [f"eval.model={StageDir(upstream_run_dir).artifact / upstream.hf_export}"]


STAGE = StageSpec(
    name="eval",
    order=100,
    summary="the suites in eval.suites (local, SEA-HELM, lm-eval) on one model",
    engine="transformers",
    payload_kind="eval",
    execute=execute,
    render=render,
    checks=(check_eval,),
    upstream_overrides=evaluate_upstream_export,
    sections={"eval": EvalConfig},
)
