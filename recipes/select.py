"""Stage select: gradient-based prompt selection (LESS) of select.candidates for each of select.targets.

The command only: what the job does is recipes.stages.select."""

import sys

from recipes.submit.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("select", __doc__.splitlines()[0]))
