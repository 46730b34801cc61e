"""LESS prompt selection on the real Gemma 3 270M, CPU: one warm-up and one selection of the bundled sample pool
(data_prep/sample_select, conf/select/cpu.yaml) shared by every test of the module."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from recipes.core.config import REPO_ROOT
from recipes.gemma3_fixture import build
from recipes.posttrain.prompt_selection import run
from recipes.posttrain.prompt_selection.features import FeatureModel, shard_path, shards
from recipes.posttrain.prompt_selection.pool import read_prompts
from recipes.posttrain.prompt_selection.projection import SparseProjector
from recipes.posttrain.prompt_selection.settings import SelectionSettings
from recipes.posttrain.prompt_selection.warmup import load_checkpoints

SAMPLE = REPO_ROOT / "data_prep" / "sample_select"
TARGETS = {"id_math": read_prompts(SAMPLE / "target_id_math.jsonl")}
# conf/select/cpu.yaml's numbers
CPU = dict(
    max_tokens=32,
    lora_r=4,
    lora_alpha=16,
    lora_target_modules=("q_proj", "v_proj"),
    warmup_fraction=0.25,
    checkpoints=2,
    lr=1e-3,
    warmup_ratio=0.0,
    batch_size=4,
    bf16=False,
    candidate_gradient="sgd",
    proj_dim=256,
    select_fraction=0.25,
    shard_size=4,
)


@pytest.fixture(scope="module")
def selection(tmp_path_factory):
    out = tmp_path_factory.mktemp("select")
    settings = SelectionSettings(model=str(build()), **CPU)
    pool = read_prompts(SAMPLE / "pool.jsonl")
    assert run.compute_features(out, pool, settings)
    summary = run.select(out, pool, TARGETS, settings)
    return out, settings, pool, summary


@pytest.fixture(scope="module")
def feature_model(selection):
    return FeatureModel(selection[1])


def test_the_known_part_of_the_pool_ranks_first(selection):
    """The 4 Indonesian arithmetic problems of the 16 candidates share the target set's language and task type.
    Measured: precision 4/4 at the selected 25% (plain candidate gradients, as conf/select/cpu.yaml); a probe with
    Adam-preconditioned candidates (checkpoint 1 alone, 48 tokens) put 1 of the 4 first: chance, after a 2-step
    warm-up."""
    out, *_ = selection
    chosen = [json.loads(line)["id"] for line in (out / "selected" / "id_math.jsonl").read_text().splitlines()]
    assert sorted(chosen) == ["id-math-1", "id-math-2", "id-math-3", "id-math-4"]
    union = [json.loads(line) for line in (out / run.SELECTED).read_text().splitlines()]
    assert {row["id"] for row in union} == set(chosen) and all(row["lang"] == "id" and row["prompt"] for row in union)


def test_report_counts_and_histogram(selection):
    """Counted by hand from data_prep/sample_select/pool.jsonl: 4 en, 8 id, 4 vi; ceil(0.25 x 16) = 4 selected,
    all Indonesian."""
    out, _, _, summary = selection
    assert summary == json.loads((out / "report.json").read_text())
    assert summary["pool"] == {"size": 16, "by_language": {"en": 4, "id": 8, "vi": 4}}
    assert summary["targets"] == {"id_math": {"selected": 4, "by_language": {"id": 4}}}
    assert (out / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_adam_preconditioning_is_less_formula(selection, feature_model):
    """collect_grad_reps.py's obtain_gradients_with_adam (LESS at 1e4afda): (b1 m + (1-b1) g) / sqrt(b2 v +
    (1-b2) g^2 + eps) with b1=0.9, b2=0.999, eps=1e-8, m and v the checkpoint's AdamW moments."""
    out, settings, pool, _ = selection
    model = feature_model
    checkpoint = load_checkpoints(out / "warmup", pool, settings)[1]
    model.load(checkpoint)
    g = model.gradient(pool[0])
    state = torch.load(checkpoint.path / "adam_state.pt")
    m = torch.cat([state[n]["exp_avg"].reshape(-1) for n, _ in model.params])
    v = torch.cat([state[n]["exp_avg_sq"].reshape(-1) for n, _ in model.params])
    expected = (0.9 * m + 0.1 * g) / torch.sqrt(0.999 * v + 0.001 * g * g + 1e-8)
    assert torch.allclose(model.precondition(model.gradient(pool[0])), expected, rtol=1e-5, atol=0)
    assert not torch.allclose(expected, g)  # the moments are not zero: the warm-up trained


def test_projection_keeps_inner_products_of_real_gradients(selection, feature_model):
    """Sparse Johnson-Lindenstrauss (Kane and Nelson 2014): <Px,Py> is unbiased with the dense Rademacher
    matrix's variance, (|x|^2|y|^2 + <x,y>^2 - 2 sum x_i^2 y_i^2) / k <= 2/k for unit x, y: standard deviation
    0.044 at k=1024, so an error of 0.25 (5.7 standard deviations) does not happen by chance."""
    out, settings, pool, _ = selection
    model = feature_model
    model.load(load_checkpoints(out / "warmup", pool, settings)[0])
    grads = torch.stack([model.gradient(p) for p in (pool[0], pool[1], pool[8])])
    units = grads / grads.norm(dim=1, keepdim=True)
    projected = SparseProjector(units.shape[1], 1024, seed=0).project(units)
    k, eps = 1024, 0.25
    assert eps / math.sqrt(2 / k) > 5
    error = (projected @ projected.T - units @ units.T).abs().max().item()
    assert error < eps, error


def test_features_are_deterministic_and_seeded():
    x = torch.randn(3, 40000, generator=torch.Generator().manual_seed(1))
    a, b = SparseProjector(40000, 64, seed=0).project(x), SparseProjector(40000, 64, seed=0).project(x)
    assert torch.equal(a, b)
    assert not torch.allclose(a, SparseProjector(40000, 64, seed=1).project(x))


KILLABLE = """
import sys
from pathlib import Path
from recipes.posttrain.prompt_selection import run
from recipes.posttrain.prompt_selection.pool import read_prompts
from recipes.posttrain.prompt_selection.settings import SelectionSettings
settings = SelectionSettings(**{**__import__("json").loads(sys.argv[2]), "lora_target_modules": ("q_proj", "v_proj")})
run.compute_features(Path(sys.argv[1]), read_prompts(sys.argv[3]), settings, task_index=0, task_count=4)
"""


def test_a_killed_shard_job_restarts_to_identical_features(selection, tmp_path):
    """Array task 0 of 4 (shard 0, both checkpoints) in a fresh process, SIGKILLed once its first shard file is
    written, then run again: its files equal, byte for byte, those the uninterrupted module run wrote."""
    out, settings, pool, _ = selection
    shutil.copytree(out / "warmup", tmp_path / "warmup")  # the warm-up is reused; the features are recomputed
    checkpoints = load_checkpoints(out / "warmup", pool, settings)
    first, second = (
        shard_path(Path("features"), shards(len(pool), settings)[0], pool, c, settings) for c in checkpoints
    )
    args = [
        sys.executable,
        "-c",
        KILLABLE,
        str(tmp_path),
        json.dumps({**CPU, "model": settings.model}),
        str(SAMPLE / "pool.jsonl"),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    job = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (tmp_path / first).exists() and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert (tmp_path / first).exists() and not (tmp_path / second).exists(), "killed too late to test a restart"
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for name in (first, second):
        assert np.array_equal(np.load(tmp_path / name), np.load(out / name))
    assert (
        not list((tmp_path / "features").rglob("*.tmp"))
        and not (
            tmp_path / shard_path(Path("features"), shards(len(pool), settings)[1], pool, checkpoints[0], settings)
        ).exists()
    )


def test_clair_reads_the_selection(selection):
    """selected.jsonl is what clair.prompts takes: data_prep.clair's own reader accepts it whole."""
    from data_prep.clair import read_prompts as clair_prompts

    out, *_ = selection
    prompts = clair_prompts(out / run.SELECTED)
    assert sorted(p.id for p in prompts) == ["id-math-1", "id-math-2", "id-math-3", "id-math-4"]
    assert all(p.lang == "id" and p.messages[0]["role"] == "user" for p in prompts)
