"""What the stage runner does with what a stage's `execute` returns: None or DONE registers the artifact, PART_DONE
(an array task whose sibling completes the artifact) succeeds without registering, anything else fails naming it."""

from __future__ import annotations

import dataclasses

import pytest

from recipes.artifacts.versions import RECORD_FILE, Registry
from recipes.core.status import StageOutcome, State, read_status
from recipes.runtime import stage_runner
from recipes.stages import stage
from recipes.submit import launch


@pytest.mark.parametrize(
    ("returned", "state", "registered"),
    [
        (None, State.SUCCEEDED, True),
        (StageOutcome.DONE, State.SUCCEEDED, True),
        (StageOutcome.PART_DONE, State.SUCCEEDED, False),
        (False, State.FAILED, False),  # a stage still returning the old booleans is refused, not misread
    ],
)
def test_the_runner_registers_only_a_completed_artifact(tmp_path, monkeypatch, returned, state, registered):
    run = launch.prepare("release", [f"launch.root={tmp_path}", "model.hf_text_checkpoint=null"])

    def execute(ctx):
        ctx.artifact_dir.mkdir(parents=True)
        (ctx.artifact_dir / "notes.txt").write_text("a payload\n")
        return returned

    returning = dataclasses.replace(stage("release"), execute=execute)  # the runner calls the spec's execute
    monkeypatch.setattr(stage_runner, "stage", lambda name: returning)
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("SLURM_PROCID", raising=False)
    assert stage_runner.main(["--run-dir", str(run.run_dir)]) == (0 if state is State.SUCCEEDED else 1)
    status = read_status(run.run_dir)
    assert status.state is state
    assert (run.run_dir / "artifact" / RECORD_FILE).exists() == registered
    assert len(Registry(tmp_path / "registry").all()) == int(registered)
    if state is State.FAILED:
        assert status.error == (
            "TypeError: stage release: execute returned False; return None (done) or a StageOutcome"
        )
