"""The Slurm backend: every stage a NeMo-Run task on a SlurmExecutor, all in one experiment, each `afterok` the
previous one; a dry run renders their sbatch scripts and the chain (`pipeline_submit.sh`) instead.

NeMo-Run is the login node's alone (the `launcher` extra); images never carry it, so it is imported on use.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from recipes.core.config import REPO_ROOT, gpus_per_node
from recipes.core.run_layout import StageDir
from recipes.core.status import State, StatusRecord, read_status
from recipes.submit.backend import LaunchShape, StageLaunch, Submission, launch_shape, ranks_per_node


class SlurmBackend:
    def render(self, launches: list[StageLaunch]) -> dict[str, Path]:
        rendered: dict[str, Path] = {}
        with _experiment(launches) as exp:
            exp.dryrun(log=False, delete_exp_dir=False)
            for launch in launches:
                sbatch = Path(exp._exp_dir) / f"{launch.name}_sbatch.sh"
                if sbatch.exists():
                    target = StageDir(launch.run_dir).launch / "sbatch.sh"
                    target.parent.mkdir(exist_ok=True)
                    shutil.copyfile(sbatch, target)
                    rendered[launch.name] = target
        if len(launches) > 1:
            rendered["pipeline"] = write_chain(launches, rendered)
        return rendered

    def run(self, launches: list[StageLaunch]) -> Submission:
        # NeMo-Run does not follow the states of a job array's tasks: a chain with an array stage is submitted
        # detached (its afterok dependencies still hold on the cluster); follow it with `python -m recipes.status`.
        arrays = [launch.name for launch in launches if launch.cfg.stage.array]
        detach = launches[0].cfg.launch.detach or bool(arrays)
        if arrays and not launches[0].cfg.launch.detach:
            print(f"note: {', '.join(arrays)} run as a Slurm job array: submitted detached", flush=True)
        with _experiment(launches) as exp:
            exp.run(detach=detach)
        submission = Submission(launches, {})
        for launch in [] if detach else launches:
            submission.ended[launch.name] = final_status(launch)
            if submission.ended[launch.name].state is not State.SUCCEEDED:
                break
        return submission


def final_status(launch: StageLaunch, settle_s: float = 30.0, requeue_s: float = 300.0) -> StatusRecord:
    """The stage's own record once it is final.

    NeMo-Run may report a job finished before its record is visible here, and reports the first failed attempt
    of a job that Slurm then requeues (cluster.retries): wait for a final state, longer while retries remain.
    A stage cancelled before it started has no record (`not started`)."""
    retries = launch.cfg.cluster.retries

    def pending(status: StatusRecord) -> bool:
        return not status.state.ended or (
            status.state in (State.FAILED, State.STOPPED) and status.restart_count < retries
        )

    deadline = time.monotonic() + (requeue_s if retries else settle_s)
    status = read_status(launch.run_dir)
    while pending(status) and time.monotonic() < deadline:
        time.sleep(0.5)
        status = read_status(launch.run_dir)
    if status.state is State.RUNNING:  # a job that ended without recording it: recorded here, from sacct
        from recipes.submit.status import stage_status

        stage_status(launch.run_dir, tail=0)
        status = read_status(launch.run_dir)
    return status


def load_nemo_run():
    """NeMo-Run, which only the submitting side installs (the `launcher` extra); images never carry it."""
    try:
        import nemo_run as run
        import nemo_run.config  # noqa: F401  (USE_WITH_RAY_CLUSTER_KEY)
    except ModuleNotFoundError as err:
        raise SystemExit(
            f"submitting through NeMo-Run needs the launcher's packages ({err}): "
            "pip install -e '.[launcher]' on this (login) node"
        ) from err
    return run


@contextlib.contextmanager
def _experiment(launches: list[StageLaunch]) -> Iterator:
    """One NeMo-Run experiment holding every stage, each depending on the previous one, in
    `<launch.root>/<run.name>/.nemo_run` (where recipes.submit.status finds NeMo-Run's job ledger)."""
    home = launches[0].run_dir.parent / ".nemo_run"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NEMORUN_HOME", str(home))  # before NeMo-Run is imported: it reads it then
    os.environ.setdefault("COLUMNS", "250")  # NeMo-Run logs through rich: keep rendered lines unwrapped
    run = load_nemo_run()
    title = f"{launches[0].cfg.run.name}-{'-'.join(launch.name for launch in launches)}"
    # GitArchivePackager archives the repository of the working directory: the job runs the committed code.
    with (
        contextlib.chdir(REPO_ROOT),
        run.Experiment(title, base_dir=str(home), log_level="WARN", enable_goodbye_message=False) as exp,
    ):
        previous: str | None = None
        for launch in launches:
            deps = [previous] if previous else None
            previous = exp.add(task(launch), executor=executor(launch, home), name=launch.name, dependencies=deps)
        yield exp


def task(launch: StageLaunch):
    run = load_nemo_run()
    # Without a container image the job runs this Python (a venv on the shared filesystem, activated or not).
    image = launch.cfg.cluster.containers.get(launch.cfg.stage.container)
    ray = launch_shape(launch.cfg) is LaunchShape.RAY
    return run.Script(
        path="recipes.runtime.stage_runner",
        args=["--run-dir", str(launch.run_dir)],
        entrypoint="python" if image else sys.executable,
        m=True,
        metadata={run.config.USE_WITH_RAY_CLUSTER_KEY: True} if ray else {},
    )


def executor(launch: StageLaunch, nemorun_home: Path):
    """The SlurmExecutor (pyxis container when an image is set)."""
    run = load_nemo_run()

    cfg = launch.cfg
    c = cfg.cluster
    gpus = gpus_per_node(cfg)
    image = c.containers.get(cfg.stage.container)
    if c.tunnel.kind == "ssh":
        tunnel = run.SSHTunnel(
            host=c.tunnel.host, user=c.tunnel.user, identity=c.tunnel.identity, job_dir=c.tunnel.remote_dir
        )
    else:
        tunnel = run.LocalTunnel(job_dir=str(nemorun_home / "experiments"))
    # Secrets are never written: sbatch exports the submitting environment to the job, and pyxis passes it on.
    secrets_note = f"# secrets passed by name from the submitting environment: {' '.join(c.secrets)}"
    return run.SlurmExecutor(
        account=c.account,  # None: the cluster's default account (no --account line)
        job_name_prefix=f"{cfg.run.name}.",
        partition=c.partition,
        qos=c.qos,
        time=cfg.stage.time,
        nodes=cfg.stage.nodes,
        ntasks_per_node=ranks_per_node(cfg) or 1,
        gpus_per_node=gpus or None,
        exclusive=c.exclusive or None,
        array=cfg.stage.array,
        container_image=image,
        container_mounts=list(c.container_mounts) + [f"{cfg.launch.root}:{cfg.launch.root}"] if image else [],
        env_vars=dict(c.env),
        retries=c.retries,
        signal=f"TERM@{c.signal_lead_s}",
        # A dependant of a failed stage is cancelled instead of pending forever (afterok never satisfied).
        additional_parameters={"kill_on_invalid_dep": "yes"},
        srun_args=list(c.srun_args) or None,
        setup_lines="\n".join([secrets_note, *c.setup_lines]),
        tunnel=tunnel,
        packager=run.GitArchivePackager() if image else run.Packager(),
    )


def write_chain(launches: list[StageLaunch], rendered: dict[str, Path]) -> Path:
    """The dependency chain NeMo-Run would submit, as a script: each sbatch afterok the previous one (NeMo-Run adds
    dependencies only when it submits, so its dry run shows none)."""
    lines = [
        "#!/usr/bin/env bash",
        "# Rendered by recipes.submit.slurm_backend (dryrun): submits the stages in order, each "
        "after the previous one succeeded.",
        "set -euo pipefail",
    ]
    previous = None
    for launch in launches:
        var = f"job_{launch.name}"
        dep = f" --dependency=afterok:${previous}" if previous else ""
        lines.append(f"{var}=$(sbatch --parsable --requeue{dep} {shlex.quote(str(rendered[launch.name]))})")
        lines.append(f'echo "{launch.name}: ${var}"')
        previous = var
    target = launches[0].run_dir.parent / "pipeline_submit.sh"
    target.write_text("\n".join(lines) + "\n")
    return target
