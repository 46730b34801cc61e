"""The knobs of one selection run, with LESS's defaults (less/scripts/train/base_training_args.sh and
less/data_selection/collect_grad_reps.py at 1e4afda; the paper's section 4.1)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields

FEATURE_BYTES = 4  # float32 per projected coordinate of a stored feature


@dataclass
class SelectionSettings:
    model: str  # Hugging Face model directory (or hub id) whose LoRA gradients are the features
    max_tokens: int = 2048  # LESS's max_seq_length
    lora_r: int = 128
    lora_alpha: int = 512
    lora_dropout: float = 0.1
    lora_target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    warmup_fraction: float = 0.05  # share of the pool the warm-up trains on
    checkpoints: int = 4  # warm-up epochs; a checkpoint at the end of each
    lr: float = 2e-5
    warmup_ratio: float = 0.03  # of the steps, linear warm-up, then linear decay to 0
    batch_size: int = 32  # examples per optimizer step (LESS: 1 per device x 32 accumulation)
    max_grad_norm: float = 1.0  # the warm-up's gradient clipping (the HF Trainer's default, which LESS keeps); 0: off
    bf16: bool = True  # bfloat16 autocast (LESS: --bf16 True); off in the CPU preset, for bit-reproducible features
    # adam: LESS's Adam-preconditioned candidate gradients (the paper); sgd: plain ones (collect_grad_reps.py's
    # gradient_type sgd), for a warm-up too short to estimate AdamW's moments (the CPU preset: see the README)
    candidate_gradient: str = "adam"
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    proj_dim: int = 8192
    select_fraction: float = 0.05
    shard_size: int = 1024  # candidates per feature shard: the unit of resume and of an array task's work
    seed: int = 0

    def __post_init__(self):
        if self.candidate_gradient not in ("adam", "sgd"):
            raise ValueError(f"select.candidate_gradient={self.candidate_gradient!r}: use adam (LESS) or sgd")

    def key(self, *parts: str) -> str:
        """A content key of these settings and `parts`: what names a checkpoint set or a shard. The selected share
        is left out: it changes what is picked from the scores, not the warm-up or the features."""
        knobs = {k: v for k, v in asdict(self).items() if k != "select_fraction"}
        blob = json.dumps([knobs, *parts], sort_keys=True, default=list)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class SelectConfig(SelectionSettings):
    """The select stage's config section: the selection settings themselves (one definition: the stage hands them
    on as they are) and what to select from. Defaults are the paper's (conf/select/less.yaml); conf/select/cpu.yaml
    is the small preset the smoke experiment uses."""

    # The model whose gradients select (a HF directory or hub id); null: the stage's own (run.input, the upstream
    # model, model.hf_id). A smaller one of the family selects for a larger (LESS-T, the paper's transfer setting).
    model: str | None = None  # type: ignore[assignment]
    candidates: str | None = None  # JSONL/Parquet of {id, prompt or messages, lang}: the pool to choose from
    targets: dict[str, str] = field(default_factory=dict)  # target set name -> JSONL/Parquet of the same rows

    def settings(self, model: str) -> SelectionSettings:
        """The selection settings of a run on `model`."""
        knobs = {f.name: getattr(self, f.name) for f in fields(SelectionSettings)}
        return SelectionSettings(**{**knobs, "model": model, "lora_target_modules": tuple(self.lora_target_modules)})
