"""Stage clair: CLAIR preference pairs for APO from the stage's model and a reviser endpoint.

The command only: what the job does is recipes.stages.clair."""

import sys

from recipes.submit.cli import stage_main


def main(argv: list[str] | None = None, prog: str = "python -m recipes.clair") -> int:
    return stage_main("clair", argv, prog)


if __name__ == "__main__":
    sys.exit(main())
