"""From composed configs to NeMo-Run tasks and Slurm executors, or local child processes: render (dryrun) or run.

The launcher knows nothing about what a stage does: every job runs `python -m recipes.runtime.stage_runner --run-dir DIR`,
which reads DIR/resolved.yaml. A run directory holds resolved.yaml, manifest.json, the rendered launch
(sbatch script or local command), NeMo-Run's experiment files and, once the stage ran, its artifact.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from omegaconf import OmegaConf

from recipes.artifacts import manifest
from recipes.core.config import REPO_ROOT, gpus_per_node, to_object
from recipes.core.run_layout import StageDir
from recipes.core.schema import RootConfig
from recipes.stages import compose, stage_context
from recipes.stages import stage as stage_spec
from recipes.submit import preflight, run_lock


@dataclass
class StageLaunch:
    """One stage, composed and checked, with its run directory written."""

    cfg: RootConfig
    run_dir: Path
    report: preflight.PlanReport

    @property
    def name(self) -> str:
        return self.cfg.stage.name

    @property
    def runs_here(self) -> bool:
        """False where the stage needs CUDA and this machine has none (it is then rendered, not run)."""
        return (
            self.cfg.cluster.executor != "local" or not self.cfg.stage.needs_gpu or self.cfg.cluster.gpus_per_node > 0
        )


def run_dir_of(cfg: RootConfig) -> Path:
    return Path(cfg.launch.root).resolve() / cfg.run.name / cfg.stage.name


def prepare(stage: str | None, overrides: list[str], parents: list[str] = (), pipeline: list[str] = ()) -> StageLaunch:
    """Compose, preflight, and write resolved.yaml + manifest.json. Raises ConfigError / PreflightError.
    `pipeline`: the stages launched with it, whose sections the overrides may set."""
    raw = compose(stage, overrides, pipeline)
    resolve_source_paths(raw)
    cfg = to_object(raw)
    local_gpu_stage_without_gpu = (
        cfg.cluster.executor == "local" and cfg.stage.needs_gpu and cfg.cluster.gpus_per_node == 0
    )
    report = preflight.plan(cfg)
    errors = [f for f in report.errors if not (local_gpu_stage_without_gpu and f.field == "stage.nodes")]
    if errors:
        raise preflight.PreflightError(errors)
    run_dir = run_dir_of(cfg)
    try:  # before anything is written there: one live launcher per run directory
        run_lock.hold(run_dir)
    except run_lock.RunDirBusy as err:
        raise preflight.PreflightError(
            [
                preflight.Finding(
                    "run.name", str(err), "wait for that run to end, or launch under another run.name or launch.root"
                )
            ]
        ) from None
    from recipes.submit.status import settle_abandoned

    settle_abandoned(run_dir, "a new launch took its run lock, which no launcher held")  # the last attempt's end
    resolved = OmegaConf.to_container(raw, resolve=True)
    resolved = manifest.redact(resolved, cfg.cluster.secrets)
    StageDir(run_dir).resolved.write_text(yaml.safe_dump(resolved, sort_keys=False))
    manifest.write(
        StageDir(run_dir).manifest, manifest.build(resolved, list(overrides), list(parents)), cfg.cluster.secrets
    )
    # A stage whose engine reads its own config format renders it now, so a dry run shows what the job will run.
    render = stage_spec(cfg.stage.name).render
    if render is not None:
        render(stage_context(cfg, run_dir))
    return StageLaunch(cfg=cfg, run_dir=run_dir, report=report)


def resolve_source_paths(raw) -> None:
    """Relative data.sources paths made absolute from where the launcher runs, once, at submission: the job runs
    from the repository root (or on another node), where a relative path would name something else. A path that
    matches nothing here (a hub dataset id, a path only the cluster has) is left as it is, for check_paths."""
    for source in raw.data.sources:
        path = str(source.get("path") or "")
        if path and not os.path.isabs(path) and not path.startswith("~") and glob.glob(path):
            source.path = os.path.abspath(path)


def torchrun_ranks(cfg: RootConfig) -> int:
    """GPUs a local Megatron-Bridge stage trains on, one torchrun process each; 0 for every other stage (one plain
    process) and where this machine has no GPU."""
    return gpus_per_node(cfg) if stage_spec(cfg.stage.name).engine == "megatron_bridge" else 0


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


def task(launch: StageLaunch):
    run = load_nemo_run()
    USE_WITH_RAY_CLUSTER_KEY = run.config.USE_WITH_RAY_CLUSTER_KEY

    # NeMo-RL stages run inside a Ray cluster spanning the allocation: NeMo-Run's Ray-on-Slurm template starts
    # the head and workers, then runs the command on the head node.
    ray = stage_spec(launch.name).engine == "nemo_rl" and launch.cfg.cluster.executor == "slurm"
    # Without a container image the job runs this Python (a venv on the shared filesystem, activated or not).
    image = launch.cfg.cluster.containers.get(launch.cfg.stage.container)
    return run.Script(
        path="recipes.runtime.stage_runner",
        args=["--run-dir", str(launch.run_dir)],
        entrypoint="python" if image else sys.executable,
        m=True,
        metadata={USE_WITH_RAY_CLUSTER_KEY: True} if ray else {},
    )


def executor(launch: StageLaunch, nemorun_home: Path):
    """The SlurmExecutor (pyxis container when an image is set); local stages run through recipes.runtime.local_job."""
    run = load_nemo_run()

    cfg = launch.cfg
    c = cfg.cluster
    env = dict(c.env)
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
        ntasks_per_node=gpus if gpus and stage_spec(cfg.stage.name).engine == "megatron_bridge" else 1,
        gpus_per_node=gpus or None,
        exclusive=c.exclusive or None,
        array=cfg.stage.array,
        container_image=image,
        container_mounts=list(c.container_mounts) + [f"{cfg.launch.root}:{cfg.launch.root}"] if image else [],
        env_vars=env,
        retries=c.retries,
        signal=f"TERM@{c.signal_lead_s}",
        # A dependant of a failed stage is cancelled instead of pending forever (afterok never satisfied).
        additional_parameters={"kill_on_invalid_dep": "yes"},
        srun_args=list(c.srun_args) or None,
        setup_lines="\n".join([secrets_note, *c.setup_lines]),
        tunnel=tunnel,
        packager=run.GitArchivePackager() if image else run.Packager(),
    )


@dataclass
class Submission:
    launches: list[StageLaunch]
    rendered: dict[str, Path]  # stage -> rendered launch file
    experiment_dir: Path | None = None


def submit(launches: list[StageLaunch], dryrun: bool, chain: bool = True) -> Submission:
    """Add every stage to one NeMo-Run experiment (each depending on the previous when chained) and run it.

    With dryrun, the sbatch scripts (Slurm) or commands (local) are rendered into each run directory instead.
    Stages that need CUDA on a local machine without it are rendered and skipped, with a message.
    """
    os.environ.setdefault("COLUMNS", "250")  # NeMo-Run logs through rich: keep rendered lines unwrapped
    first = launches[0]
    home = first.run_dir.parent / ".nemo_run"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NEMORUN_HOME", str(home))
    title = f"{first.cfg.run.name}-{'-'.join(launch.name for launch in launches)}"
    rendered: dict[str, Path] = {}
    runnable = [launch for launch in launches if launch.runs_here]
    for launch in launches:
        if not launch.runs_here or launch.cfg.cluster.executor == "local":
            rendered[launch.name] = _write_local_command(launch)
    if not runnable:
        return Submission(launches, rendered)
    if runnable[0].cfg.cluster.executor == "local":
        if dryrun:  # the commands are rendered above
            return Submission(launches, rendered)
        check_local_engines(runnable)
        return _run_locally(runnable, launches, rendered)
    # GitArchivePackager archives the repository of the working directory: the job runs the committed code.
    with contextlib.chdir(REPO_ROOT), _experiment(title, home) as exp:
        previous: str | None = None
        for launch in runnable:
            deps = [previous] if (chain and previous) else None
            previous = exp.add(task(launch), executor=executor(launch, home), name=launch.name, dependencies=deps)
        exp_dir = Path(exp._exp_dir)
        if dryrun:
            exp.dryrun(log=False, delete_exp_dir=False)
            for launch in runnable:
                sbatch = exp_dir / f"{launch.name}_sbatch.sh"
                if sbatch.exists():
                    target = StageDir(launch.run_dir).launch / "sbatch.sh"
                    target.parent.mkdir(exist_ok=True)
                    shutil.copyfile(sbatch, target)
                    rendered[launch.name] = target
            if chain and len(runnable) > 1:
                rendered["pipeline"] = _write_chain(runnable, rendered)
        else:
            # NeMo-Run does not follow the states of a job array's tasks: a chain with an array stage is submitted
            # detached (its afterok dependencies still hold on the cluster); follow it with `python -m recipes.status`.
            arrays = [launch.name for launch in runnable if launch.cfg.stage.array]
            detach = first.cfg.launch.detach or bool(arrays)
            if arrays and not first.cfg.launch.detach:
                print(f"note: {', '.join(arrays)} run as a Slurm job array: submitted detached", flush=True)
            exp.run(detach=detach)
            if not detach:
                _raise_first_failure(runnable)
    return Submission(launches, rendered, exp_dir)


def _raise_first_failure(launches: list[StageLaunch], settle_s: float = 30.0, requeue_s: float = 300.0) -> None:
    """Raise StageFailed for the first stage whose own record does not say it succeeded.

    NeMo-Run may report a job finished before its record is visible here, and reports the first failed attempt
    of a job that Slurm then requeues (cluster.retries): wait for a final state, longer while retries remain.
    A stage cancelled before it started has no record ("not started")."""
    from recipes.runtime.stage_runner import read_status

    def pending(status: dict, retries: int) -> bool:
        return status["state"] in ("running", "not started") or (
            status["state"] in ("failed", "stopped") and status.get("restart_count", 0) < retries
        )

    for launch in launches:
        retries = launch.cfg.cluster.retries
        deadline = time.monotonic() + (requeue_s if retries else settle_s)
        status = read_status(launch.run_dir)
        while pending(status, retries) and time.monotonic() < deadline:
            time.sleep(0.5)
            status = read_status(launch.run_dir)
        if status["state"] == "running":  # a job that ended without recording it: recorded here, from sacct
            from recipes.submit.status import stage_status

            stage_status(launch.run_dir, tail=0)
            status = read_status(launch.run_dir)
        if status["state"] != "succeeded":
            raise StageFailed(launch.name, launch.run_dir, status.get("error", status["state"]))


def _experiment(title: str, home: Path):
    run = load_nemo_run()

    return run.Experiment(title, base_dir=str(home), log_level="WARN", enable_goodbye_message=False)


def check_local_engines(launches: list[StageLaunch]) -> None:
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


def _run_locally(runnable: list[StageLaunch], launches: list[StageLaunch], rendered: dict[str, Path]) -> Submission:
    """One stage after another as a child process tree of this one (recipes.runtime.local_job, not NeMo-Run's
    LocalExecutor, whose jobs run in sessions of their own that Ctrl-C and the launcher's death do not reach);
    the first stage that does not succeed stops the rest (its dependants)."""
    from recipes.runtime import local_job

    for launch in runnable:
        cmd = local_job.command(launch.run_dir, torchrun_ranks(launch.cfg))
        status = local_job.run(
            cmd, launch.run_dir, dict(launch.cfg.cluster.env), launch.cfg.cluster.signal_lead_s, REPO_ROOT
        )
        if status["state"] != "succeeded":
            raise StageFailed(launch.name, launch.run_dir, status.get("error", status["state"]))
    return Submission(launches, rendered)


class StageFailed(Exception):
    def __init__(self, stage: str, run_dir: Path, error: str):
        super().__init__(f"stage {stage} failed: {error} (logs: {run_dir})")


def _write_chain(launches: list[StageLaunch], rendered: dict[str, Path]) -> Path:
    """The dependency chain NeMo-Run would submit, as a script: each sbatch afterok the previous one."""
    lines = [
        "#!/usr/bin/env bash",
        "# Rendered by recipes.submit.launch (dryrun): submits the stages in order, each "
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


def _write_local_command(launch: StageLaunch) -> Path:
    target = StageDir(launch.run_dir).launch / "command.sh"
    target.parent.mkdir(exist_ok=True)
    runner = ["-m", "recipes.runtime.stage_runner", "--run-dir", str(launch.run_dir)]
    if stage_spec(launch.name).engine == "megatron_bridge":
        # "gpu": torchrun counts the GPUs of the machine that runs it (rendered on a machine without one)
        ranks = torchrun_ranks(launch.cfg) or "gpu"
        cmd = ["torchrun", "--standalone", f"--nproc-per-node={ranks}", *runner]
    else:
        cmd = ["python", *runner]
    target.write_text(
        "#!/usr/bin/env bash\n# Rendered by recipes.submit.launch: run this stage on a machine that has "
        "what it needs.\nset -euo pipefail\n" + shlex.join(cmd) + "\n"
    )
    return target
