"""The typed config of a cpt or sft stage -> Megatron-Bridge 0.3.1's ConfigContainer.

The model starts from the Gemma 3 provider class and the precision from Bridge's preset, each named in the config:
their defaults stand for every field ours leaves out (tests/bridge/test_bridge_defaults.py holds conf/model and
conf/precision to them). The other sections carry Megatron-Bridge's own section and field names, so they are a plain
copy, field by field; where a name differs, the line that maps it says so. Megatron-Bridge is imported inside the
functions: the launcher venv does not have it, only the `train` container (and .venv-bridge for the tests) does.
Building a container needs no GPU; training with it does.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from recipes.core.schema import MixedPrecisionConfig, RootConfig
from recipes.core.stage_context import StageContext

if TYPE_CHECKING:
    from megatron.bridge.training.config import ConfigContainer

Stage = Literal["cpt", "sft"]
GEMMA3_PROVIDERS = (
    "Gemma3ModelProvider",
    "Gemma3ModelProvider1B",
    "Gemma3ModelProvider4B",
    "Gemma3ModelProvider12B",
    "Gemma3ModelProvider27B",
)
PACKED_FILE = "packed.npy"  # written by data_prep.sft_format


class BridgeConfigError(ValueError):
    """A config that cannot become a ConfigContainer: the message names the field and the fix."""


class TrainingStopped(RuntimeError):
    """Training ended before train.train_iters, after saving: the stage is not done, and a rerun resumes it."""


def build_config_container(cfg: RootConfig, run_dir: Path, *, stage: Stage) -> ConfigContainer:
    """The ConfigContainer that `pretrain` (cpt) or `finetune` (sft) runs; `cfg.validate()` is left to the caller
    because it reads the world size of the job."""
    from megatron.bridge.training.config import (
        ConfigContainer,
        FaultToleranceConfig,
        NVRxStragglerDetectionConfig,
        RNGConfig,
    )

    if stage not in ("cpt", "sft"):
        raise BridgeConfigError(f"stage: {stage!r} is not a Megatron-Bridge stage; use cpt or sft")
    ctx = StageContext(cfg, Path(run_dir))
    precision = mixed_precision(cfg.mixed_precision)
    return ConfigContainer(
        model=model_provider(cfg),
        mixed_precision=precision,
        train=training(cfg),
        optimizer=optimizer(cfg, precision),
        ddp=ddp(cfg),
        scheduler=scheduler(cfg),
        dataset=pretraining_dataset(cfg, ctx) if stage == "cpt" else finetuning_dataset(cfg, ctx),
        tokenizer=tokenizer(cfg),
        checkpoint=checkpoint(cfg, ctx, stage),
        logger=logger(cfg, ctx),
        rng=RNGConfig(seed=cfg.run.seed),
        ft=FaultToleranceConfig(enable_ft_package=True, calc_ft_timeouts=cfg.ft.calc_ft_timeouts)
        if cfg.ft.enable_ft_package
        else None,
        nvrx_straggler=NVRxStragglerDetectionConfig(
            enabled=True, report_time_interval=cfg.nvrx_straggler.report_time_interval
        )
        if cfg.nvrx_straggler.enabled
        else None,
    )


# ModelConfig fields that are Gemma3ModelProvider fields of the same name and meaning, copied as they are.
# The architecture: the launcher reads it from conf/model (memory estimate, preflight), and
# tests/bridge/test_bridge_defaults.py holds it equal to the provider's, so copying it changes nothing for a sized
# provider; it gives the base provider the 270M's shape and a proxy its cut (model.num_layers=4).
ARCHITECTURE_FIELDS = (
    "num_layers",
    "hidden_size",
    "ffn_hidden_size",
    "num_attention_heads",
    "num_query_groups",
    "kv_channels",
    "vocab_size",
    "window_size",
    "rope_scaling_factor",
    "share_embeddings_and_output_weights",
)
# How this job runs the model (ours, not the provider's): parallelism, recompute and kernels.
RUNTIME_FIELDS = (
    "tensor_model_parallel_size",
    "pipeline_model_parallel_size",
    "virtual_pipeline_model_parallel_size",
    "num_layers_in_first_pipeline_stage",
    "num_layers_in_last_pipeline_stage",
    "context_parallel_size",
    "cp_comm_type",
    "sequence_parallel",
    "recompute_granularity",
    "recompute_method",
    "recompute_num_layers",
    "cross_entropy_loss_fusion",
    "cross_entropy_fusion_impl",
    "gradient_accumulation_fusion",
    "apply_rope_fusion",
    "cuda_graph_impl",
)


def model_provider(cfg: RootConfig):
    """The Gemma 3 provider named by model.provider (its defaults stand for every field model.* lacks), with the
    architecture and how to run it from model.*.

    0.3.1 has no 270M provider: gemma3_270m names the base `Gemma3ModelProvider`, and the architecture fields
    give it the 270M shape. The provider keeps its own softmax_scale (query_pre_attn_scalar). This model is
    the text-only language model (the vision tower is set aside by hf_import), so is_vision_language is off for
    every size: on, every attention layer would take an arbitrary mask, which the provider's flash backend cannot
    run, instead of the causal (sliding-window) masks flash attention builds itself.
    """
    from megatron.bridge.models import gemma

    m = cfg.model
    if m.provider not in GEMMA3_PROVIDERS:
        raise BridgeConfigError(
            f"model.provider: {m.provider!r} is not a Gemma 3 provider of Megatron-Bridge 0.3.1; "
            f"choose one of {', '.join(GEMMA3_PROVIDERS)}"
        )
    provider = getattr(gemma, m.provider)()
    for name in ARCHITECTURE_FIELDS + RUNTIME_FIELDS:
        setattr(provider, name, getattr(m, name))
    provider.interleaved_attn_pattern = tuple(m.interleaved_attn_pattern)  # Megatron-Bridge: tuples, not lists
    provider.rotary_base = tuple(m.rotary_base)
    provider.seq_length = cfg.dataset.sequence_length  # the training length; model.seq_length is the context limit
    provider.recompute_modules = list(m.recompute_modules) or None  # Megatron-Bridge: None, not [], means "none"
    provider.is_vision_language = False
    provider.attention_backend = attention_backend(m.attention_backend)
    provider.cuda_graph_scope = list(m.cuda_graph_scope)  # megatron-core: [] captures the whole layer
    return provider


def attention_backend(name: str):
    """model.attention_backend -> megatron-core's AttnBackend. The provider's default (flash) needs flash-attn, which
    a machine with wheel-installed Transformer Engine lacks; auto lets TE choose among what is installed."""
    from megatron.core.transformer.enums import AttnBackend

    choices = ("flash", "fused", "unfused", "auto")
    if name not in choices:
        raise BridgeConfigError(
            f"model.attention_backend: {name!r} is not one of {', '.join(choices)}; use auto "
            "where flash-attn is not installed"
        )
    return AttnBackend[name]


# MixedPrecisionConfig fields that, where set (not None), replace the preset's field of the same name.
PRECISION_FIELDS = (
    "bf16",
    "params_dtype",
    "fp8",
    "fp8_recipe",
    "fp8_param_gather",
    "first_last_layers_bf16",
    "num_layers_at_start_in_bf16",
    "num_layers_at_end_in_bf16",
)


def mixed_precision(mp: MixedPrecisionConfig):
    """Megatron-Bridge's preset named by mixed_precision.name, with the fields ours sets on top (the rest stay the
    preset's). mixed_precision.requires_gpu_arch is ours only: preflight checks it against cluster.gpu_arch."""
    import torch
    from megatron.bridge.training.mixed_precision import MIXED_PRECISION_RECIPES, get_mixed_precision_config

    if mp.name.replace("-", "_") not in MIXED_PRECISION_RECIPES:
        known = sorted(n for n in MIXED_PRECISION_RECIPES if "-" not in n)
        raise BridgeConfigError(
            f"mixed_precision.name: {mp.name!r} is not a Megatron-Bridge 0.3.1 preset; "
            f"choose one of {', '.join(known)} (conf/precision/*.yaml)"
        )
    preset = get_mixed_precision_config(mp.name)
    for name in PRECISION_FIELDS:
        value = getattr(mp, name)
        if value is None:
            continue
        if name == "params_dtype":  # ours is the dtype's name, theirs the torch.dtype
            value = getattr(torch, value, None)
            if not isinstance(value, torch.dtype):
                raise BridgeConfigError(
                    f"mixed_precision.params_dtype: {mp.params_dtype!r} is not a torch dtype; use bfloat16, "
                    "float16 or float32, or leave it unset for the preset's"
                )
        setattr(preset, name, value)
    return preset


def training(cfg: RootConfig):
    from megatron.bridge.training.config import TrainingConfig

    t = cfg.train
    return TrainingConfig(
        train_iters=t.train_iters,
        global_batch_size=t.global_batch_size,
        micro_batch_size=t.micro_batch_size,
        eval_interval=t.eval_interval,
        eval_iters=t.eval_iters,
        exit_signal_handler=t.exit_signal_handler,
        exit_duration_in_mins=t.exit_duration_in_mins,
    )


def optimizer(cfg: RootConfig, precision):
    """Megatron's "adam" with weight_decay is AdamW (decoupled decay). bf16 follows the precision config: Bridge's
    validate() compares them before the preset reaches the optimizer at startup."""
    from megatron.bridge.training.config import OptimizerConfig

    o = cfg.optimizer
    return OptimizerConfig(
        optimizer=o.optimizer,
        lr=o.lr,
        min_lr=o.min_lr,
        weight_decay=o.weight_decay,
        adam_beta1=o.adam_beta1,
        adam_beta2=o.adam_beta2,
        adam_eps=o.adam_eps,
        clip_grad=o.clip_grad,
        use_distributed_optimizer=o.use_distributed_optimizer,
        use_precision_aware_optimizer=o.use_precision_aware_optimizer,
        bf16=precision.bf16,
    )


def ddp(cfg: RootConfig):
    """Data parallelism follows the optimizer: a distributed optimizer shards its state over the DP group."""
    from megatron.bridge.training.config import DistributedDataParallelConfig

    return DistributedDataParallelConfig(
        use_distributed_optimizer=cfg.optimizer.use_distributed_optimizer,
        grad_reduce_in_fp32=True,
        overlap_grad_reduce=True,
        overlap_param_gather=True,
        check_for_nan_in_grad=True,
        average_in_collective=True,
    )


def scheduler(cfg: RootConfig):
    """Weight decay stays constant at optimizer.weight_decay; lr decays over lr_decay_iters (default train_iters)."""
    from megatron.bridge.training.config import SchedulerConfig

    s = cfg.scheduler
    return SchedulerConfig(
        lr_decay_style=s.lr_decay_style,
        lr_warmup_iters=s.lr_warmup_iters,
        lr_decay_iters=s.lr_decay_iters if s.lr_decay_iters is not None else cfg.train.train_iters,
        start_weight_decay=cfg.optimizer.weight_decay,
        end_weight_decay=cfg.optimizer.weight_decay,
        weight_decay_incr_style="constant",
    )


def blend_json_path(cfg: RootConfig, ctx: StageContext) -> Path:
    """dataset.blend, else the upstream data prep artifact's blend.json."""
    if cfg.dataset.blend:
        return Path(cfg.dataset.blend)
    upstream = ctx.input_dir()
    if upstream is None:
        raise BridgeConfigError(
            "dataset.blend: no blend.json given and this stage has no upstream artifact; set "
            "dataset.blend=<data prep artifact>/blend.json, run.input=<artifact>, or dataset.mock=true"
        )
    return upstream / "blend.json"


def read_blend(path: Path) -> tuple[list[str], list[float]]:
    """(prefixes, weights) from data_prep.blend's blend.json: {"blend": [[prefix, ...], [weight, ...]], ...}."""
    if not path.is_file():
        raise BridgeConfigError(
            f"dataset.blend: {path} does not exist; run the data_prep stage or point dataset.blend at its blend.json"
        )
    try:
        prefixes, weights = json.loads(path.read_text())["blend"]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise BridgeConfigError(
            f"dataset.blend: {path} is not a data_prep.blend blend.json "
            f'({{"blend": [[prefix, ...], [weight, ...]]}}): {err}'
        ) from None
    if len(prefixes) != len(weights) or not prefixes:
        raise BridgeConfigError(
            f"dataset.blend: {path} has {len(prefixes)} prefixes and {len(weights)} weights; rerun data_prep.blend"
        )
    return [str(p) for p in prefixes], [float(w) for w in weights]


def pretraining_dataset(cfg: RootConfig, ctx: StageContext):
    """GPTDatasetConfig over the data prep blend, or Megatron's mock data with dataset.mock=true."""
    from megatron.bridge.training.config import GPTDatasetConfig, MockGPTDatasetConfig

    d = cfg.dataset
    # No attention mask from the data loader: causal and sliding-window masks are built inside the attention
    # kernel, and a materialised one is seq^2 bytes per sample (64 MiB at 8k, 16 GiB at 128k).
    common = dict(
        seq_length=d.sequence_length,
        random_seed=cfg.run.seed,
        split=d.split,
        num_workers=d.num_workers,
        reset_attention_mask=False,
        reset_position_ids=False,
        eod_mask_loss=False,
        create_attention_mask=False,
        dataloader_type="single",
        data_sharding=True,
    )
    if d.mock:
        return MockGPTDatasetConfig(**common)
    return GPTDatasetConfig(blend=read_blend(blend_json_path(cfg, ctx)), **common)


def validation_tokens(prefix: str, split_matrix) -> int:
    """Tokens in the validation documents of one prefix, by megatron-core's own split arithmetic (documents
    [round(b0 * n), round(b1 * n)) of split_matrix's validation bookends)."""
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    bookends = split_matrix[1]
    if bookends is None:
        return 0
    dataset = IndexedDataset(prefix)  # kept alive: sequence_lengths is a view of its memory map
    lengths = dataset.sequence_lengths
    begin, end = (int(round(b * float(len(lengths)))) for b in bookends)
    return int(lengths[begin:end].sum())


def check_validation_split(cfg: RootConfig, prefixes: list[str]) -> None:
    """Refuse, at job start (it reads the data), a blend with a validation share whose cut leaves some prefix no
    validation document while train.eval_iters > 0: megatron-core would loop forever drawing validation sequences
    from nothing."""
    from megatron.core.datasets.blended_megatron_dataset_config import (
        convert_split_vector_to_split_matrix,
        parse_and_normalize_split,
    )

    if not cfg.train.eval_iters:
        return
    split_matrix = convert_split_vector_to_split_matrix(parse_and_normalize_split(cfg.dataset.split))
    if split_matrix[1] is None:
        return  # no validation share: Bridge builds no validation set
    empty = [Path(prefix).name for prefix in prefixes if validation_tokens(prefix, split_matrix) == 0]
    if empty:
        raise BridgeConfigError(
            f"dataset.split={cfg.dataset.split}: the validation cut of {len(empty)} of {len(prefixes)} blend parts is "
            f"empty ({', '.join(empty[:4])}{', ...' if len(empty) > 4 else ''}); give validation a larger share, "
            "or train without validation: dataset.split=100,0,0 train.eval_iters=0"
        )


def finetuning_dataset(cfg: RootConfig, ctx: StageContext):
    """FinetuningDatasetConfig over data_prep.sft_format's packed.npy (Megatron-Bridge's packed SFT format).

    Packing happens in data prep, so dataset.packed_sequence must be true; there is no validation file.
    """
    from megatron.bridge.data.datasets.packed_sequence import PackedSequenceSpecs
    from megatron.bridge.training.config import FinetuningDatasetConfig

    d = cfg.dataset
    if not d.packed_sequence:
        raise BridgeConfigError(
            "dataset.packed_sequence: sft trains on data_prep.sft_format's packed.npy; set dataset.packed_sequence=true"
        )
    if not d.packed_data:
        raise BridgeConfigError(
            f"dataset.packed_data: sft needs the packed SFT data; set dataset.packed_data=<dir>/{PACKED_FILE}"
        )
    packed = Path(d.packed_data)
    packed = packed / PACKED_FILE if packed.suffix != ".npy" else packed
    specs = PackedSequenceSpecs(
        packed_sequence_size=d.sequence_length,
        packed_train_data_path=str(packed),
        pad_seq_to_mult=2 * cfg.model.context_parallel_size,
    )
    return FinetuningDatasetConfig(
        dataset_root=str(packed.parent),
        seq_length=d.sequence_length,
        seed=cfg.run.seed,
        num_workers=d.num_workers,
        packed_sequence_specs=specs,
        do_validation=False,
        do_test=False,
    )


def tokenizer(cfg: RootConfig):
    from megatron.bridge.training.tokenizers.config import TokenizerConfig

    return TokenizerConfig(tokenizer_type="HuggingFaceTokenizer", tokenizer_model=cfg.data.tokenizer)


def megatron_checkpoint(artifact_dir: Path) -> Path:
    """The Megatron checkpoint inside a megatron-payload artifact (hf_import, cpt, sft)."""
    return Path(artifact_dir) / "megatron"


def export_hf(cfg: RootConfig, ctx: StageContext) -> Path:
    """The trained checkpoint as a Hugging Face model in the artifact (`hf/`), with the config and tokenizer of
    model.hf_text_checkpoint (hf_import's text model), else of model.hf_id: what merge, RL and eval read."""
    from megatron.bridge import AutoBridge

    reference = cfg.model.hf_text_checkpoint or cfg.model.hf_id
    target = ctx.artifact_dir / "hf"
    AutoBridge.from_hf_pretrained(reference).export_ckpt(str(megatron_checkpoint(ctx.artifact_dir)), str(target))
    return target


def save_dir(cfg: RootConfig, ctx: StageContext) -> Path:
    """Where training saves and resumes: checkpoint.save, else the artifact's `megatron/`."""
    return Path(cfg.checkpoint.save) if cfg.checkpoint.save else megatron_checkpoint(ctx.artifact_dir)


def checkpoint(cfg: RootConfig, ctx: StageContext, stage: Stage):
    """Saves into the artifact (`megatron/`, the payload the next stage starts from) and resumes from there; sft
    starts from the upstream (cpt) artifact's checkpoint."""
    from megatron.bridge.training.config import CheckpointConfig

    c = cfg.checkpoint
    save = str(save_dir(cfg, ctx))
    pretrained = c.pretrained_checkpoint
    upstream = ctx.input_dir()
    if pretrained is None and stage == "sft" and upstream is not None:
        pretrained = str(megatron_checkpoint(upstream))
    return CheckpointConfig(
        save=save,
        load=c.load or save,
        pretrained_checkpoint=pretrained,
        save_interval=c.save_interval,
        ckpt_format=c.ckpt_format,
        async_save=c.async_save,
        most_recent_k=c.most_recent_k,
    )


@contextmanager
def stopped_early_is_not_done(cfg: RootConfig, ctx: StageContext, stage: Stage):
    """Megatron-Bridge ends a run stopped early (SIGTERM from Slurm's signal lead, train.exit_duration_in_mins) by
    saving a checkpoint and calling sys.exit(0). Inside a stage that would read as success with half a model: it
    becomes TrainingStopped instead (a failed attempt that cluster.retries requeues), naming where it resumes."""
    try:
        yield
    except SystemExit as stop:
        from recipes.artifacts.checkpoints import megatron_latest_iteration

        saved = save_dir(cfg, ctx)
        iteration = megatron_latest_iteration(saved)
        where = f"iteration {iteration} in {saved}" if iteration is not None else f"none yet in {saved}"
        raise TrainingStopped(
            f"{stage} stopped before train.train_iters={cfg.train.train_iters} (exit code "
            f"{stop.code}); newest checkpoint: {where}; run the stage again to resume from it "
            "(on Slurm, cluster.retries requeues it)"
        ) from None


def logger(cfg: RootConfig, ctx: StageContext):
    from megatron.bridge.training.config import LoggerConfig

    lg = cfg.logger
    return LoggerConfig(
        log_interval=lg.log_interval,
        tensorboard_dir=lg.tensorboard_dir or str(ctx.run_dir / "tensorboard"),
        wandb_project=lg.wandb_project,
        wandb_exp_name=lg.wandb_exp_name,
        mlflow_experiment=lg.mlflow_experiment,
    )


def use_prebuilt_dataset_helpers() -> None:
    """Let Megatron-Bridge start where megatron-core came from its wheel.

    Bridge 0.3.1's initialise step (megatron/bridge/training/initialize.py) runs megatron-core's compile_helpers(),
    which runs `make` in megatron/core/datasets/ and exits the job when make fails. The wheel ships the compiled
    `helpers_cpp` but no Makefile, so a wheel install failed there with nothing to build. Without a Makefile the
    compiled module is imported instead (a clear error if it is missing too); with one, make runs as before."""
    import importlib

    import megatron.bridge.training.initialize as initialize
    from megatron.core.datasets import utils

    build = utils.compile_helpers

    def compile_helpers() -> None:
        if (Path(utils.__file__).parent / "Makefile").exists():
            return build()
        try:
            importlib.import_module("megatron.core.datasets.helpers_cpp")
        except ImportError as err:
            raise RuntimeError(
                f"megatron-core's dataset helpers are neither compiled nor buildable (no Makefile in "
                f"{Path(utils.__file__).parent}): {err}; reinstall megatron-core"
            ) from err

    initialize.compile_helpers = compile_helpers
