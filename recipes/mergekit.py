"""Merge Hugging Face checkpoints with mergekit from a merge preset file (conf/merge/*.yaml), outside a run.
Inputs are checked for matching architecture and tokenizer first; multimodal Gemma 3 inputs must share one vision
tower, and only their language models are merged.

The merge stage (`sealion merge +merge=<preset>`) does the same inside a run, with a run directory and a version
record (recipes.engines.mergekit_merge)."""

from __future__ import annotations

import argparse

import yaml

from recipes.engines.mergekit_merge import load_settings, mergekit_config, run


def main(argv: list[str] | None = None, prog: str = "python -m recipes.mergekit") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("preset", help="YAML with MergeSettings fields, e.g. conf/merge/cpt_task_vector.yaml")
    parser.add_argument("--out", help="override the preset's out directory")
    parser.add_argument("--base-model", help="override base_model")
    parser.add_argument("--models", nargs="+", help="override model paths, in preset order")
    parser.add_argument("--render", action="store_true", help="print the mergekit YAML and exit")
    args = parser.parse_args(argv)
    settings = load_settings(args.preset)
    if args.out:
        settings.out = args.out
    if args.base_model:
        settings.base_model = args.base_model
    if args.models:
        if len(args.models) != len(settings.models):
            parser.error(f"--models got {len(args.models)} paths; the preset lists {len(settings.models)} models")
        for model, path in zip(settings.models, args.models):
            model.path = path
    if args.render:
        print(yaml.safe_dump(mergekit_config(settings), sort_keys=False))
        return 0
    print(run(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
