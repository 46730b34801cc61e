"""Issue #14, item 5: run names that leave launch.root, counts below one and missing inputs are refused before
anything is written, dry runs included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from recipes.core.config import to_object
from recipes.stages import compose
from recipes.submit import preflight

REPO = Path(__file__).resolve().parents[2]


def errors(stage, *overrides):
    return [(f.field, f.message) for f in preflight.plan(to_object(compose(stage, list(overrides)))).errors]


def run(*args, cwd=REPO):
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "250"},
    )


def test_a_run_name_that_leaves_launch_root_is_refused_and_nothing_is_made(tmp_path):
    root = tmp_path / "runs"
    out = run("recipes.data_prep", f"launch.root={root}", "run.name=../../escape", "launch.dryrun=true")
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(
        f"error: run.name: '../../escape' would put the run directory outside launch.root "
        f"({tmp_path.parent / 'escape'})"
    )
    assert list(tmp_path.iterdir()) == [] and not (tmp_path.parent / "escape").exists()


@pytest.mark.parametrize("name", ["a/b", ".", "..", "-x"])
def test_run_names_are_plain(name):
    assert [f for f, _ in errors("data_prep", f"run.name='{name}'")] == ["run.name"]


@pytest.mark.parametrize(
    "stage,key,value",
    [
        ("cpt", "train.train_iters", -5),
        ("cpt", "train.global_batch_size", 0),
        ("cpt", "stage.nodes", 0),
        ("cpt", "model.tensor_model_parallel_size", 0),  # alone: the layout rules would divide by it
        ("data_prep", "data_prep.workers", 0),
        ("data_prep", "data_prep.shard_bytes", -1),
        ("rl", "rl.max_steps", 0),
        ("apo", "apo.global_batch_size", -128),
        ("eval", "eval.n_per_language", 0),
    ],
)
def test_counts_below_one_are_refused_alone(stage, key, value):
    base = [
        "experiment=sealion_v4_27b",
        "cluster=slurm",
        "launch.check_paths=false",
        "cluster.account=a",
        "cluster.partition=p",
    ]
    assert errors(stage, *base, f"{key}={value}") == [(key, f"{value} is not a count")]
    assert errors(stage, *base) == []


def test_plan_refuses_negative_steps():
    out = run("recipes.plan", "stage=cpt", "train.train_iters=-5")
    assert out.returncode == 2 and "error train.train_iters: -5 is not a count" in out.stdout, out.stdout


def test_a_missing_input_is_an_error_in_a_dry_run_too(tmp_path):
    assert ("dataset.blend", "/nonexistent/blend.json does not exist") in errors(
        "cpt",
        f"launch.root={tmp_path}",
        "dataset.blend=/nonexistent/blend.json",
        "launch.dryrun=true",
        "stage.gpus_per_node=1",
    )
    (source,) = errors("data_prep", f"data.sources=[{{path: '{tmp_path}/*.jsonl'}}]", "launch.dryrun=true")
    assert source[0] == "data.sources[0].path"
    # made by an earlier stage of pipeline.stages: a warning for a dry run of the stage alone
    made = f"{tmp_path}/smoke/data_prep/artifact/blend.json"
    assert (
        errors("cpt", f"launch.root={tmp_path}", f"dataset.blend={made}", "launch.dryrun=true", "stage.gpus_per_node=1")
        == []
    )
    assert ("dataset.blend", f"{made} does not exist") in errors(  # a real launch of the stage alone
        "cpt", f"launch.root={tmp_path}", f"dataset.blend={made}", "stage.gpus_per_node=1"
    )
