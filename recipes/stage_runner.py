"""The one command every job runs: `python -m recipes.stage_runner --run-dir DIR`.

It reads DIR/resolved.yaml (written by the launcher on the submitting side), validates it against the schema
again (the job may run a different checkout than the one that rendered it), and calls `recipes.<stage>.execute`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from omegaconf import OmegaConf

from recipes.config import register_resolvers, to_object, validate
from recipes.stage import StageContext


def load_context(run_dir: Path) -> StageContext:
    register_resolvers()
    cfg = to_object(validate(OmegaConf.load(run_dir / "resolved.yaml")))
    return StageContext(cfg=cfg, run_dir=run_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, required=True, help="run directory holding resolved.yaml")
    args = parser.parse_args(argv)
    ctx = load_context(args.run_dir.resolve())
    module = importlib.import_module(f"recipes.{ctx.cfg.stage.name}")
    module.execute(ctx)
    return 0


if __name__ == "__main__":
    sys.exit(main())
