"""Stage rl: online RL with Dr. GRPO (the card's "DRGPPO") on NeMo-RL, in a Ray cluster inside the Slurm allocation.

At launch the composed config is rendered as NeMo-RL's own config (`launch/nemo_rl.yaml`,
recipes.engines.nemo_rl_config);
the job concatenates rl.datasets into the training file, less `rl.val_prompts` held-out prompts for validation, and
runs NeMo-RL's GRPO with the Dr. GRPO loss (recipes.posttrain.nemo_rl_entry) in the `rl` container."""

from __future__ import annotations

from pathlib import Path

from recipes.core.config import gpus_per_node
from recipes.core.findings import Finding
from recipes.core.run_layout import StageDir
from recipes.core.schema import LoggerConfig, RLConfig, RootConfig
from recipes.core.stage_context import StageContext
from recipes.core.stage_specs import StageSpec
from recipes.engines import nemo_rl_config
from recipes.engines.nemo_rl_config import RL_ENVIRONMENTS, unknown_rl_environments
from recipes.stages.checks import divisors, held_out_leaves_a_step, requested_gpus


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


def check_rl(cfg: RootConfig) -> list[Finding]:
    """NeMo-RL's GRPO trains on every rollout of a step: prompts x generations must fill the global batch, and
    a group of one has no baseline."""
    rl, out = cfg.rl, []
    if rl.algorithm not in ("dr_grpo", "grpo"):
        out.append(Finding("rl.algorithm", f"unknown algorithm {rl.algorithm!r}", "use dr_grpo or grpo"))
    if rl.generations_per_prompt < 2:
        out.append(
            Finding(
                "rl.generations_per_prompt",
                "a group of one answer has no baseline (advantage 0)",
                "sample at least 2 answers per prompt (the card's regime: 16)",
            )
        )
    rollouts = rl.prompts_per_step * rl.generations_per_prompt
    if rollouts != rl.train_global_batch_size:
        out.append(
            Finding(
                "rl.train_global_batch_size",
                f"{rl.train_global_batch_size} != prompts_per_step x generations_per_prompt = {rollouts}",
                f"set rl.train_global_batch_size={rollouts}",
            )
        )
    gpus = requested_gpus(cfg)
    tp = rl.generation_tensor_parallel_size
    if gpus and (gpus % tp or cfg.model.num_attention_heads % tp):
        out.append(
            Finding(
                "rl.generation_tensor_parallel_size",
                f"vLLM TP={tp} must divide the {gpus} GPUs and the {cfg.model.num_attention_heads} heads",
                f"use one of {[d for d in divisors(cfg.model.num_attention_heads) if gpus % d == 0]}",
            )
        )
    for i in unknown_rl_environments(rl.datasets):
        out.append(
            Finding(
                f"rl.datasets[{i}].env",
                f"{rl.datasets[i].get('env')!r} is not a reward environment",
                f"use one of {sorted(RL_ENVIRONMENTS)}",
            )
        )
    if rl.backend not in ("dtensor", "megatron"):
        out.append(Finding("rl.backend", f"unknown backend {rl.backend!r}", "use dtensor or megatron"))
    elif rl.backend == "dtensor" and cfg.model.pipeline_model_parallel_size > 1:
        out.append(
            Finding(
                "model.pipeline_model_parallel_size",
                "NeMo-RL's DTensor backend has no pipeline parallelism",
                "set model.pipeline_model_parallel_size=1 or rl.backend=megatron",
            )
        )
    if not rl.datasets:
        out.append(
            Finding(
                "rl.datasets",
                "empty: the job would have no prompts to train on",
                "list {name, path, env} entries, each a JSONL written by `python -m data_prep.rl_data "
                "<deepmath|nemotron_if> <hf_id or files> <path>` (sealion_v4_27b_rl lists the card's two)",
            )
        )
    else:
        out += held_out_leaves_a_step(
            "rl.val_prompts", rl.val_prompts, [d.get("path") for d in rl.datasets], rl.prompts_per_step, "prompts"
        )
    return out


STAGE = StageSpec(
    name="rl",
    order=60,
    summary="online RL with Dr. GRPO on NeMo-RL",
    engine="nemo_rl",
    payload_kind="hf",
    execute=execute,
    render=render,
    checks=(check_rl,),
    engine_modules=("nemo_rl",),
    hf_export=".",
    sections={"rl": RLConfig, "logger": LoggerConfig},  # NeMo-RL's logger reads Bridge's logger section
)
