"""One table from a stage's engine to the shape of its job, read by both launcher backends."""

from __future__ import annotations

import typing

import pytest

from recipes.core.stage_specs import Engine
from recipes.submit import backend, launch, local_backend, slurm_backend
from recipes.submit.backend import ENGINE_SHAPES, LaunchShape


def test_every_engine_has_a_launch_shape():
    assert ENGINE_SHAPES == {
        "megatron_bridge": LaunchShape.PROCESS_PER_GPU,  # torchrun / one Slurm task per GPU
        "nemo_rl": LaunchShape.RAY,  # NeMo-Run's Ray-on-Slurm template
        "mergekit": LaunchShape.ONE_PROCESS,
        "transformers": LaunchShape.ONE_PROCESS,
        "python": LaunchShape.ONE_PROCESS,
    }
    assert set(ENGINE_SHAPES) == set(typing.get_args(Engine))


def _shapes(tmp_path, executor: list[str]):
    """data_prep (engine "python") on 4 GPUs a node, launched through `executor`."""
    return launch.prepare("data_prep", [f"launch.root={tmp_path}", "stage.gpus_per_node=4", *executor])


@pytest.mark.parametrize("shape", [LaunchShape.PROCESS_PER_GPU, LaunchShape.RAY])  # ONE_PROCESS: test_ranks
def test_both_backends_follow_the_table(tmp_path, monkeypatch, shape):
    """Giving data_prep's engine another shape in the table alone changes what both backends launch."""
    monkeypatch.setitem(ENGINE_SHAPES, "python", shape)
    here = _shapes(tmp_path / "local", [])
    command = local_backend.write_command(here).read_text().splitlines()[-1]
    runner = f"-m recipes.runtime.stage_runner --run-dir {here.run_dir}"
    per_gpu = shape is LaunchShape.PROCESS_PER_GPU
    assert command == (f"torchrun --standalone --nproc-per-node=4 {runner}" if per_gpu else f"python {runner}")
    assert backend.ranks_per_node(here.cfg) == (4 if per_gpu else 0)

    there = _shapes(tmp_path / "slurm", ["cluster=slurm", "cluster.containers.cpu=null"])
    executor = slurm_backend.executor(there, tmp_path / ".nemo_run")
    assert executor.ntasks_per_node == (4 if per_gpu else 1) and executor.gpus_per_node == 4
    metadata = slurm_backend.task(there).metadata
    run = slurm_backend.load_nemo_run()
    assert metadata == ({run.config.USE_WITH_RAY_CLUSTER_KEY: True} if shape is LaunchShape.RAY else {})
