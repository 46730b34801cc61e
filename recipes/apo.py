"""Stage apo: APO on CLAIR revision pairs with NeMo-RL's DPO trainer and an APO loss.

Launching, preflight and rendering work today (`launch.dryrun=true`); the engine call itself is not written
yet (issue 5), so running the job stops with that message instead of pretending to train."""

from __future__ import annotations

import sys

from recipes.cli import stage_main
from recipes.stage import StageContext

PAYLOAD_KIND = "hf"


def execute(ctx: StageContext) -> None:
    raise NotImplementedError(f"stage {ctx.cfg.stage.name}: the engine call is not implemented yet (issue 5); "
                              "its launch, config and preflight are, see launch.dryrun=true")


if __name__ == "__main__":
    sys.exit(stage_main("apo", __doc__.splitlines()[0]))
