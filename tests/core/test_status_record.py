"""status.json as a typed record: run directories written before it still read, and it writes the same JSON."""

from __future__ import annotations

import json

import pytest

from recipes.core.status import (
    StageOutcome,
    State,
    StatusRecord,
    UnreadableStatus,
    read_status,
    write_status,
)

# Written by the stage runner before StatusRecord existed (json.dumps(indent=2) of its dict), kept as text.
OLD_LOCAL_RUNNING = """{
  "state": "running",
  "updated": "2026-11-30T10:00:05+00:00",
  "restart_count": 0,
  "slurm_job_id": null,
  "started": "2026-11-30T10:00:05+00:00"
}
"""
OLD_ARRAY_TASK_FAILED = """{
  "state": "failed",
  "updated": "2026-11-30T11:12:13+00:00",
  "restart_count": 1,
  "slurm_job_id": "777",
  "started": "2026-11-30T11:00:00+00:00",
  "error": "rank 3: OSError: [Errno 28] No space left on device",
  "array_task": 1,
  "array_task_count": 3
}
"""


def test_a_record_written_by_the_old_runner_reads_and_writes_back_byte_for_byte(tmp_path):
    for text in (OLD_LOCAL_RUNNING, OLD_ARRAY_TASK_FAILED):
        path = tmp_path / "status.json"
        path.write_text(text)
        record = StatusRecord.load(path)
        assert record.to_json() == text
    assert record.state is State.FAILED and record.restart_count == 1 and record.slurm_job_id == "777"
    assert record.array_task == 1 and record.array_task_count == 3 and record.error.startswith("rank 3: OSError")


def test_an_old_minimal_record_reads_with_defaults(tmp_path):
    """What tests and hand repairs wrote: only a state, a restart count and a job id."""
    (tmp_path / "status.json").write_text(json.dumps({"state": "stopped", "restart_count": 2, "slurm_job_id": "4711"}))
    record = read_status(tmp_path)
    assert (record.state, record.restart_count, record.slurm_job_id, record.error) == (State.STOPPED, 2, "4711", None)
    assert read_status(tmp_path / "nothing-here").state is State.NOT_STARTED


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"state": "runn', "not valid JSON"),
        ('{"updated": "x"}', "holds no state"),
        ('{"state": "succeded"}', "state 'succeded' is none of not started, running, succeeded, failed, stopped"),
    ],
)
def test_a_damaged_record_names_the_file_and_the_repair(tmp_path, text, why):
    (tmp_path / "status.json").write_text(text)
    with pytest.raises(UnreadableStatus) as err:
        read_status(tmp_path)
    assert str(err.value).startswith(f"{tmp_path / 'status.json'}: {why}")
    assert "delete it and run the stage again" in str(err.value)


def test_write_status_records_this_jobs_slurm_identity(tmp_path, monkeypatch):
    for name in ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_JOB_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "2")
    write_status(tmp_path, State.RUNNING, started="2026-12-01T00:00:00+00:00")
    written = json.loads((tmp_path / "status.json").read_text())
    assert list(written) == ["state", "updated", "restart_count", "slurm_job_id", "started"]  # the old order
    assert (written["state"], written["restart_count"], written["slurm_job_id"]) == ("running", 2, "4242")
    # the submit side recording a job's end from sacct names the job and its restarts itself
    write_status(tmp_path, State.FAILED, error="lost", slurm_job_id="99", restart_count=5)
    assert (read_status(tmp_path).slurm_job_id, read_status(tmp_path).restart_count) == ("99", 5)


def test_an_array_reads_as_one_stage_failed_if_one_task_failed_succeeded_when_all_did(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "777")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "3")
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "4")  # an array 4-6: task ids count from its first
    for task_id, state in ((4, State.SUCCEEDED), (6, State.SUCCEEDED)):
        monkeypatch.setenv("SLURM_ARRAY_TASK_ID", str(task_id))
        monkeypatch.setenv("SLURM_RESTART_COUNT", str(task_id - 4))
        write_status(tmp_path, state)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["status.task-0000.json", "status.task-0002.json"]
    stage = read_status(tmp_path)
    assert (stage.state, stage.tasks, stage.restart_count) == (State.RUNNING, 2, 2)  # task 1 has not ended
    (tmp_path / "status.task-0001.json").write_text(OLD_ARRAY_TASK_FAILED)
    stage = read_status(tmp_path)
    assert (stage.state, stage.array_task, stage.tasks) == (State.FAILED, 1, 3)
    assert stage.error == "rank 3: OSError: [Errno 28] No space left on device"
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "5")
    write_status(tmp_path, State.SUCCEEDED)
    assert read_status(tmp_path).state is State.SUCCEEDED


def test_which_states_are_an_end():
    assert [s for s in State if s.ended] == [State.SUCCEEDED, State.FAILED, State.STOPPED]


def test_execute_returns_none_or_an_outcome():
    assert StageOutcome.of(None, "cpt") is StageOutcome.DONE
    assert StageOutcome.of(StageOutcome.PART_DONE, "select") is StageOutcome.PART_DONE
    for stale in (True, False, 0):
        with pytest.raises(TypeError, match=rf"stage select: execute returned {stale!r}; return None \(done\)"):
            StageOutcome.of(stale, "select")
