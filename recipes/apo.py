"""Stage apo: anchored preference optimisation on CLAIR pairs on NeMo-RL.

The command only: what the job does is recipes.stages.apo."""

import sys

from recipes.submit.cli import stage_main


def main(argv: list[str] | None = None, prog: str = "python -m recipes.apo") -> int:
    return stage_main("apo", argv, prog)


if __name__ == "__main__":
    sys.exit(main())
