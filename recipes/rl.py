"""Stage rl: online RL with Dr. GRPO on NeMo-RL.

The command only: what the job does is recipes.stages.rl."""

import sys

from recipes.submit.cli import stage_main


def main(argv: list[str] | None = None, prog: str = "python -m recipes.rl") -> int:
    return stage_main("rl", argv, prog)


if __name__ == "__main__":
    sys.exit(main())
