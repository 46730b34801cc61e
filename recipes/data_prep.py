"""Stage data_prep: raw documents -> curated text (data_prep.curate: clean, language ID, quality, dedup, with
quarantine) -> Gemma 3 tokens in Megatron .bin/.idx (data_prep.tokenize) -> the weighted blend for the datamix
(data_prep.blend). The artifact holds curation/ (with its summary and quarantine), the prefixes, tokens.json,
blend.json and its report."""

from __future__ import annotations

import glob
import sys

from recipes.cli import stage_main
from recipes.stage import StageContext


PAYLOAD_KIND = "indexed_dataset"


def execute(ctx: StageContext) -> None:
    from rich.console import Console

    from data_prep import blend, curate, tokenize
    from data_prep.dedup import DedupSettings
    from data_prep.langid import LangIdSettings
    from data_prep.quality import QualitySettings

    cfg, knobs = ctx.cfg, ctx.cfg.data_prep
    out = ctx.artifact_dir
    if knobs.curate:
        settings = curate.CurationSettings(langid=LangIdSettings(on_disagreement=knobs.on_language_disagreement),
                                           quality=QualitySettings(min_words=knobs.min_words),
                                           dedup=DedupSettings(threshold=knobs.dedup_threshold))
        # Each data.sources entry declares its source name and language for the records it matches.
        summary = curate.curate([dict(source) for source in cfg.data.sources], str(out / "curation"), settings)
        Console().print(curate.summary_table(summary))
        inputs = sorted(glob.glob(str(out / "curation" / "curated" / "*.jsonl")))
        if not inputs:
            raise ValueError(f"data_prep: curation kept no document of {summary.input_records} (see "
                             f"{out / 'curation'}); lower data_prep.min_words or set data_prep.curate=false")
    else:  # tokenise the sources as they are: JSONL with id, text, lang, source per record
        inputs = sorted(path for source in cfg.data.sources for path in glob.glob(str(source["path"])))
    tokenized = tokenize.run(tokenize.TokenizeSettings(tokenizer=cfg.data.tokenizer, workers=knobs.workers,
                                                       shard_bytes=knobs.shard_bytes), inputs, str(out))
    blend.run(blend.BlendSettings(budget_tokens=cfg.data.budget_tokens, max_epochs=knobs.max_epochs,
                                  drop_missing=knobs.drop_missing),
              cfg.data.datamix, tokenized.tokens_json, str(out))


if __name__ == "__main__":
    sys.exit(stage_main("data_prep", __doc__.splitlines()[0]))
