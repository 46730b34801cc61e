"""The select stage's projection at the `less` preset's dimensions, old and new side by side in one run.

grad_dim is the LoRA of conf/select/less.yaml (r=128 on q/k/v/o) on the Gemma 3 270M fixture, counted from the
PEFT model itself; proj_dim 8192; a batch of 16 gradients (features.PROJECT_BATCH). Old: the dense Rademacher
projector this repository had up to commit e785d3a, which drew a 16,384 x 8,192 block of signs with the CPU
generator for every block of every batch (reproduced below as the baseline; one block is timed, the batch is that
times the block count). New: projection.SparseProjector (drawn once, then index_add_ per batch), timed whole. The
Gemma 3 4B (google/gemma-3-4b-it, the 27B chain's selector) is estimated from its LoRA size: both projectors cost
time in proportion to grad_dim. Writes bench/results/select_projection.json with the machine.

    python bench/select_projection.py        # about 2-4 min on 2 shared cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from recipes.gemma3_fixture import build
from recipes.posttrain.prompt_selection.features import PROJECT_BATCH
from recipes.posttrain.prompt_selection.model import lora_model, lora_parameters
from recipes.posttrain.prompt_selection.projection import BLOCK_ROWS, SparseProjector
from recipes.posttrain.prompt_selection.settings import SelectionSettings

REPO = Path(__file__).resolve().parent.parent
PROJ_DIM = 8192
OLD_BLOCK_ROWS = 16384
# google/gemma-3-4b-it's text config: 34 layers, hidden 2560, 8 query heads and 4 key/value heads of 256
GEMMA3_4B = dict(layers=34, hidden=2560, q=8 * 256, kv=4 * 256)


def lora_size_4b(r: int = 128) -> int:
    """LoRA parameters of r on q/k/v/o: r x (in + out) per module."""
    h, q, kv = GEMMA3_4B["hidden"], GEMMA3_4B["q"], GEMMA3_4B["kv"]
    return GEMMA3_4B["layers"] * r * ((h + q) + 2 * (h + kv) + (q + h))


def old_block(grads, start: int, block: int, seed: int = 0):
    """One block of the old projector: draw (rows x proj_dim) signs on the CPU, then multiply."""
    generator = torch.Generator()
    stop = min(start + OLD_BLOCK_ROWS, grads.shape[1])
    generator.manual_seed(seed * 1_000_003 + block)
    signs = torch.randint(0, 2, (stop - start, PROJ_DIM), generator=generator, dtype=torch.int8)
    return grads[:, start:stop] @ (signs.to(torch.float32) * 2 - 1)


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(prog="python bench/select_projection.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "select_projection.json")
    args = parser.parse_args()
    model, _ = lora_model(SelectionSettings(model=str(build())))  # the less preset's LoRA
    grad_dim = sum(p.numel() for _, p in lora_parameters(model))
    del model
    grads = torch.randn(PROJECT_BATCH, grad_dim, generator=torch.Generator().manual_seed(0))
    old_blocks = -(-grad_dim // OLD_BLOCK_ROWS)
    old_block(grads, 0, 0)  # warm
    old_s, _ = timed(lambda: old_block(grads, OLD_BLOCK_ROWS, 1))
    projector = SparseProjector(grad_dim, PROJ_DIM, seed=0)
    draw_s, _ = timed(lambda: projector.matrix(grads.device))
    new_s, _ = timed(lambda: projector.project(grads))
    new_blocks = -(-grad_dim // BLOCK_ROWS)
    per_coordinate = {"old": old_s * old_blocks / PROJECT_BATCH / grad_dim, "new": new_s / PROJECT_BATCH / grad_dim}
    dim_4b = lora_size_4b()
    results = {
        "machine": {
            "host": platform.node(),
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "device": "cpu",
            "date": time.strftime("%Y-%m-%d"),
        },
        "grad_dim_270m": grad_dim,
        "proj_dim": PROJ_DIM,
        "batch": PROJECT_BATCH,
        "old": {
            "block_rows": OLD_BLOCK_ROWS,
            "blocks": old_blocks,
            "s_per_block": round(old_s, 3),
            "s_per_batch": round(old_s * old_blocks, 1),
            "s_per_candidate": round(old_s * old_blocks / PROJECT_BATCH, 2),
        },
        "new": {
            "block_rows": BLOCK_ROWS,
            "blocks": new_blocks,
            "draw_once_s": round(draw_s, 2),
            "s_per_block": round(new_s / new_blocks, 4),
            "s_per_batch": round(new_s, 2),
            "s_per_candidate": round(new_s / PROJECT_BATCH, 3),
        },
        "speedup_per_candidate": round(per_coordinate["old"] / per_coordinate["new"], 1),
        "gemma3_4b_estimate": {
            "grad_dim": dim_4b,
            "old_s_per_candidate": round(per_coordinate["old"] * dim_4b, 1),
            "new_s_per_candidate": round(per_coordinate["new"] * dim_4b, 2),
        },
    }
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
