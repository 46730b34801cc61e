"""Data prep as a Slurm job array: each task curates and tokenises its share of the input files, the last one to
finish merges and blends, and the result holds exactly the documents of a one-task run."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recipes.artifacts.versions import Registry

REPO = Path(__file__).resolve().parents[2]
SAMPLE = f"{REPO}/data_prep/sample_corpus/*.jsonl"
COMMON = ["data_prep.min_words=10", f"data.sources=[{{path: '{SAMPLE}'}}]"]


def launch(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "250", **(env or {})},
    )


def prefixes(artifact: Path) -> dict[str, tuple[int, int]]:
    data = json.loads((artifact / "tokens.json").read_text())
    return {p["key"]: (p["documents"], p["tokens"]) for p in data["prefixes"]}


def test_array_tasks_share_the_work_and_the_last_one_merges(tmp_path):
    single = launch("recipes.data_prep", f"launch.root={tmp_path / 'single'}", *COMMON)
    assert single.returncode == 0, single.stderr[-2000:]
    expected = prefixes(tmp_path / "single" / "smoke" / "data_prep" / "artifact")

    root = tmp_path / "array"
    rendered = launch("recipes.data_prep", f"launch.root={root}", "launch.dryrun=true", "stage.array=0-2", *COMMON)
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    run_dir = root / "smoke" / "data_prep"
    from recipes.core.status import State, read_status

    screened = run_dir / "artifact" / "curation" / "task-0002" / "screened.json"
    for i, task in enumerate([2, 2, 0, 1]):  # the order Slurm happens to finish them in; task 2 requeued once
        env = {
            "SLURM_ARRAY_TASK_ID": str(task),
            "SLURM_ARRAY_TASK_COUNT": "3",
            "SLURM_ARRAY_TASK_MIN": "0",
            "SLURM_ARRAY_JOB_ID": "777",
            "SLURM_JOB_ID": str(800 + task),
            "SLURM_RESTART_COUNT": str(int(i == 1)),
        }
        out = launch("recipes.runtime.stage_runner", "--run-dir", str(run_dir), env=env)
        assert out.returncode == 0, out.stderr[-2000:]
        if i == 0:
            first_screening = screened.stat().st_mtime_ns
        merged = (run_dir / "artifact" / "tokens.json").exists()
        assert merged == (i == 3), "only the last task to finish merges"
        assert read_status(run_dir).state is (State.SUCCEEDED if i == 3 else State.RUNNING)
    assert screened.stat().st_mtime_ns == first_screening  # the requeued task 2 did not screen its shard again

    status = read_status(run_dir)
    assert status.tasks == 3 and status.slurm_job_id == "777"
    assert json.loads((run_dir / "tasks" / "merged").read_text())["task"] == 1
    # tasks 2 and 0 found a sibling not started and ended after screening; task 1 deduplicated, filtered and
    # tokenised every shard
    (records,) = (run_dir / "tasks").glob("launch-*")
    assert [p.read_text() for p in sorted(records.glob("claimed-????"))] == ["1", "1", "1"]
    assert (records / "deduplicated").read_text() == "1"
    assert prefixes(run_dir / "artifact") == expected  # every document once, the same tokens
    assert len(list((run_dir / "artifact" / "curation").glob("task-*/curation_summary.json"))) == 3
    (record,) = Registry(root / "registry").all()
    assert record.stage == "data_prep"  # registered once
    keys = json.loads((run_dir / "manifest.json").read_text())["resume_keys"]  # what tokenised shards are reused on
    curated = (run_dir / "artifact" / "curation").glob("task-*/curated/*.jsonl")
    assert sorted(keys["inputs"]) == sorted(str(p) for p in curated) and record.manifest["resume_keys"] == keys


def test_a_failed_task_fails_the_array(tmp_path):
    root = tmp_path / "array"
    assert (
        launch("recipes.data_prep", f"launch.root={root}", "launch.dryrun=true", "stage.array=0-1", *COMMON).returncode
        == 0
    )
    run_dir = root / "smoke" / "data_prep"
    (run_dir / "resolved.yaml").write_text("not: [valid")
    out = launch(
        "recipes.runtime.stage_runner",
        "--run-dir",
        str(run_dir),
        env={"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "2"},
    )
    assert out.returncode == 1
    from recipes.core.status import State, read_status

    status = read_status(run_dir)
    assert status.state is State.FAILED and status.array_task == 1


def write_copies(path: Path) -> None:
    """Copies of two sample documents in a file of their own: the 13th input, so array task 0 of 3 screens it while
    the originals (en.jsonl, vi.jsonl: inputs 1 and 10) go to task 1."""
    docs = {
        d["id"]: d
        for f in ("en", "vi")
        for d in map(json.loads, (REPO / "data_prep" / "sample_corpus" / f"{f}.jsonl").read_text().splitlines())
    }
    copies = [
        {**docs["en-000"], "id": "en-copy", "text": docs["en-000"]["text"].upper() + " !"},
        {**docs["vi-000"], "id": "vi-near", "text": docs["vi-000"]["text"].replace("mới", "tới", 1)},
    ]
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in copies), encoding="utf-8")


@pytest.mark.slurm
def test_data_prep_array_on_slurm(tmp_path):
    """The four dedup steps on the local Slurm: three tasks at once, two at a time (a throttled array), and the
    copies in task 0's file are removed in favour of their originals in task 1's."""
    from recipes.core.status import State, read_status

    write_copies(tmp_path / "copies.jsonl")
    sources = f"data.sources=[{{path: '{SAMPLE}'}}, {{path: '{tmp_path / 'copies.jsonl'}'}}]"
    out = launch(
        "recipes.data_prep",
        f"launch.root={tmp_path}",
        "cluster=slurm",
        "cluster.containers.cpu=null",
        "cluster.exclusive=false",
        "launch.detach=false",
        "stage.array=0-2%2",
        "data_prep.min_words=10",
        sources,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "note: data_prep run as a Slurm job array: submitted detached" in out.stdout
    run_dir = tmp_path / "smoke" / "data_prep"
    deadline = time.monotonic() + 300
    while not read_status(run_dir).state.ended:
        assert time.monotonic() < deadline, read_status(run_dir)
        time.sleep(1)
    assert read_status(run_dir).state is State.SUCCEEDED
    tasks = [json.loads(p.read_text()) for p in sorted(run_dir.glob("status.task-*.json"))]
    assert [t["array_task"] for t in tasks] == [0, 1, 2] and {t["state"] for t in tasks} == {"succeeded"}
    assert len({t["slurm_job_id"] for t in tasks}) == 1  # the array's job id
    assert sum(d for d, _ in prefixes(run_dir / "artifact").values()) == 48  # 50 inputs less the 2 copies
    curation = run_dir / "artifact" / "curation"
    rejected = {
        r["id"]: r for r in map(json.loads, (curation / "task-0000" / "rejected.jsonl").read_text().splitlines())
    }
    assert (rejected["en-copy"]["rule"], rejected["en-copy"]["duplicate_of"]) == ("exact_duplicate", "en-000")
    assert (rejected["vi-near"]["rule"], rejected["vi-near"]["duplicate_of"]) == ("near_duplicate", "vi-000")
    summaries = [json.loads(p.read_text()) for p in sorted(curation.glob("task-*/curation_summary.json"))]
    assert sum(s["input_records"] for s in summaries) == 50 and all(
        s["input_records"] == s["kept"] + s["quarantined"] + s["rejected"] for s in summaries
    )


def test_only_array_stages_take_an_array(tmp_path):
    out = launch("recipes.eval", f"launch.root={tmp_path}", "launch.dryrun=true", "stage.array=0-3")
    assert out.returncode == 2 and "error: stage.array: stage eval does not split its work" in out.stderr
