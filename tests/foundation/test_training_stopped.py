"""A training run that Megatron-Bridge ends early (SIGTERM, time limit) is a failed attempt that resumes, not a
finished stage: what the stage runner records when Bridge calls sys.exit(0) after its signal-time save."""

from __future__ import annotations

import dataclasses
import json

from recipes.artifacts.checkpoints import MEGATRON_TRACKER
from recipes.core.stage_context import StageContext
from recipes.engines.bridge_config import TrainingStopped, save_dir, stopped_early_is_not_done
from recipes.runtime import stage_runner
from recipes.stages import stage
from recipes.submit import launch

# the smoke cpt launched on its own, not after its pipeline's hf_import (whose checkpoint it starts from)
STANDALONE = ["checkpoint.pretrained_checkpoint=null"]


def test_sys_exit_after_a_signal_save_becomes_training_stopped_naming_the_checkpoint(tmp_path):
    run = launch.prepare("cpt", [f"launch.root={tmp_path}", "train.train_iters=60", *STANDALONE])
    ctx = StageContext(run.cfg, run.run_dir)
    saved = save_dir(run.cfg, ctx)
    saved.mkdir(parents=True)
    (saved / MEGATRON_TRACKER).write_text("26\n")
    try:
        with stopped_early_is_not_done(run.cfg, ctx, "cpt"):
            raise SystemExit(0)  # what Bridge's train loop does after saving on SIGTERM
    except TrainingStopped as stopped:
        message = str(stopped)
    assert message.startswith(
        "cpt stopped before train.train_iters=60 (exit code 0); newest checkpoint: "
        f"iteration 26 in {saved}; run the stage again"
    )


def test_the_stage_runner_records_a_stopped_run_as_failed(tmp_path, monkeypatch):
    run = launch.prepare("cpt", [f"launch.root={tmp_path}", *STANDALONE])

    def execute(ctx):
        with stopped_early_is_not_done(ctx.cfg, ctx, "cpt"):
            raise SystemExit(0)

    # Bridge's pretrain needs a GPU; its exit is reproduced
    monkeypatch.setattr(stage_runner, "stage", lambda name: dataclasses.replace(stage(name), execute=execute))
    assert stage_runner.main(["--run-dir", str(run.run_dir)]) == 1
    status = json.loads((run.run_dir / "status.json").read_text())
    assert status["state"] == "failed" and status["error"].startswith("TrainingStopped: cpt stopped before")
    assert "newest checkpoint: none yet in" in status["error"]
    assert not (run.run_dir / "artifact" / "version.json").exists()
