"""Curate raw documents before tokenisation: ingest -> clean -> language ID -> quality -> dedup.

    python -m data_prep.curate 'raw/*.jsonl' raw/extra.parquet hf:org/dataset out/ --min-words 20

Order, and why: cleaning first so that every later stage (and the dedup hash) sees canonical text; language ID
and the script check before quality, since the quality rules count words the language's way; dedup last, so
junk never enters the index and a good copy is not removed in favour of a bad one that was seen first.
Nothing is dropped without a count: every input record ends up kept, quarantined or rejected (see
`CurationSummary.balanced`), and `curated/` is what `python -m data_prep.tokenize` reads.
The steps before dedup run per shard (`screen`); dedup is global over every shard (`data_prep.global_dedup`),
then each shard is filtered (`curation_output.finish`). `curate` does the three for one shard.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from data_prep import global_dedup
from data_prep.clean import CleanSettings, clean_document
from data_prep.curation_output import CurationSummary, CurationWriter, finish
from data_prep.dedup import SHINGLES, DedupSettings
from data_prep.documents import Document, Quarantined, Rejection
from data_prep.ingest import IngestSettings, read_sources, resolve_inputs
from data_prep.langid import LangIdSettings, LangIdTally, identify
from data_prep.quality import QualitySettings, check_quality
from recipes.core.languages import LANGID_POLICIES

DEDUP_DIR = "dedup"  # global_dedup's decisions (removed.json)


@dataclass
class CurationSettings:
    ingest: IngestSettings = field(default_factory=IngestSettings)
    clean: CleanSettings = field(default_factory=CleanSettings)
    langid: LangIdSettings = field(default_factory=LangIdSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)
    dedup: DedupSettings = field(default_factory=DedupSettings)


def curate(
    inputs: list[str | dict], output_dir: str, settings: CurationSettings | None = None, show_progress: bool = True
) -> CurationSummary:
    """Every step for one shard: screen, dedup over this shard alone, filter."""
    settings = settings or CurationSettings()
    start = time.monotonic()
    shard = Path(output_dir)
    screen(inputs, shard, settings, show_progress=show_progress)
    removals = global_dedup.deduplicate([shard], settings.dedup, shard / DEDUP_DIR)[shard.name]
    summary = finish(shard, {r.index: r.rejection for r in removals})
    summary.seconds = round(time.monotonic() - start, 3)
    return summary


def screen(
    inputs: list[str | dict],
    shard: Path,
    settings: CurationSettings,
    positions: list[int] | None = None,
    show_progress: bool = True,
) -> CurationSummary:
    """Ingest, clean, language ID and quality for one shard's inputs; the survivors become dedup candidates with
    their signatures. `positions`: each input's place in the whole run's input list (default: this list's), so
    that global dedup keeps the first copy in the run's input order, however the inputs are split."""
    start = time.monotonic()
    summary = CurationSummary()
    tally = LangIdTally()
    writer = CurationWriter(shard)
    signatures = global_dedup.SignatureWriter(settings.dedup)
    progress = Progress(
        TextColumn("curate {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not show_progress,
    )
    resolved = [resolve_inputs([spec]) for spec in inputs]  # every missing input named before any is read
    with progress:
        for position, sources in zip(positions or range(len(inputs)), resolved):
            for file_number, source in enumerate(sources):
                for record, item in enumerate(read_sources([source], settings.ingest, progress)):
                    summary.input_records += 1
                    if isinstance(item, Quarantined):
                        writer.quarantine(item)
                        continue
                    outcome = _screen_document(item, settings, tally)
                    if isinstance(outcome, Rejection):
                        writer.reject(item, outcome)
                    else:
                        writer.candidate(outcome)
                        signatures.add(outcome, (position, file_number, record))
    summary.language_disagreements = dict(tally.disagreements.most_common())
    summary.language_interchangeable = dict(tally.interchangeable.most_common())
    summary.seconds = round(time.monotonic() - start, 3)
    signatures.save(shard)
    return writer.close(summary)


def _screen_document(doc: Document, settings: CurationSettings, tally: LangIdTally) -> Document | Rejection:
    cleaned = clean_document(doc, settings.clean)
    if isinstance(cleaned, Rejection):
        return cleaned
    identified = identify(cleaned, settings.langid, tally)
    if isinstance(identified, Rejection):
        return identified
    return check_quality(identified, settings.quality) or identified


def summary_table(summary: CurationSummary) -> Table:
    table = Table(title="Curation summary")
    table.add_column("stage")
    table.add_column("reason")
    table.add_column("records", justify="right")
    table.add_row("input", "", str(summary.input_records))
    for reason, n in summary.quarantine_reasons.items():
        table.add_row("quarantine", reason, str(n))
    for stage, rules in summary.rejected_by_stage.items():
        for rule, n in rules.items():
            table.add_row(stage, rule, str(n))
    for pair, n in summary.language_disagreements.items():
        table.add_row("langid (recorded)", f"disagreement {pair}", str(n))
    for pair, n in summary.language_interchangeable.items():
        table.add_row("langid (recorded)", f"interchangeable {pair}", str(n))
    for name, n in summary.kept_per_file.items():
        table.add_row("kept", name, str(n))
    table.add_row(
        "total",
        f"kept {summary.kept} + quarantined {summary.quarantined} + rejected {summary.rejected}",
        str(summary.kept + summary.quarantined + summary.rejected),
    )
    return table


def _quality_override(text: str) -> tuple[str, float | None]:
    names = {f.name for f in fields(QualitySettings)} - {"max_top_ngram_fraction"}
    key, sep, value = text.partition("=")
    if not sep or key not in names:
        raise argparse.ArgumentTypeError(
            f"--quality {text!r}: expected NAME=VALUE with NAME one of "
            f"{', '.join(sorted(names))} and VALUE a number or 'none'"
        )
    return key, None if value.lower() == "none" else float(value)


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, CurationSettings]:
    p = argparse.ArgumentParser(prog="python -m data_prep.curate", description=__doc__.split("\n\n")[0])
    p.add_argument("inputs", nargs="+", help="JSONL/Parquet files or globs, dataset directories, hf:<hub id>")
    p.add_argument("output_dir", help="receives curated/, quarantine.jsonl, rejected.jsonl, curation_summary.json")
    p.add_argument("--text-field", default="text")
    p.add_argument("--lang-field", default="lang")
    p.add_argument("--default-lang", help="language of records without a language field")
    p.add_argument("--default-source", help="source name for every record (else its field, else the input name)")
    p.add_argument("--hf-split", default="train", help="split of Hugging Face datasets")
    p.add_argument("--min-script-fraction", type=float, default=CleanSettings.min_script_fraction)
    p.add_argument("--on-language-disagreement", choices=LANGID_POLICIES, default="keep")
    p.add_argument("--min-words", type=float, default=QualitySettings.min_words)
    p.add_argument(
        "--quality",
        type=_quality_override,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a QualitySettings threshold ('none' turns the rule off); repeatable",
    )
    p.add_argument("--dedup-threshold", type=float, default=DedupSettings.threshold)
    p.add_argument("--num-perm", type=int, default=DedupSettings.num_perm)
    p.add_argument("--shingle", choices=SHINGLES, default=DedupSettings.shingle)
    p.add_argument("--ngram", type=int, default=DedupSettings.ngram)
    p.add_argument("--no-exact-dedup", action="store_true")
    p.add_argument("--no-near-dedup", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    quality = QualitySettings(min_words=args.min_words)
    for key, value in args.quality:
        setattr(quality, key, value)
    settings = CurationSettings(
        ingest=IngestSettings(
            text_field=args.text_field,
            lang_field=args.lang_field,
            default_lang=args.default_lang,
            default_source=args.default_source,
            hf_split=args.hf_split,
        ),
        clean=CleanSettings(min_script_fraction=args.min_script_fraction),
        langid=LangIdSettings(on_disagreement=args.on_language_disagreement),
        quality=quality,
        dedup=DedupSettings(
            exact=not args.no_exact_dedup,
            near=not args.no_near_dedup,
            threshold=args.dedup_threshold,
            num_perm=args.num_perm,
            shingle=args.shingle,
            ngram=args.ngram,
        ),
    )
    return args, settings


def main(argv: list[str] | None = None) -> int:
    args, settings = parse_args(argv)
    summary = curate(args.inputs, args.output_dir, settings, show_progress=not args.no_progress)
    Console().print(summary_table(summary))
    if not summary.balanced():
        print(
            f"error: {summary.input_records} input records but kept + quarantined + rejected = "
            f"{summary.kept + summary.quarantined + summary.rejected}; a record was lost",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
