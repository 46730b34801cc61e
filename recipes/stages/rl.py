"""Stage rl: online RL with Dr. GRPO (the card's "DRGPPO") on NeMo-RL, in a Ray cluster inside the Slurm allocation.

At launch the composed config is rendered as NeMo-RL's own config (`launch/nemo_rl.yaml`, recipes.engines.nemo_rl_config);
the job concatenates rl.datasets into the training file, less `rl.val_prompts` held-out prompts for validation, and
runs NeMo-RL's GRPO with the Dr. GRPO loss (recipes.posttrain.nemo_rl_entry) in the `rl` container."""

from __future__ import annotations

from pathlib import Path

from recipes.core.config import gpus_per_node
from recipes.core.run_layout import StageDir
from recipes.core.stage_context import StageContext
from recipes.engines import nemo_rl_config


def render(ctx: StageContext) -> None:
    for dataset in ctx.cfg.rl.datasets:
        nemo_rl_config.stage_input(ctx.cfg, ctx.run_dir, dataset["path"])
    model = nemo_rl_config.stage_input(ctx.cfg, ctx.run_dir, ctx.model_source())
    config = nemo_rl_config.render_grpo(ctx.cfg, model, ctx.run_dir, gpus_per_node(ctx.cfg))
    nemo_rl_config.write(config, ctx.run_dir)


def execute(ctx: StageContext) -> None:
    from recipes.engines.nemo_rl_config import RL_ENVIRONMENTS, unknown_rl_environments
    from recipes.posttrain import nemo_rl_entry
    from recipes.posttrain.holdout import split_jsonl

    unknown = [ctx.cfg.rl.datasets[i]["name"] for i in unknown_rl_environments(ctx.cfg.rl.datasets)]
    if unknown:
        raise ValueError(f"rl.datasets {unknown}: unknown reward environment; use one of {sorted(RL_ENVIRONMENTS)}")
    rl = ctx.cfg.rl
    sources = [Path(nemo_rl_config.job_input(ctx.run_dir, dataset["path"])) for dataset in rl.datasets]
    if nemo_rl_config.mixed(rl):  # the math rows carry NeMo-RL's math prompt themselves
        prompt, data = nemo_rl_config.math_prompt_file(rl), ctx.run_dir / "data"
        sources = [
            nemo_rl_config.with_math_prompt(source, prompt, data / f"{dataset['name']}.prompted.jsonl")
            if dataset["env"] == "math"
            else source
            for source, dataset in zip(sources, rl.datasets)
        ]
    split_jsonl(
        sources,
        nemo_rl_config.train_data_path(ctx.run_dir),
        nemo_rl_config.val_data_path(ctx.run_dir),
        held_out=rl.val_prompts,
        min_train=rl.prompts_per_step,
        seed=ctx.cfg.run.seed,
        field="rl.val_prompts",
    )
    nemo_rl_entry.run("grpo", StageDir(ctx.run_dir).launch / nemo_rl_config.RENDERED_NAME, ctx.artifact_dir)
