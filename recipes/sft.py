"""Stage sft: supervised fine-tuning on Megatron-Bridge (chat template, assistant-only loss, packing).

The command only: what the job does is recipes.stages.sft."""

import sys

from recipes.submit.cli import stage_main


def main(argv: list[str] | None = None, prog: str = "python -m recipes.sft") -> int:
    return stage_main("sft", argv, prog)


if __name__ == "__main__":
    sys.exit(main())
