"""Stage select: gradient-based prompt selection (LESS) of select.candidates for each of select.targets.

The command only: what the job does is recipes.stages.select."""

import sys

from recipes.submit.cli import stage_main


def main(argv: list[str] | None = None, prog: str = "python -m recipes.select") -> int:
    return stage_main("select", argv, prog)


if __name__ == "__main__":
    sys.exit(main())
