"""JSONL -> .bin/.idx round trip with the real Gemma 3 tokenizer, and kill-and-resume of a real subprocess."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data_prep.tokenize import TokenizeSettings, plan_shards, run
from tests.helpers.dataprep_corpus import write_corpus

REPO = Path(__file__).resolve().parents[2]


def _expected(docs, tokenizer, key_of):
    ids = tokenizer([d["text"] for d in docs], add_special_tokens=False)["input_ids"]
    out = {}
    for d, seq in zip(docs, ids):
        out.setdefault(key_of(d), []).append(seq + [1])  # <eos> appended, no <bos>
    return out


def _read_back(prefix):
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    ds = IndexedDataset(str(prefix))
    assert len(ds.document_indices) == len(ds) + 1  # one document per sequence
    return [ds[i].tolist() for i in range(len(ds))]


def test_round_trip_matches_the_tokenizer(tmp_path, gemma3_dir, gemma3_tokenizer):
    docs = write_corpus(tmp_path / "a.jsonl", 300)
    settings = TokenizeSettings(tokenizer=str(gemma3_dir), workers=2, shard_bytes=8_000)
    summary = run(settings, [str(tmp_path / "a.jsonl")], str(tmp_path / "out"))
    assert summary.shards == len(plan_shards([str(tmp_path / "a.jsonl")], 8_000)) > 5
    expected = _expected(docs, gemma3_tokenizer, lambda d: f"{d['source']}__{d['lang']}")
    assert {p.key for p in summary.prefixes} == set(expected)
    recorded = json.loads(Path(summary.tokens_json).read_text())["prefixes"]
    for p in recorded:
        got = _read_back(tmp_path / "out" / p["prefix"])
        assert got == expected[p["key"]]
        assert p["documents"] == len(got) and p["tokens"] == sum(map(len, got))
        assert p["lang"] == p["key"].split("__")[1]


def test_group_by_input_and_bos(tmp_path, gemma3_dir, gemma3_tokenizer):
    docs = write_corpus(tmp_path / "only.jsonl", 20)
    settings = TokenizeSettings(tokenizer=str(gemma3_dir), workers=1, group_by="input", add_bos=True)
    summary = run(settings, [str(tmp_path / "only.jsonl")], str(tmp_path / "out"))
    (prefix,) = summary.prefixes
    assert prefix.key == "only" and prefix.lang == "mixed"
    expected = [[2] + seq for seq in _expected(docs, gemma3_tokenizer, lambda d: "all")["all"]]
    assert _read_back(tmp_path / "out" / "only") == expected


def test_bad_document_names_the_field(tmp_path, gemma3_dir):
    (tmp_path / "bad.jsonl").write_text('{"id": "1", "text": "hi", "source": "web"}\n')
    with pytest.raises(Exception, match="'lang' is missing"):
        run(TokenizeSettings(tokenizer=str(gemma3_dir), workers=1), [str(tmp_path / "bad.jsonl")], str(tmp_path / "o"))


def test_kill_and_resume_loses_and_duplicates_nothing(tmp_path, gemma3_dir, gemma3_tokenizer):
    docs = write_corpus(tmp_path / "big.jsonl", 6000, seed=1)
    out = tmp_path / "out"
    shard_bytes = 6_000
    n_shards = len(plan_shards([str(tmp_path / "big.jsonl")], shard_bytes))
    cmd = [
        sys.executable,
        "-m",
        "data_prep.tokenize",
        str(tmp_path / "big.jsonl"),
        "--output-dir",
        str(out),
        "--tokenizer",
        str(gemma3_dir),
        "--workers",
        "1",
        "--shard-bytes",
        str(shard_bytes),
        "--batch-size",
        "8",
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def committed():
        return [p for p in (out / "shards").glob("*") if p.is_dir() and not p.name.endswith(".tmp")]

    deadline = time.time() + 120
    while len(committed()) < 5 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole group: the pool worker too
    proc.wait()
    done_before = {p.name: (p.stat().st_ino, (p / "counts.json").stat().st_mtime_ns) for p in committed()}
    assert 5 <= len(done_before) < n_shards, "the job must be killed mid-run"
    assert not (out / "tokens.json").exists()

    summary = run(
        TokenizeSettings(tokenizer=str(gemma3_dir), workers=2, shard_bytes=shard_bytes),
        [str(tmp_path / "big.jsonl")],
        str(out),
    )
    assert summary.shards_skipped == len(done_before)
    for name, (inode, mtime) in done_before.items():  # finished shards were not redone
        shard = out / "shards" / name
        assert (shard.stat().st_ino, (shard / "counts.json").stat().st_mtime_ns) == (inode, mtime)
    assert summary.documents == len(docs)
    expected = _expected(docs, gemma3_tokenizer, lambda d: f"{d['source']}__{d['lang']}")
    for p in summary.prefixes:
        assert _read_back(out / p.prefix) == expected[p.key]


def _tokenize_cli(tmp_path, tokenizer, *extra):
    return [
        sys.executable,
        "-m",
        "data_prep.tokenize",
        str(tmp_path / "in.jsonl"),
        "--output-dir",
        str(tmp_path / "out"),
        "--tokenizer",
        str(tokenizer),
        *extra,
    ]


@pytest.mark.parametrize("where", ["/nonexistent", "empty folder"])
def test_a_tokenizer_that_does_not_load_stops_the_run_at_once(tmp_path, where):
    """multiprocessing.Pool restarted the failing initializer for ever (1,400 restarts in 12 minutes)."""
    write_corpus(tmp_path / "in.jsonl", 50)
    tokenizer = where if where.startswith("/") else tmp_path / "no_tokenizer_here"
    (tmp_path / "no_tokenizer_here").mkdir()
    out = subprocess.run(
        _tokenize_cli(tmp_path, tokenizer, "--workers", "2", "--shard-bytes", "2000"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0
    assert f"tokenizer '{tokenizer}' does not load" in out.stderr
    assert "set data.tokenizer (--tokenizer) to a directory holding tokenizer.json" in out.stderr
    assert len(out.stderr) < 20_000  # one error, not a worker restarted again and again


def test_a_worker_killed_by_sigkill_ends_the_run_with_the_cause(tmp_path, gemma3_dir):
    """What the OOM killer does: the run stopped at 81/82 shards with every process idle, for ever."""
    import psutil

    write_corpus(tmp_path / "in.jsonl", 6000, seed=2)
    proc = subprocess.Popen(
        _tokenize_cli(tmp_path, gemma3_dir, "--workers", "2", "--shard-bytes", "6000", "--batch-size", "8"),
        cwd=REPO,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 120
        while not list((tmp_path / "out" / "shards").glob("*.tmp")) and time.time() < deadline:
            time.sleep(0.05)  # a worker is writing a shard
        workers = psutil.Process(proc.pid).children()
        assert workers, "the pool must be running"
        os.kill(workers[0].pid, signal.SIGKILL)
        _, stderr = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0
    assert "a tokenizer worker died (killed by a signal: out of memory? see dmesg)" in stderr
    assert "rerun to resume" in stderr
