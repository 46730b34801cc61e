"""Stage data_prep: raw documents -> curated text -> Gemma 3 tokens (.bin/.idx) -> the datamix blend.

The command only: what the job does is recipes.stages.data_prep."""

import sys

from recipes.submit.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("data_prep", __doc__.splitlines()[0]))
