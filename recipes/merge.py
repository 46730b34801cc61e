"""Stage merge: merge Hugging Face checkpoints with mergekit.

The command only: what the job does is recipes.stages.merge."""

import sys

from recipes.submit.cli import stage_main


def main(argv: list[str] | None = None, prog: str = "python -m recipes.merge") -> int:
    return stage_main("merge", argv, prog)


if __name__ == "__main__":
    sys.exit(main())
