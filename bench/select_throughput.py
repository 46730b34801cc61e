"""Candidates per second per CPU core of the select stage's feature step (recipes/posttrain/prompt_selection) on
the Gemma 3 270M fixture, and the feature bytes per candidate, for the CPU preset (conf/select/cpu.yaml) and the storage
of LESS's (projection 8192, 4 checkpoints). Per core = candidates / CPU seconds of this process, so a busy
machine skews it less. Writes bench/results/select_throughput.json with the machine.

    python bench/select_throughput.py          # about 1 min on 2 shared cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import torch

from recipes.gemma3_fixture import build
from recipes.posttrain.prompt_selection.features import FeatureModel
from recipes.posttrain.prompt_selection.pool import read_prompts
from recipes.posttrain.prompt_selection.settings import FEATURE_BYTES

REPO = Path(__file__).resolve().parent.parent
PRESETS = {
    "cpu": dict(
        max_tokens=32,
        lora_r=4,
        lora_alpha=16,
        lora_target_modules=("q_proj", "v_proj"),
        proj_dim=256,
        checkpoints=2,
        candidate_gradient="sgd",
        bf16=False,
    ),
}
# LESS's own LoRA (r=128 on q/k/v/o: 11.8M parameters of the 270M) and 8192 dims: the projection's time is
# bench/select_projection.py's; their storage is computed here.
LESS_FEATURE_BYTES = 8192 * 4 * FEATURE_BYTES
CANDIDATES = 8


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(name: str, knobs: dict) -> dict:
    from recipes.posttrain.prompt_selection.settings import SelectionSettings

    settings = SelectionSettings(model=str(build()), **knobs)
    model = FeatureModel(settings)
    model.moments = (torch.zeros(model.projector.grad_dim), torch.zeros(model.projector.grad_dim))
    pool = read_prompts(REPO / "data_prep" / "sample_select" / "pool.jsonl")[:CANDIDATES]
    model.features(pool[:1], adam=True)  # warm
    wall, cpu = time.perf_counter(), cpu_seconds()
    model.features(pool, adam=settings.candidate_gradient == "adam")
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    return {
        "preset": name,
        "lora_parameters": model.projector.grad_dim,
        "proj_dim": settings.proj_dim,
        "checkpoints": settings.checkpoints,
        "candidates": len(pool),
        "max_tokens": settings.max_tokens,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "candidates_per_s_per_core_per_checkpoint": round(len(pool) / cpu, 3),
        "feature_bytes_per_candidate": settings.proj_dim * settings.checkpoints * FEATURE_BYTES,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python bench/select_throughput.py", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "bench" / "results" / "select_throughput.json",
        help="where the figures go (default: %(default)s)",
    )
    args = parser.parse_args()
    torch.manual_seed(0)
    results = {
        "machine": {
            "host": platform.node(),
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d"),
        },
        "runs": [measure(name, knobs) for name, knobs in PRESETS.items()],
        "less_feature_bytes_per_candidate": LESS_FEATURE_BYTES,
    }
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
