"""The LESS warm-up: LoRA training on a random `warmup_fraction` of the pool for `checkpoints` epochs, saving the
adapter, AdamW's first and second moments and the epoch's mean learning rate at the end of each epoch
(less/train/train.py and less/scripts/train/warmup_lora_train.sh at 1e4afda: AdamW, linear schedule with 3% warm-up,
weight decay 0, save_strategy epoch, bf16, and the HF Trainer's gradient clipping to norm 1.0). A parameter that never
got a gradient has no AdamW moments and is left out of the saved state (LESS's collect_grads skips it too). The moments
precondition the candidates' gradients; the mean learning rate of epoch i is the checkpoint's weight (the paper's eq. 2,
eta-bar_i)."""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

from recipes.core.atomic import write_text_atomic

from .model import example_loss, lora_model, lora_parameters
from .pool import Prompt
from .settings import SelectionSettings
from .tokens import encode

STATE_FILE = "adam_state.pt"
META_FILE = "checkpoint.json"  # written last: a checkpoint directory without it is incomplete


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    epoch: int
    mean_lr: float


def warmup_indices(pool_size: int, settings: SelectionSettings) -> list[int]:
    """The pool rows the warm-up trains on: a seeded random sample, at least one row."""
    count = max(1, round(settings.warmup_fraction * pool_size))
    return sorted(random.Random(settings.seed).sample(range(pool_size), count))


def learning_rate(step: int, total: int, settings: SelectionSettings) -> float:
    """transformers' linear schedule with warmup_ratio (get_linear_schedule_with_warmup), at optimizer step `step`."""
    warm = math.ceil(settings.warmup_ratio * total)
    if step < warm:
        return settings.lr * step / max(1, warm)
    return settings.lr * max(0.0, (total - step) / max(1, total - warm))


def checkpoint_dirs(root: Path, pool: list[Prompt], settings: SelectionSettings) -> list[Path]:
    key = settings.key(*[p.id for p in pool])
    return [root / key / f"ckpt-{epoch}" for epoch in range(1, settings.checkpoints + 1)]


def load_checkpoints(root: Path, pool: list[Prompt], settings: SelectionSettings) -> list[Checkpoint] | None:
    """The complete warm-up checkpoints of this pool and these settings, or None while any is missing."""
    dirs = checkpoint_dirs(root, pool, settings)
    if not all((d / META_FILE).exists() for d in dirs):
        return None
    return [Checkpoint(d, **json.loads((d / META_FILE).read_text())) for d in dirs]


def warmup(root: Path, pool: list[Prompt], settings: SelectionSettings) -> list[Checkpoint]:
    """Train (or find) the warm-up checkpoints under root/<key>/ckpt-<epoch>. Deterministic for a seed, so an
    interrupted warm-up simply starts again."""
    import torch
    from peft import get_peft_model_state_dict

    done = load_checkpoints(root, pool, settings)
    if done:
        return done
    model, tokenizer = lora_model(settings)
    model.train()
    params = lora_parameters(model)
    optimizer = torch.optim.AdamW(
        [p for _, p in params],
        lr=settings.lr,
        betas=(settings.adam_beta1, settings.adam_beta2),
        eps=settings.adam_eps,
        weight_decay=0.0,
    )
    rows = [encode(tokenizer, pool[i], settings.max_tokens) for i in warmup_indices(len(pool), settings)]
    steps_per_epoch = math.ceil(len(rows) / settings.batch_size)
    total, step, order = steps_per_epoch * settings.checkpoints, 0, random.Random(settings.seed + 1)
    for epoch, directory in enumerate(checkpoint_dirs(root, pool, settings), 1):
        order.shuffle(rows)
        rates = []
        for start in range(0, len(rows), settings.batch_size):
            batch = rows[start : start + settings.batch_size]
            rate = learning_rate(step, total, settings)
            for group in optimizer.param_groups:
                group["lr"] = rate
            optimizer.zero_grad()
            for ids, labels in batch:  # gradient accumulation, each loss scaled as the HF Trainer does
                (example_loss(model, ids, labels, settings.bf16) / len(batch)).backward()
            if settings.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_([p for _, p in params], settings.max_grad_norm)
            optimizer.step()
            rates.append(rate)
            step += 1
        directory.mkdir(parents=True, exist_ok=True)
        torch.save(get_peft_model_state_dict(model), directory / "adapter.pt")
        state = optimizer.state
        torch.save(
            {
                name: {"exp_avg": state[p]["exp_avg"], "exp_avg_sq": state[p]["exp_avg_sq"]}
                for name, p in params
                if p in state
            },
            directory / STATE_FILE,
        )
        meta = {"epoch": epoch, "mean_lr": sum(rates) / len(rates)}
        write_text_atomic(directory / META_FILE, json.dumps(meta))  # last: its presence marks the checkpoint whole
    done = load_checkpoints(root, pool, settings)
    assert done is not None  # every checkpoint was just written
    return done
