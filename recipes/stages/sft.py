"""Stage sft: supervised fine-tuning on Megatron-Bridge (Gemma 3 chat template, assistant-only loss, packing).

`execute` builds the ConfigContainer (recipes/engines/bridge_config.py): the model starts from the upstream (cpt)
checkpoint
and trains on data_prep.sft_format's packed.npy (dataset.packed_data; a conversations JSONL is packed first) with
Megatron-Bridge's `pretrain` (what its `finetune` runs) and GPT forward step, then exports the result to Hugging Face
format (artifact
`hf/`, for merge, RL and eval). It runs only in the `train` container on GPUs; it has not yet been run on a GPU in
this repo. The container itself is built and validated on CPU by tests/bridge."""

from __future__ import annotations

import dataclasses

from recipes.core.schema import TRAINING_SECTIONS
from recipes.core.stage_context import StageContext, global_rank
from recipes.core.stage_specs import StageSpec


def packed_data(ctx: StageContext) -> str:
    """dataset.packed_data as a packed.npy: a conversations JSONL ({"messages": [...]}) is packed here first with
    the Gemma 3 chat template into sequences of dataset.sequence_length (data_prep.sft_format)."""
    from data_prep.sft_format import SFTFormatSettings, run

    path = ctx.cfg.dataset.packed_data
    if not path or not path.endswith(".jsonl"):
        return path
    settings = SFTFormatSettings(tokenizer=ctx.cfg.data.tokenizer, max_length=ctx.cfg.dataset.sequence_length)
    return run(settings, path, str(ctx.run_dir / "sft_data")).output


def execute(ctx: StageContext) -> None:
    from megatron.bridge.training.gpt_step import forward_step
    from megatron.bridge.training.pretrain import pretrain

    from recipes.engines.bridge_config import (
        build_config_container,
        export_hf,
        stopped_early_is_not_done,
        use_prebuilt_dataset_helpers,
    )
    from recipes.engines.exit_signal_trap import ExitSignalTrap

    use_prebuilt_dataset_helpers()
    packed = dataclasses.replace(ctx.cfg.dataset, packed_data=packed_data(ctx))
    cfg = dataclasses.replace(ctx.cfg, **{"dataset": packed})  # sft's own section, not one of RootConfig's fields
    container = build_config_container(cfg, ctx.run_dir, stage="sft")
    if container.checkpoint.pretrained_checkpoint is None and container.checkpoint.load is None:
        raise ValueError("sft starts from a checkpoint: set checkpoint.pretrained_checkpoint (or run it after cpt)")
    with stopped_early_is_not_done(cfg, ctx, "sft"):
        # Megatron-Bridge 0.3.1's `finetune` (training/finetune.py) is that check and then `pretrain` without
        # callbacks; pretrain takes the exit-signal trap.
        pretrain(container, forward_step, callbacks=[ExitSignalTrap()])
    # pretrain has torn its process group down; the export loads the checkpoint in one process of its own
    if global_rank() == 0:
        export_hf(ctx.cfg, ctx)


STAGE = StageSpec(
    name="sft",
    order=40,
    summary="supervised fine-tuning on Megatron-Bridge (chat template, assistant-only loss, packing)",
    engine="megatron_bridge",
    payload_kind="megatron",
    execute=execute,
    engine_modules=("megatron.bridge", "transformer_engine"),
    hf_export="hf",
    input_paths=(
        "checkpoint.pretrained_checkpoint",
        "dataset.blend",
        "dataset.packed_data",
        "model.hf_text_checkpoint",
    ),
    sections=TRAINING_SECTIONS,
)
