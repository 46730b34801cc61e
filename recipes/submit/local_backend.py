"""The local backend: each stage as a child process tree of the launcher (recipes.runtime.local_job), one after
another; the first that does not succeed stops the rest (its dependants).

Not NeMo-Run's LocalExecutor, whose jobs run in sessions of their own that Ctrl-C and the launcher's death do not
reach. A stage that needs CUDA on a machine without it is rendered (`launch/command.sh`) and not run.
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
from pathlib import Path

from recipes.core.config import REPO_ROOT
from recipes.core.run_layout import StageDir
from recipes.core.status import State
from recipes.runtime import local_job
from recipes.stages import stage as stage_spec
from recipes.submit import preflight
from recipes.submit.backend import LaunchShape, StageLaunch, Submission, launch_shape, ranks_per_node


class LocalBackend:
    def render(self, launches: list[StageLaunch]) -> dict[str, Path]:
        return {launch.name: write_command(launch) for launch in launches}

    def run(self, launches: list[StageLaunch]) -> Submission:
        submission = Submission(launches, self.render(launches))
        runnable = [launch for launch in launches if launch.runs_here]
        check_engines(runnable)
        for launch in runnable:
            cmd = local_job.command(launch.run_dir, ranks_per_node(launch.cfg))
            status = local_job.run(
                cmd, launch.run_dir, dict(launch.cfg.cluster.env), launch.cfg.cluster.signal_lead_s, REPO_ROOT
            )
            submission.ended[launch.name] = status
            if status.state is not State.SUCCEEDED:
                break
        return submission


def write_command(launch: StageLaunch) -> Path:
    """`launch/command.sh`: the stage's job as a command for whichever machine has what it needs."""
    target = StageDir(launch.run_dir).launch / "command.sh"
    target.parent.mkdir(exist_ok=True)
    runner = ["-m", "recipes.runtime.stage_runner", "--run-dir", str(launch.run_dir)]
    if launch_shape(launch.cfg) is LaunchShape.PROCESS_PER_GPU:
        # "gpu": torchrun counts the GPUs of the machine that runs it (rendered on a machine without one)
        cmd = ["torchrun", "--standalone", f"--nproc-per-node={ranks_per_node(launch.cfg) or 'gpu'}", *runner]
    else:
        cmd = ["python", *runner]
    target.write_text(
        "#!/usr/bin/env bash\n# Rendered by recipes.submit.local_backend: run this stage on a machine that has "
        "what it needs.\nset -euo pipefail\n" + shlex.join(cmd) + "\n"
    )
    return target


def check_engines(launches: list[StageLaunch]) -> None:
    """Before anything runs here: each stage's engine (its StageSpec's engine_modules) must import in this Python,
    which local jobs run in. On a cluster the stage's image provides it."""
    missing = []
    for launch in launches:
        absent = [
            name
            for name in stage_spec(launch.name).engine_modules
            if importlib.util.find_spec(name.split(".")[0]) is None or importlib.util.find_spec(name) is None
        ]
        if absent:
            image = launch.cfg.stage.container
            missing.append(
                preflight.Finding(
                    "stage.container",
                    f"stage {launch.name} needs {', '.join(absent)}, which this Python ({sys.executable}) lacks",
                    f"run it inside the {image} image (containers/{image}.Dockerfile) or on a cluster "
                    "(cluster=slurm), or install them here",
                )
            )
    if missing:
        raise preflight.PreflightError(missing)
