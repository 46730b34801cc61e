"""Stage eval: the suites in eval.suites (local, SEA-HELM, lm-eval) on one model.

The command only: what the job does is recipes.stages.eval."""

import sys

from recipes.submit.cli import stage_main


def main(argv: list[str] | None = None, prog: str = "python -m recipes.eval") -> int:
    return stage_main("eval", argv, prog)


if __name__ == "__main__":
    sys.exit(main())
