"""Stage cpt: continued pre-training of Gemma 3 on Megatron-Bridge (megatron-core + Transformer Engine).

`execute` builds the ConfigContainer (recipes/engines/bridge_config.py) over the data prep blend and calls
Megatron-Bridge's
`pretrain` with its GPT forward step, and with per-language validation (recipes/engines/language_validation.py) unless
dataset.validation_per_language=false or the data is mock. It runs only in the `train` container on GPUs (one process
per GPU, launched
by the stage's executor); it has not yet been run on a GPU in this repo. The container itself is built and
validated on CPU by tests/bridge."""

from __future__ import annotations

from recipes.core.schema import TRAINING_SECTIONS
from recipes.core.stage_context import StageContext
from recipes.core.stage_specs import StageSpec


def execute(ctx: StageContext) -> None:
    from megatron.bridge.training.gpt_step import forward_step
    from megatron.bridge.training.pretrain import pretrain

    from recipes.engines.bridge_config import (
        blend_json_path,
        build_config_container,
        check_validation_split,
        stopped_early_is_not_done,
        use_prebuilt_dataset_helpers,
    )
    from recipes.engines.exit_signal_trap import ExitSignalTrap
    from recipes.engines.language_validation import LanguageValidation, language_blends

    use_prebuilt_dataset_helpers()
    container = build_config_container(ctx.cfg, ctx.run_dir, stage="cpt")
    dataset = ctx.cfg.dataset
    callbacks = [ExitSignalTrap()]
    if not dataset.mock:
        check_validation_split(ctx.cfg, container.dataset.blend[0])
        if dataset.validation_per_language:
            callbacks.append(LanguageValidation(language_blends(blend_json_path(ctx.cfg, ctx)), forward_step))
    with stopped_early_is_not_done(ctx.cfg, ctx, "cpt"):
        pretrain(container, forward_step, callbacks=callbacks)


STAGE = StageSpec(
    name="cpt",
    order=30,
    summary="continued pre-training of Gemma 3 on Megatron-Bridge",
    engine="megatron_bridge",
    payload_kind="megatron",
    execute=execute,
    engine_modules=("megatron.bridge", "transformer_engine"),
    input_paths=("checkpoint.pretrained_checkpoint", "dataset.blend"),
    sections=TRAINING_SECTIONS,
)
