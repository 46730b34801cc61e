"""Where each stage of a run stands: Slurm state, restarts, newest checkpoint, last step and loss, log tail."""

from __future__ import annotations

import argparse
import sys

from recipes.core.status import UnreadableStatus
from recipes.submit.status import StatusSettings, run


def main(argv: list[str] | None = None, prog: str = "python -m recipes.status") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    parser.add_argument("run", help="run directory (<launch.root>/<run.name>), one stage's directory, or run name")
    parser.add_argument("--root", default=None, help="launch.root (default: $SEALION_RUNS, else <repo>/runs)")
    parser.add_argument("--tail", type=int, default=5, help="log lines to show per stage (default 5)")
    args = parser.parse_args(argv)
    try:
        run(StatusSettings(run=args.run, root=args.root, tail=args.tail))
    except (FileNotFoundError, UnreadableStatus) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
