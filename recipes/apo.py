"""Stage apo: APO on CLAIR revision pairs with NeMo-RL's DPO trainer and an APO loss.

Launching, preflight and rendering work today (`launch.dryrun=true`); the engine call itself is not written
yet (issue 5), so running the job stops with that message instead of pretending to train."""

from __future__ import annotations

import sys

from recipes.cli import stage_main
from recipes.stage import StageContext, engine_not_built

PAYLOAD_KIND = "hf"


def execute(ctx: StageContext) -> None:
    engine_not_built(ctx, 5)


if __name__ == "__main__":
    sys.exit(stage_main("apo", __doc__.splitlines()[0]))
