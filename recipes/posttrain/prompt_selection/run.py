"""One selection end to end: warm-up, candidate features (this array task's shards), and, once every shard is
written, the target features, the scores, the selection and the report."""

from __future__ import annotations

import json
from pathlib import Path

from .features import FeatureModel, candidate_shards, shard_path, shards, target_features
from .pool import Prompt
from .report import write
from .scoring import TargetSet, scores, top
from .settings import SelectionSettings
from .warmup import warmup

SELECTED = "selected.jsonl"  # the union over targets, {id, prompt or messages, lang, ...}: what clair.prompts reads


def compute_features(
    out: Path, pool: list[Prompt], settings: SelectionSettings, task_index: int = 0, task_count: int = 1
) -> bool:
    """Warm up (or find the warm-up) and write this task's candidate shards; True when every shard exists."""
    checkpoints = warmup(out / "warmup", pool, settings)
    candidate_shards(out / "features", pool, checkpoints, settings, task_index, task_count)
    return all(
        shard_path(out / "features", s, pool, c, settings).exists()
        for s in shards(len(pool), settings)
        for c in checkpoints
    )


def select(out: Path, pool: list[Prompt], targets: dict[str, list[Prompt]], settings: SelectionSettings) -> dict:
    """Score every candidate against every target set (read at launch: read_prompts) and write the selection and
    the report into `out`."""
    checkpoints = warmup(out / "warmup", pool, settings)
    model = FeatureModel(settings)
    sets = [TargetSet(name, prompts, target_features(model, prompts, checkpoints)) for name, prompts in targets.items()]
    files = [
        [shard_path(out / "features", s, pool, c, settings) for c in checkpoints] for s in shards(len(pool), settings)
    ]
    score = scores(files, checkpoints, sets)
    chosen = {name: top(values, settings.select_fraction) for name, values in score.items()}
    (out / "selected").mkdir(exist_ok=True)
    union: dict[int, dict] = {}
    for name, indices in chosen.items():
        rows = [{**pool[i].row, "target": name, "score": float(score[name][i])} for i in indices]
        (out / "selected" / f"{name}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        for i in indices:
            entry = union.setdefault(i, {**pool[i].row, "targets": {}})
            entry["targets"][name] = float(score[name][i])
    (out / SELECTED).write_text("".join(json.dumps(union[i], ensure_ascii=False) + "\n" for i in sorted(union)))
    with (out / "scores.jsonl").open("w") as handle:
        for i, prompt in enumerate(pool):
            handle.write(
                json.dumps({"id": prompt.id, "lang": prompt.lang, **{name: float(v[i]) for name, v in score.items()}})
                + "\n"
            )
    return write(out, pool, score, chosen)
