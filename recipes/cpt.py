"""Stage cpt: continued pre-training of Gemma 3 on Megatron-Bridge (megatron-core + Transformer Engine).

Launching, preflight and rendering work today (`launch.dryrun=true`); the engine call itself is not written
yet (issue 4), so running the job stops with that message instead of pretending to train."""

from __future__ import annotations

import sys

from recipes.cli import stage_main
from recipes.stage import StageContext, engine_not_built

PAYLOAD_KIND = "megatron"


def execute(ctx: StageContext) -> None:
    engine_not_built(ctx, 4)


if __name__ == "__main__":
    sys.exit(stage_main("cpt", __doc__.splitlines()[0]))
