"""`python -m recipes.report RESULTS [RESULTS ...] --output-dir DIR`: compare evaluation results of model versions
in a Markdown + HTML report with PNG plots. Each RESULTS is a results JSON or a folder holding results.json /
perplexity.json."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Optional

from evals.report import run


def main(argv: list[str] | None = None, resolver: Optional[Callable[[str], Path]] = None) -> int:
    """`resolver` turns a version id into its results folder (the version registry provides one)."""
    parser = argparse.ArgumentParser(prog="python -m recipes.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", help="results JSON files or folders, one or more per version")
    parser.add_argument("--output-dir", default="report", help="where report.md, report.html and PNGs go")
    parser.add_argument("--title", default="Evaluation report")
    args = parser.parse_args(argv)
    written = run(args.results, args.output_dir, resolver, args.title)
    print(f"wrote {written['markdown']}, {written['html']} and {len(written['plots'])} plots")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
