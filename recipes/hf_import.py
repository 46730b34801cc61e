"""Stage hf_import: a Hugging Face Gemma 3 checkpoint -> a Megatron checkpoint (+ the vision tower set aside).

The command only: what the job does is recipes.stages.hf_import."""

import sys

from recipes.submit.cli import stage_main


def main(argv: list[str] | None = None, prog: str = "python -m recipes.hf_import") -> int:
    return stage_main("hf_import", argv, prog)


if __name__ == "__main__":
    sys.exit(main())
