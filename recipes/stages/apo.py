"""Stage apo: on-policy alignment with APO (anchored preference optimisation) on CLAIR revision pairs, as NeMo-RL
DPO with the APO loss (recipes.posttrain.preference_loss), in the `rl` container.

The pairs come from `python -m data_prep.clair` run with the rl stage's model as the policy (apo.pairs); the job
holds `apo.val_pairs` of them out for NeMo-RL's validation."""

from __future__ import annotations

from pathlib import Path

from recipes.core.config import gpus_per_node
from recipes.core.findings import Finding
from recipes.core.run_layout import StageDir
from recipes.core.schema import APOConfig, LoggerConfig, RootConfig
from recipes.core.stage_context import StageContext
from recipes.core.stage_specs import StageSpec
from recipes.engines import nemo_rl_config
from recipes.stages.checks import held_out_leaves_a_step


def pairs_path(ctx: StageContext) -> Path:
    if ctx.cfg.apo.pairs:
        return Path(nemo_rl_config.job_input(ctx.run_dir, ctx.cfg.apo.pairs))
    return ctx.run_dir / "data" / "pairs.jsonl"


def render(ctx: StageContext) -> None:
    if ctx.cfg.apo.pairs:
        nemo_rl_config.stage_input(ctx.cfg, ctx.run_dir, ctx.cfg.apo.pairs)
    model = nemo_rl_config.stage_input(ctx.cfg, ctx.run_dir, ctx.model_source())
    config = nemo_rl_config.render_apo(ctx.cfg, model, ctx.run_dir, gpus_per_node(ctx.cfg))
    nemo_rl_config.write(config, ctx.run_dir)


def execute(ctx: StageContext) -> None:
    from recipes.posttrain import nemo_rl_entry
    from recipes.posttrain.holdout import split_jsonl

    pairs = pairs_path(ctx)
    if not pairs.is_file():
        raise FileNotFoundError(
            f"apo.pairs: no preference pairs at {pairs}; generate them with "
            "`python -m data_prep.clair` from the rl model and set apo.pairs=<pairs.jsonl>"
        )
    apo = ctx.cfg.apo
    split_jsonl(
        [pairs],
        nemo_rl_config.train_data_path(ctx.run_dir),
        nemo_rl_config.val_data_path(ctx.run_dir),
        held_out=apo.val_pairs,
        min_train=apo.global_batch_size,
        seed=ctx.cfg.run.seed,
        field="apo.val_pairs",
    )
    nemo_rl_entry.run("dpo", StageDir(ctx.run_dir).launch / nemo_rl_config.RENDERED_NAME, ctx.artifact_dir)


def check_apo(cfg: RootConfig) -> list[Finding]:
    apo = cfg.apo
    if apo.loss not in ("apo_zero", "apo_down", "sigmoid"):
        return [Finding("apo.loss", f"unknown loss {apo.loss!r}", "use apo_zero, apo_down or sigmoid")]
    if apo.pairs is None:
        return []  # the upstream clair stage's pairs.jsonl, written by the job before this one
    return held_out_leaves_a_step("apo.val_pairs", apo.val_pairs, [apo.pairs], apo.global_batch_size, "pairs")


STAGE = StageSpec(
    name="apo",
    order=90,
    summary="anchored preference optimisation on CLAIR pairs on NeMo-RL",
    engine="nemo_rl",
    payload_kind="hf",
    execute=execute,
    render=render,
    checks=(check_apo,),
    engine_modules=("nemo_rl",),
    hf_export=".",
    input_paths=("apo.pairs",),
    sections={"apo": APOConfig, "logger": LoggerConfig},
)
