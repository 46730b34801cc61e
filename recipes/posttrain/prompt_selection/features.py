"""Per-example gradient features of the LoRA parameters at each warm-up checkpoint, projected and written in shards.

As LESS's collect_grads (less/data_selection/collect_grad_reps.py at 1e4afda): one example per backward pass; a
candidate's gradient g is preconditioned with the checkpoint's AdamW moments as one more Adam step would see it,
m' = b1*m + (1-b1)*g, v' = b2*v + (1-b2)*g^2, feature = m' / sqrt(v' + eps) (`obtain_gradients_with_adam`);
a target example's feature is its plain gradient (`obtain_gradients`, gradient_type sgd). Both are projected by
the same seeded sparse projection (projection.py). The coordinates are the LoRA parameters the warm-up trained
(those with AdamW moments: a parameter that never got a gradient is skipped, as LESS skips `p.grad is None`). Dropout is
off (eval mode), so a feature depends only on the example, the checkpoint and the seed.

Candidate features are written per (shard, checkpoint) as features/ckpt-<epoch>/shard-<index>-<key>.npy, the key
being the content key of the shard's ids, the settings and the checkpoint (as data_prep's token shards are keyed on
their inputs and settings); each file is written to a temporary name and renamed, so a killed job leaves whole
shards only and a restart computes exactly the missing ones."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recipes.core.atomic import open_atomic

from .pool import Prompt
from .projection import SparseProjector
from .settings import SelectionSettings
from .tokens import encode
from .warmup import STATE_FILE, Checkpoint

PROJECT_BATCH = 16  # gradients projected together (LESS's project_interval)


@dataclass(frozen=True)
class Shard:
    index: int
    start: int
    stop: int


def shards(pool_size: int, settings: SelectionSettings) -> list[Shard]:
    size = settings.shard_size
    return [Shard(i, start, min(start + size, pool_size)) for i, start in enumerate(range(0, pool_size, size))]


def shard_path(
    root: Path, shard: Shard, pool: list[Prompt], checkpoint: Checkpoint, settings: SelectionSettings
) -> Path:
    key = settings.key(
        checkpoint.path.parent.name, str(checkpoint.epoch), *[p.id for p in pool[shard.start : shard.stop]]
    )
    return root / f"ckpt-{checkpoint.epoch}" / f"shard-{shard.index:05d}-{key}.npy"


def _grad_dim(params) -> int:
    return sum(p.numel() for _, p in params)


class FeatureModel:
    """The warm-up's LoRA model, switched between checkpoints, turning examples into projected features."""

    def __init__(self, settings: SelectionSettings):
        from .model import lora_model, lora_parameters

        self.settings = settings
        self.model, self.tokenizer = lora_model(settings)
        self.model.eval()
        self.all_params = lora_parameters(self.model)
        self.moments: tuple[Any, Any] | None = None  # (exp_avg, exp_avg_sq) of the loaded checkpoint
        self.params = self.all_params
        self.projector = SparseProjector(_grad_dim(self.params), settings.proj_dim, settings.seed)

    def use(self, params) -> None:
        """Take `params` as the feature coordinates (the projector is drawn again only when their count changes)."""
        self.params = params
        if self.projector.grad_dim != _grad_dim(params):
            self.projector = SparseProjector(_grad_dim(params), self.settings.proj_dim, self.settings.seed)

    def load(self, checkpoint: Checkpoint) -> None:
        import torch
        from peft import set_peft_model_state_dict

        where = next(self.model.parameters()).device
        set_peft_model_state_dict(self.model, torch.load(checkpoint.path / "adapter.pt", map_location=where))
        state = torch.load(checkpoint.path / STATE_FILE, map_location=where)
        trained = [(name, p) for name, p in self.all_params if name in state]
        if not trained:
            raise ValueError(
                f"{checkpoint.path}: no LoRA parameter got a gradient in the warm-up; check "
                "select.lora_target_modules against the model's language model"
            )
        self.use(trained)
        self.moments = (
            torch.cat([state[n]["exp_avg"].reshape(-1) for n, _ in self.params]),
            torch.cat([state[n]["exp_avg_sq"].reshape(-1) for n, _ in self.params]),
        )

    def gradient(self, prompt: Prompt):
        """The flat LoRA gradient of one example (zero where this example reaches no trained parameter)."""
        import torch

        from .model import example_loss

        self.model.zero_grad(set_to_none=True)
        ids, labels = encode(self.tokenizer, prompt, self.settings.max_tokens)
        example_loss(self.model, ids, labels, self.settings.bf16).backward()
        return torch.cat([(torch.zeros_like(p) if p.grad is None else p.grad).reshape(-1) for _, p in self.params])

    def precondition(self, grad):
        """The gradient as one more AdamW step from the loaded checkpoint's moments would scale it."""
        import torch

        if self.moments is None:
            raise RuntimeError("FeatureModel.precondition needs a loaded checkpoint's moments: call load() first")
        s, (m, v) = self.settings, self.moments
        m_next = s.adam_beta1 * m + (1 - s.adam_beta1) * grad
        v_next = s.adam_beta2 * v + (1 - s.adam_beta2) * grad**2
        return m_next / torch.sqrt(v_next + s.adam_eps)

    def features(self, prompts: list[Prompt], adam: bool):
        """(len(prompts), proj_dim) float32 numpy array of projected gradients at the loaded checkpoint,
        Adam-preconditioned when `adam`."""
        import numpy as np
        import torch

        out = []
        for start in range(0, len(prompts), PROJECT_BATCH):
            grads = [self.gradient(p) for p in prompts[start : start + PROJECT_BATCH]]
            batch = torch.stack([self.precondition(g) for g in grads] if adam else grads)
            out.append(self.projector.project(batch).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.settings.proj_dim), np.float32)


def save_atomic(path: Path, array) -> None:
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    with open_atomic(path) as handle:
        np.save(handle, array)


def candidate_shards(
    root: Path,
    pool: list[Prompt],
    checkpoints: list[Checkpoint],
    settings: SelectionSettings,
    task_index: int = 0,
    task_count: int = 1,
) -> list[Path]:
    """Write the candidate features of this task's shards (every task_count-th) that are not written yet; returns the
    paths of all this task's shard files. The model is loaded only when a shard is missing."""
    mine = shards(len(pool), settings)[task_index::task_count]
    paths: list[Path] = []
    model: FeatureModel | None = None
    for checkpoint in checkpoints:
        todo = [(s, shard_path(root, s, pool, checkpoint, settings)) for s in mine]
        missing = [(s, path) for s, path in todo if not path.exists()]
        if missing:
            model = model or FeatureModel(settings)
            model.load(checkpoint)
            for shard, path in missing:
                save_atomic(
                    path, model.features(pool[shard.start : shard.stop], adam=settings.candidate_gradient == "adam")
                )
        paths += [path for _, path in todo]
    return paths


def target_features(model: FeatureModel, targets: list[Prompt], checkpoints: list[Checkpoint]) -> list:
    """Plain-gradient features of the target examples at every checkpoint (targets are few: held in memory)."""
    out = []
    for checkpoint in checkpoints:
        model.load(checkpoint)
        out.append(model.features(targets, adam=False))
    return out
