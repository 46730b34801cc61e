"""Stage release: the release variants of the stage's model (HF BF16, GGUF, quantised).

The command only: what the job does is recipes.stages.release."""

import sys

from recipes.submit.cli import stage_main


def main(argv: list[str] | None = None, prog: str = "python -m recipes.release") -> int:
    return stage_main("release", argv, prog)


if __name__ == "__main__":
    sys.exit(main())
