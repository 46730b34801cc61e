"""Stage cpt: continued pre-training of Gemma 3 on Megatron-Bridge.

The command only: what the job does is recipes.stages.cpt."""

import sys

from recipes.submit.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("cpt", __doc__.splitlines()[0]))
