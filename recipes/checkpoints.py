"""Show the newest complete checkpoint of a directory; optionally delete all but the newest N
(recipes.artifacts.checkpoints)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from recipes.artifacts.checkpoints import keep_last_n, newest_complete


def main(argv: list[str] | None = None, prog: str = "python -m recipes.checkpoints") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("directory", type=Path, help="checkpoint directory (e.g. <run dir>/checkpoints)")
    parser.add_argument("--keep", type=int, default=None, metavar="N", help="delete all but the N newest complete")
    args = parser.parse_args(argv)
    if args.keep is not None:
        for path in keep_last_n(args.directory, args.keep):
            print(f"deleted {path}")
    newest = newest_complete(args.directory)
    if newest is None:
        print(f"no complete checkpoint in {args.directory}")
        return 1
    print(json.dumps({"path": str(newest.path), "step": newest.step}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
