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

from recipes.artifacts.versions import run_registry
from recipes.core.config import ConfigError
from recipes.core.run_layout import StageDir
from recipes.core.stage_context import StageContext

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
