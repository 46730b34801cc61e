"""Stage data_prep: raw documents -> curated text -> Gemma 3 tokens (.bin/.idx) -> the datamix blend.

The command only: what the job does is recipes.stages.data_prep."""

import sys

from recipes.submit.cli import stage_main


def main(argv: list[str] | None = None, prog: str = "python -m recipes.data_prep") -> int:
    return stage_main("data_prep", argv, prog)


if __name__ == "__main__":
    sys.exit(main())
