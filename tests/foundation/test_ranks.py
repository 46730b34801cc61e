"""One process per GPU: how a local Megatron-Bridge stage is started, and which of its ranks records the outcome."""

from __future__ import annotations

import json

from recipes.artifacts.versions import RECORD_FILE, Registry
from recipes.core.config import REPO_ROOT
from recipes.runtime import stage_runner
from recipes.submit import launch, local_backend
from recipes.submit.backend import ranks_per_node

# the smoke cpt launched on its own, not after its pipeline's hf_import (whose checkpoint it starts from)
STANDALONE = ["checkpoint.pretrained_checkpoint=null"]


def test_local_training_stage_runs_one_torchrun_process_per_gpu(tmp_path):
    """Under this Python's torchrun (`python -m torch.distributed.run`, what the `torchrun` script runs)."""
    import sys

    from recipes.runtime import local_job

    cpt = launch.prepare("cpt", [f"launch.root={tmp_path}", "cluster.gpus_per_node=2", *STANDALONE])
    assert local_job.command(cpt.run_dir, ranks_per_node(cpt.cfg)) == [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node=2",
        "-m",
        "recipes.runtime.stage_runner",
        "--run-dir",
        str(cpt.run_dir),
    ]
    data_prep = launch.prepare("data_prep", [f"launch.root={tmp_path}", "cluster.gpus_per_node=2"])
    assert local_job.command(data_prep.run_dir, ranks_per_node(data_prep.cfg)) == [
        sys.executable,
        "-m",
        "recipes.runtime.stage_runner",
        "--run-dir",
        str(data_prep.run_dir),
    ]


def test_rendered_local_commands_start_training_under_torchrun(tmp_path):
    # this machine has no GPU: cpt is rendered, with torchrun counting the GPUs of the machine that runs it
    launches = [
        launch.prepare(stage, [f"launch.root={tmp_path}", "cluster.gpus_per_node=0", *extra])
        for stage, extra in (("cpt", STANDALONE), ("eval", []))  # checkpoint is cpt's section, not eval's
    ]
    commands = {x.name: x for x in launches}
    cpt = local_backend.write_command(commands["cpt"]).read_text().splitlines()[-1]
    runner = "-m recipes.runtime.stage_runner --run-dir"
    assert cpt == f"torchrun --standalone --nproc-per-node=gpu {runner} {commands['cpt'].run_dir}"
    evaluation = local_backend.write_command(commands["eval"]).read_text().splitlines()[-1]
    assert evaluation == f"python -m recipes.runtime.stage_runner --run-dir {commands['eval'].run_dir}"


def test_only_rank_zero_records_and_registers(tmp_path, monkeypatch):
    run = launch.prepare("data_prep", [f"launch.root={tmp_path}"])
    monkeypatch.setenv("RANK", "1")
    assert stage_runner.main(["--run-dir", str(run.run_dir)]) == 0
    assert (run.run_dir / "artifact" / "blend.json").is_file()  # rank 1 did the work
    assert not (run.run_dir / "status.json").exists()
    assert not (run.run_dir / "artifact" / RECORD_FILE).exists()
    assert Registry(tmp_path / "registry").all() == []


def test_a_failing_rank_says_which_it_is(tmp_path, monkeypatch):
    run = launch.prepare("data_prep", [f"launch.root={tmp_path}"])
    resolved = run.run_dir / "resolved.yaml"
    resolved.write_text(resolved.read_text().replace("data_prep:\n", "data_prep:\n  workerz: 1\n", 1))
    monkeypatch.setenv("SLURM_PROCID", "3")
    monkeypatch.delenv("RANK", raising=False)
    assert stage_runner.main(["--run-dir", str(run.run_dir)]) == 1
    status = json.loads((run.run_dir / "status.json").read_text())
    assert status["state"] == "failed"
    assert status["error"].startswith("rank 3: ") and "data_prep.workerz" in status["error"]


def test_a_local_gpu_stage_without_its_engine_stops_before_anything_runs(tmp_path):
    """This venv has no Megatron-Bridge: a local cpt with a GPU (claimed here) is refused before data_prep runs."""
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "recipes.pipeline",
            f"launch.root={tmp_path}",
            "pipeline.stages=[data_prep,cpt]",
            "cluster.gpus_per_node=1",
            "cluster.gpu_memory_gib=80",
            *STANDALONE,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2, out.stderr
    assert (
        "error: stage.container: stage cpt needs megatron.bridge, transformer_engine, which this Python "
        f"({sys.executable}) lacks; fix: run it inside the train image"
    ) in out.stderr
    assert not (tmp_path / "smoke" / "data_prep" / "status.json").exists()  # nothing ran
