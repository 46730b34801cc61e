"""Stage clair: CLAIR preference pairs for APO from the stage's model and a reviser endpoint.

The command only: what the job does is recipes.stages.clair."""

import sys

from recipes.submit.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("clair", __doc__.splitlines()[0]))
