"""`python -m recipes.pipeline [overrides]`: every stage of `pipeline.stages`, chained.

Each stage is composed and preflighted before anything is submitted; then all go into one NeMo-Run experiment.
On Slurm each stage depends on the previous one (`afterok`; a failed stage cancels its dependants through
`--kill-on-invalid-dep`). Locally the stages run one after another; a stage that needs CUDA on a machine without
it is rendered, not run, and its dependants read the artifact of the nearest stage that did run.
With no overrides this is the smoke experiment on this machine: the real Gemma 3 270M and the sample corpus.
"""

from __future__ import annotations

import sys

from recipes.core.config import ConfigError
from recipes.core.stage_specs import StageSpec
from recipes.stages import compose_tree, stage
from recipes.submit.cli import report_launch, run_command
from recipes.submit.launch import StageLaunch, prepare, submit


def plan_stages(overrides: list[str]) -> list[StageLaunch]:
    if any(o.lstrip("+~").startswith("stage=") for o in overrides):
        raise ConfigError("stage: the pipeline runs pipeline.stages; choose them with pipeline.stages=[a,b,...]")
    stages = list(compose_tree(overrides).pipeline.stages)
    if not stages:
        raise ConfigError("pipeline.stages: empty; set it in the experiment or pass pipeline.stages=[...]")
    specs = [stage(name) for name in stages]  # an unknown name fails here, before anything is written
    launches: list[StageLaunch] = []
    upstream: StageLaunch | None = None
    data_stage: StageLaunch | None = None  # a stage whose artifact is data for the next one (select), not its model
    for spec in specs:
        wiring = upstream_wiring(spec, upstream, overrides)
        parents = ([upstream.name] if upstream else []) + ([data_stage.name] if data_stage else [])
        launch = prepare(spec.name, overrides + wiring, parents=parents, pipeline=stages)
        launches.append(launch)
        data_stage = None
        if launch.runs_here and spec.keeps_upstream_model:
            data_stage = launch  # after select, clair answers with the model select read, and names select a parent
        elif launch.runs_here:
            upstream = launch
    return launches


def upstream_wiring(spec: StageSpec, upstream: StageLaunch | None, overrides: list[str]) -> list[str]:
    """run.upstream=<the previous stage that runs here>, and what the stage's spec adds given that stage
    (`upstream_overrides`), unless the user set run.input or the same keys."""
    given = {o.lstrip("+~").partition("=")[0] for o in overrides}
    if upstream is None or "run.input" in given:
        return []
    hook = spec.upstream_overrides
    added = hook(stage(upstream.name), upstream.run_dir) if hook else []
    return [f"run.upstream={upstream.name}"] + [o for o in added if o.lstrip("+~").partition("=")[0] not in given]


def main(argv: list[str] | None = None, prog: str = "python -m recipes.pipeline") -> int:
    def action(overrides: list[str]) -> int:
        launches = plan_stages(overrides)
        submission = submit(launches, dryrun=launches[0].cfg.launch.dryrun)
        report_launch(launches, submission)
        return 0

    return run_command(prog, __doc__.splitlines()[0], None, action, argv)


if __name__ == "__main__":
    sys.exit(main())
