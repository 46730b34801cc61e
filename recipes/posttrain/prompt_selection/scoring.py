"""LESS scores, streamed over the candidate feature shards (less/data_selection/matching.py at 1e4afda).

For candidate z and target example z' the influence is sum_i w_i * cos(feature_i(z), feature_i(z')) over the
warm-up checkpoints i, with w_i the epoch's mean learning rate renormalised to sum to 1. A target set's score is
the mean influence over the examples of each of its subtasks, maximised over subtasks (matching.py's
`.reshape(N, N_SUBTASKS, -1).mean(-1).max(-1)`; here a row's subtask is its `subtask` field, else its language).
One shard of one checkpoint is in memory at a time."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .pool import Prompt
from .warmup import Checkpoint


@dataclass(frozen=True)
class TargetSet:
    name: str
    prompts: list[Prompt]
    features: list  # per checkpoint: (len(prompts), proj_dim) array


def checkpoint_weights(checkpoints: list[Checkpoint]) -> list[float]:
    total = sum(c.mean_lr for c in checkpoints)
    if total <= 0:
        raise ValueError(
            "select: every warm-up checkpoint has a mean learning rate of 0; raise select.lr or "
            "lower select.warmup_ratio"
        )
    return [c.mean_lr / total for c in checkpoints]


def _unit_rows(array):
    import numpy as np

    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.maximum(norms, 1e-12)


def scores(shard_files: list[list[Path]], checkpoints: list[Checkpoint], targets: list[TargetSet]) -> dict:
    """{target name: (pool size,) float64 scores}; shard_files[s][i] is shard s's features at checkpoint i."""
    import numpy as np

    weights = checkpoint_weights(checkpoints)
    units = [[_unit_rows(f) for f in t.features] for t in targets]
    out: dict[str, list] = {t.name: [] for t in targets}
    for files in shard_files:
        influence: list[Any] = [0.0] * len(targets)  # per target: 0.0, then the summed score matrix
        for i, path in enumerate(files):
            candidates = _unit_rows(np.load(path))
            for j in range(len(targets)):
                influence[j] = influence[j] + weights[i] * (candidates @ units[j][i].T)
        for j, target in enumerate(targets):
            groups = sorted({p.subtask for p in target.prompts})
            means = [
                influence[j][:, [k for k, p in enumerate(target.prompts) if p.subtask == g]].mean(axis=1)
                for g in groups
            ]
            out[target.name].append(np.max(np.stack(means, axis=1), axis=1))
    return {name: np.concatenate(parts).astype(np.float64) for name, parts in out.items()}


def top(score, fraction: float) -> list[int]:
    """Indices of the best ceil(fraction x pool) candidates, best first (ties: pool order)."""
    import numpy as np

    count = max(1, math.ceil(fraction * len(score)))
    return [int(i) for i in np.argsort(-score, kind="stable")[:count]]
