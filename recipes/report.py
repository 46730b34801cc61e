"""`python -m recipes.report SOURCE [SOURCE ...] --output-dir DIR`: compare evaluation results of model versions
in a Markdown + HTML report with PNG plots. Each SOURCE is a results JSON, a folder holding results.json /
perplexity.json, or a registered version id (its record's evaluation metrics, from the run registry)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from evals.report import ReportInputError, run
from recipes.artifacts.versions import CorruptRecord, Registry
from recipes.review.report_section import review_tables


def registry_resolver(root: str | None = None) -> Callable[[str], dict]:
    """A version id -> its results: the suites the eval stage recorded in its version record, labelled by the id.
    The registry (`root`, default <launch.root>/registry) is opened at the first id."""

    def resolve(version_id: str) -> dict:
        registry = Registry(root, create=False)
        try:
            record = registry.get(version_id)
        except KeyError:
            raise ReportInputError(
                f"{version_id}: no such file or folder, and no version {version_id!r} in the "
                f"registry {registry.root}; pass a results path, or a version id `python -m "
                "recipes.versions list` shows (--registry for another registry)"
            ) from None
        if not record.metrics:
            raise ReportInputError(
                f"{version_id}: the version has no evaluation results in its record "
                f"({record.artifact}); run the eval stage on it (eval.model={version_id})"
            )
        return {"version": record.id, **{suite: entry["scores"] for suite, entry in record.metrics.items()}}

    return resolve


def main(
    argv: list[str] | None = None,
    resolver: Callable[[str], dict] | None = None,
    prog: str = "python -m recipes.report",
) -> int:
    """`resolver` turns a version id into its results (default: the run registry's records)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", help="results JSON files or folders, or version ids")
    parser.add_argument("--output-dir", default="report", help="where report.md, report.html and PNGs go")
    parser.add_argument("--title", default="Evaluation report")
    parser.add_argument("--registry", help="the version registry (default: <launch.root>/registry)")
    args = parser.parse_args(argv)
    try:
        resolve = resolver or registry_resolver(args.registry)
        written = run(args.results, args.output_dir, resolve, args.title, more_tables=review_tables)
    except (ReportInputError, CorruptRecord, FileNotFoundError) as err:
        print(f"recipes.report: {err}", file=sys.stderr)
        return 2
    print(f"wrote {written['markdown']}, {written['html']} and {len(written['plots'])} plots")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
