"""Stage data_prep: raw JSONL -> Gemma 3 tokens in Megatron .bin/.idx (data_prep.tokenize) -> the weighted blend
for the datamix (data_prep.blend). The artifact holds the prefixes, tokens.json, blend.json and its report."""

from __future__ import annotations

import glob
import sys

from recipes.cli import stage_main
from recipes.stage import StageContext


PAYLOAD_KIND = "indexed_dataset"


def execute(ctx: StageContext) -> None:
    from data_prep import blend, tokenize

    cfg = ctx.cfg
    inputs = sorted(path for source in cfg.data.sources for path in glob.glob(str(source["path"])))
    if not inputs:
        raise FileNotFoundError(f"data.sources match no file: {[s['path'] for s in cfg.data.sources]}")
    out = ctx.artifact_dir
    summary = tokenize.run(tokenize.TokenizeSettings(tokenizer=cfg.data.tokenizer, workers=cfg.data_prep.workers,
                                                     shard_bytes=cfg.data_prep.shard_bytes), inputs, str(out))
    budget = cfg.data.budget_tokens
    blend.run(blend.BlendSettings(budget_tokens=budget, max_epochs=cfg.data_prep.max_epochs,
                                  drop_missing=cfg.data_prep.drop_missing),
              cfg.data.datamix, summary.tokens_json, str(out))


if __name__ == "__main__":
    sys.exit(stage_main("data_prep", __doc__.splitlines()[0]))
