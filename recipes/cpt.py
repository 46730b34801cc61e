"""Stage cpt: continued pre-training of Gemma 3 on Megatron-Bridge.

The command only: what the job does is recipes.stages.cpt."""

import sys

from recipes.submit.cli import stage_main


def main(argv: list[str] | None = None, prog: str = "python -m recipes.cpt") -> int:
    return stage_main("cpt", argv, prog)


if __name__ == "__main__":
    sys.exit(main())
