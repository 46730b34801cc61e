"""Stage eval: the suites in eval.suites (local, SEA-HELM, lm-eval) on one model.

The command only: what the job does is recipes.stages.eval."""

import sys

from recipes.submit.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("eval", __doc__.splitlines()[0]))
