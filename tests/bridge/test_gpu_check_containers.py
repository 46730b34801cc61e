"""The training runs bench/gpu_check.py launches on a GPU, built as Megatron-Bridge 0.3.1 ConfigContainers on CPU
and passed through Bridge's own checks on one GPU's world: the round trip's cpt and sft and the preemption runs
(the small random Gemma 3), so that a config error cannot spend the GPU window."""

from __future__ import annotations

import pytest

from bench import gpu_check as gc
from recipes.core.config import to_object
from recipes.engines.bridge_config import build_config_container
from recipes.stages import compose
from recipes.submit.launch import run_dir_of


def _validated(stage, overrides, monkeypatch):
    from megatron.bridge.training.config import runtime_config_update

    # the round trip's overrides are its pipeline's (eval.* among them): composed as the pipeline composes them
    pipeline = next((o.partition("=")[2].strip("[]").split(",") for o in overrides if o.startswith("pipeline.")), [])
    cfg = to_object(compose(stage, overrides, pipeline))
    container = build_config_container(cfg, run_dir_of(cfg), stage=stage)  # where the launcher puts the run
    monkeypatch.setenv("WORLD_SIZE", "1")
    container.validate()
    runtime_config_update(container)
    return container


@pytest.fixture
def ws(tmp_path):
    return gc.Workspace(root=tmp_path, logs=tmp_path, deadline=0, fixture=None)


def test_round_trip_cpt_and_sft(ws, tmp_path, monkeypatch):
    model = tmp_path / "random_gemma3"
    overrides = gc.round_trip_overrides(ws, model)
    cpt = _validated("cpt", overrides, monkeypatch)
    assert cpt.model.num_layers == gc.SMALL_LAYERS and (cpt.model.hidden_size, cpt.model.vocab_size) == (640, 262144)
    assert cpt.checkpoint.pretrained_checkpoint.endswith("round_trip/hf_import/artifact/megatron")
    assert (cpt.train.train_iters, cpt.train.global_batch_size, cpt.checkpoint.save_interval) == (4, 2, 4)
    (tmp_path / "packed.npy").write_bytes(b"")  # validate() asks that it exists; sft packs it at job start
    sft = _validated("sft", [*overrides, "run.upstream=cpt", f"dataset.packed_data={tmp_path}/packed.npy"], monkeypatch)
    assert sft.checkpoint.pretrained_checkpoint == str(
        tmp_path / "runs" / "round_trip" / "cpt" / "artifact" / "megatron"
    )


@pytest.mark.parametrize(
    "extra",
    [
        ["train.train_iters=30", "checkpoint.save_interval=0"],
        ["train.train_iters=30", "checkpoint.save_interval=10"],
        ["train.train_iters=15", "checkpoint.save_interval=5"],
    ],
)
def test_preemption_runs(extra, ws, tmp_path, monkeypatch):
    container = _validated(
        "cpt",
        [*gc.small_overrides(ws, tmp_path / "m", "interrupted"), "checkpoint.pretrained_checkpoint=null", *extra],
        monkeypatch,
    )
    assert container.checkpoint.pretrained_checkpoint is None
    assert container.train.exit_signal_handler  # what a SIGTERM must reach (Megatron-Bridge's trap)
