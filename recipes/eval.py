"""Stage eval: the quick local SEA evaluation (Global MMLU Lite, log-probability or generation, normalised scores
with confidence intervals) and per-language perplexity on a Hugging Face checkpoint. Results go into the
artifact and, when the evaluated model is a registered version, into its version record."""

from __future__ import annotations

import glob
import json
import sys
from pathlib import Path

from recipes.cli import stage_main
from recipes.stage import StageContext

PAYLOAD_KIND = "eval"


def model_to_evaluate(ctx: StageContext) -> str:
    """eval.model, else the upstream artifact when it is a Hugging Face model, else the experiment's base model."""
    if ctx.cfg.eval.model:
        return ctx.cfg.eval.model
    upstream = ctx.input_dir()
    if upstream and (upstream / "config.json").is_file():
        return str(upstream)
    return ctx.cfg.model.hf_id


def execute(ctx: StageContext) -> None:
    from evals import local_eval, perplexity
    from recipes.versions import RECORD_FILE, Registry

    cfg = ctx.cfg.eval
    model = model_to_evaluate(ctx)
    print(f"evaluating {model}", flush=True)
    out = ctx.artifact_dir
    results = local_eval.run(local_eval.LocalEvalSettings(languages=list(cfg.languages),
                                                          n_per_language=cfg.n_per_language, seeds=list(cfg.seeds),
                                                          modes=list(cfg.modes)), model, out / "local")
    pattern = cfg.perplexity_data or [s["path"] for s in ctx.cfg.data.sources]
    documents = sorted(p for pat in ([pattern] if isinstance(pattern, str) else pattern) for p in glob.glob(pat))
    ppl = perplexity.run(perplexity.PerplexitySettings(max_length=cfg.perplexity_max_length), model, documents,
                         out / "perplexity")
    summary = {"model": model, "local_eval": results["aggregate"], "perplexity": ppl["perplexity"]}
    (out / "results.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    if (Path(model) / RECORD_FILE).is_file():
        registry = Registry(Path(ctx.cfg.launch.root) / "registry")
        record = json.loads((Path(model) / RECORD_FILE).read_text())
        registry.add_metrics(record["id"], "local_eval", summary["local_eval"])
        registry.add_metrics(record["id"], "perplexity", ppl["perplexity"])


if __name__ == "__main__":
    sys.exit(stage_main("eval", __doc__.splitlines()[0]))
