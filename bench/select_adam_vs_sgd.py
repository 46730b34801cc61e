"""Adam-preconditioned (LESS) against plain (sgd) candidate features, on the CPU preset's model and LoRA (Gemma 3
270M, conf/select/cpu.yaml) after warm-ups of different lengths, with the warm-up's gradient clipping (norm 1.0).

Data: tests/posttrain/select_quality (56 candidates in 8 task/language groups of 7, 3 target prompts per group,
written for the quality test). Both kinds of feature come from the same warm-up checkpoints and the same
per-example gradients (the Adam one is the plain one preconditioned), and are scored by the stage's own scoring.
Reported per warm-up and kind: hits (of the group's 7) in each target set's top 7 (chance 0.875) and the mean
pairwise cosine of the candidate features at the last checkpoint (near 1: one shared direction). Writes
bench/results/select_adam_vs_sgd.json with the machine.

    python bench/select_adam_vs_sgd.py       # about 15-30 min on 2 shared cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from recipes.core.config import to_object
from recipes.core.stage_context import StageContext
from recipes.gemma3_fixture import build
from recipes.posttrain.prompt_selection.features import FeatureModel
from recipes.posttrain.prompt_selection.pool import read_prompts
from recipes.posttrain.prompt_selection.scoring import TargetSet, scores, top
from recipes.posttrain.prompt_selection.warmup import warmup
from recipes.stages import compose
from recipes.stages.select import settings

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "posttrain" / "select_quality"
GROUP = 7
# warm-up lengths: the CPU preset's (2 epochs of a quarter of the pool: 8 steps) and longer ones
WARMUPS = {
    "long_21_steps": dict(warmup_fraction=0.5, checkpoints=3),
    "preset_8_steps": dict(warmup_fraction=0.25, checkpoints=2),
}


def mean_cosine(features) -> float:
    units = features / np.linalg.norm(features, axis=1, keepdims=True)
    cos = units @ units.T
    n = len(cos)
    return float((cos.sum() - n) / (n * (n - 1)))


def compare(knobs, pool, targets, root: Path, warm: Path, last_only: bool) -> dict:
    checkpoints = warmup(warm, pool, knobs)
    if last_only:  # on a starved machine: the warm-up's last checkpoint alone is scored
        checkpoints = checkpoints[-1:]
    model = FeatureModel(knobs)
    files: dict[str, list[Path]] = {"adam": [], "sgd": []}
    target_features = defaultdict(list)
    for checkpoint in checkpoints:
        model.load(checkpoint)
        grads = [model.gradient(p) for p in pool]
        kinds = {"sgd": torch.stack(grads), "adam": torch.stack([model.precondition(g) for g in grads])}
        for kind, stacked in kinds.items():
            path = root / f"{kind}-{checkpoint.epoch}.npy"
            np.save(path, model.projector.project(stacked).numpy())
            files[kind].append(path)
        for name, prompts in targets.items():
            target_features[name].append(
                model.projector.project(torch.stack([model.gradient(p) for p in prompts])).numpy()
            )
    sets = [TargetSet(name, prompts, target_features[name]) for name, prompts in targets.items()]
    out = {}
    for kind, paths in files.items():
        score = scores([paths], checkpoints, sets)
        hits = {
            name: sum(pool[i].row["group"] == name for i in top(score[name], GROUP / len(pool))) for name in targets
        }
        out[kind] = {
            "hits_in_top7": hits,
            "total_hits": sum(hits.values()),
            "mean_pairwise_cosine_last_checkpoint": round(mean_cosine(np.load(paths[-1])), 3),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python bench/select_adam_vs_sgd.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "select_adam_vs_sgd.json")
    parser.add_argument("--only", choices=list(WARMUPS), help="run this warm-up length alone")
    parser.add_argument("--warmup-dir", type=Path, help="keep (and reuse) the warm-up checkpoints here")
    parser.add_argument("--last-checkpoint-only", action="store_true", help="score at the last checkpoint alone")
    args = parser.parse_args()
    cfg = to_object(compose("select", [f"select.model={build()}"]))  # the smoke experiment's select=cpu
    preset = settings(StageContext(cfg, Path("unused")))
    pool = read_prompts(DATA / "pool.jsonl")
    targets = defaultdict(list)
    for prompt in read_prompts(DATA / "targets.jsonl"):
        targets[prompt.row["group"]].append(prompt)
    runs = {}
    for name, change in WARMUPS.items():
        if args.only and name != args.only:
            continue
        knobs = replace(preset, **change)
        steps = -(-round(knobs.warmup_fraction * len(pool)) // knobs.batch_size) * knobs.checkpoints
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as root:
            warm = args.warmup_dir or Path(root) / "warmup"
            runs[name] = {
                **change,
                "optimizer_steps": steps,
                "lr": knobs.lr,
                "max_grad_norm": knobs.max_grad_norm,
                "scored_checkpoints": "last" if args.last_checkpoint_only else "all",
                **compare(knobs, pool, dict(targets), Path(root), warm, args.last_checkpoint_only),
                "wall_s": round(time.perf_counter() - start),
            }
        results = {
            "machine": {
                "host": platform.node(),
                "cpu": platform.processor() or platform.machine(),
                "cores": os.cpu_count(),
                "torch": torch.__version__,
                "date": time.strftime("%Y-%m-%d"),
            },
            "chance_hits_per_target": GROUP * GROUP / len(pool),
            "runs": runs,
        }
        args.out.write_text(json.dumps(results, indent=2) + "\n")  # after each run: a long bench keeps what it did
        print(name, json.dumps(runs[name]), flush=True)


if __name__ == "__main__":
    main()
