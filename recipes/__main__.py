"""`python -m recipes <command> [ARGS]`: the `sealion` console script without installing it (recipes.cli)."""

import sys

from recipes.cli import main

sys.exit(main())
