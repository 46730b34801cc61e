"""`python -m recipes.pipeline [overrides]`: every stage of `pipeline.stages`, chained.

Each stage is composed and preflighted before anything is submitted; then all go into one NeMo-Run experiment.
On Slurm each stage depends on the previous one (`afterok`; a failed stage cancels its dependants through
`--kill-on-invalid-dep`). Locally the stages run one after another; a stage that needs CUDA on a machine without
it is rendered, not run, and its dependants read the artifact of the nearest stage that did run.
With no overrides this is the smoke experiment on this machine: the real Gemma 3 270M and the sample corpus.
"""

from __future__ import annotations

import sys

from recipes.core.config import ConfigError, compose
from recipes.core.run_layout import StageDir
from recipes.core.stage_specs import stage_spec
from recipes.submit.cli import report_launch, run_command
from recipes.submit.launch import StageLaunch, prepare, submit


def plan_stages(overrides: list[str]) -> list[StageLaunch]:
    if any(o.lstrip("+~").startswith("stage=") for o in overrides):
        raise ConfigError("stage: the pipeline runs pipeline.stages; choose them with pipeline.stages=[a,b,...]")
    stages = list(compose(None, overrides).pipeline.stages)
    if not stages:
        raise ConfigError("pipeline.stages: empty; set it in the experiment or pass pipeline.stages=[...]")
    launches: list[StageLaunch] = []
    upstream: StageLaunch | None = None
    data_stage: StageLaunch | None = None  # a stage whose artifact is data for the next one (select), not its model
    user_input = any(o.startswith("run.input=") for o in overrides)
    user_eval_model = any(o.startswith("eval.model=") for o in overrides)
    for stage in stages:
        wiring = [f"run.upstream={upstream.name}"] if upstream and not user_input else []
        if stage == "eval" and upstream and not (user_input or user_eval_model):
            wiring += evaluate_upstream_export(upstream)
        parents = ([upstream.name] if upstream else []) + ([data_stage.name] if data_stage else [])
        launch = prepare(stage, overrides + wiring, parents=parents)
        launches.append(launch)
        data_stage = None
        if launch.runs_here and stage_spec(stage).keeps_upstream_model:
            data_stage = launch  # after select, clair answers with the model select read, and names select a parent
        elif launch.runs_here:
            upstream = launch
    return launches


def evaluate_upstream_export(upstream: StageLaunch) -> list[str]:
    """An eval after a Megatron stage evaluates the Hugging Face model that stage exports (sft's `artifact/hf`),
    not model.hf_id: the stage's own model source sees a Megatron payload upstream and falls back to the hub id.
    After a stage whose artifact is the Hugging Face model (merge, rl, apo) that model source already finds it."""
    spec = stage_spec(upstream.name)
    if spec.payload_kind != "megatron" or spec.hf_export is None:
        return []
    return [f"eval.model={StageDir(upstream.run_dir).artifact / spec.hf_export}"]


def main(argv: list[str] | None = None) -> int:
    def action(overrides: list[str]) -> int:
        launches = plan_stages(overrides)
        submission = submit(launches, dryrun=launches[0].cfg.launch.dryrun)
        report_launch(launches, submission)
        return 0

    return run_command("recipes.pipeline", __doc__.splitlines()[0], None, action, argv)


if __name__ == "__main__":
    sys.exit(main())
