"""Issue #29: the third round of bad-input, fault and concurrency probes, kept as tests so none comes back.

Each test failed before the change it names: credentials inside URLs and slashed base64 reached written files
while hub snapshot paths were refused; a rerun that changed nothing renumbered its version; a stage whose launcher
and job were killed stayed "running"; a full disk gave a raw traceback; wrong inputs were accepted; commands
printed tracebacks on damaged files; a stopped tokenizer pool kept taking shards."""

from __future__ import annotations

import base64
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from recipes.artifacts import manifest
from recipes.core import secret_values
from recipes.core.config import to_object
from recipes.stages import compose
from recipes.submit import preflight, run_lock

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "COLUMNS": "250"}
HEX40 = secrets.token_hex(20)  # a W&B API key's shape
# Standard base64 whose 32+ characters are split by '/' into pieces under 32 (drawn seeded: the same each run).
SLASHED_B64 = base64.b64encode(random.Random(3).randbytes(45)).decode()
SNAPSHOT = f"/root/.cache/huggingface/hub/models--google--gemma-3-270m/snapshots/{secrets.token_hex(20)}"
SHA256 = secrets.token_hex(32)


def launch(module: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=timeout
    )


def files_holding(root: Path, planted: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and planted.encode() in p.read_bytes()]


# 1. Credentials ------------------------------------------------------------------------------------------------


def test_a_key_inside_a_url_and_slashed_base64_are_credentials():
    assert "/" in SLASHED_B64 and max(len(piece) for piece in SLASHED_B64.split("/")) < 32
    assert secret_values.secrets_in(f"https://user:{HEX40}@db.example.com/x") == [HEX40]
    assert secret_values.secrets_in(f"export SVC_KEY={SLASHED_B64}") == [SLASHED_B64]
    cfg = to_object(
        compose(
            "cpt",
            [
                "experiment=sealion_v4_27b",
                "cluster=slurm",
                f"+cluster.env.DB_URL=https://user:{HEX40}@db.example.com/x",
            ],
        )
    )
    assert [f.field for f in preflight.check_secrets(cfg)] == ["cluster.env.DB_URL"]


@pytest.mark.parametrize(
    "override",
    [
        f"model.hf_id={SNAPSHOT}",
        f"run.name=cpt-{SHA256}",
        f"data.datamix=/data/mixes/{SHA256}.yaml",
        # a random temporary directory in a path (mktemp's; the README's job on a
        # fresh HOME was refused once for `/tmp/tmp.w7DeLl4k0g/runs/...`)
        "checkpoint.pretrained_checkpoint=/tmp/tmp.w7DeLl4k0g/runs/smoke/hf_import/artifact/megatron",
        "checkpoint.pretrained_checkpoint=/tmp/tmpXy7Qa9Lk2P/runs/smoke/hf_import/artifact",
    ],
    ids=["hub-snapshot", "run-name", "file-name", "mktemp-dir", "tempfile-dir"],
)
def test_a_hub_snapshot_and_a_content_hash_in_a_path_or_name_are_not_credentials(override):
    cfg = to_object(compose("cpt", ["experiment=sealion_v4_27b", "cluster=slurm", override]))
    assert preflight.check_secrets(cfg) == []


def test_a_value_declared_not_secret_is_accepted_and_written_as_is():
    build_id = secrets.token_hex(20)  # ambiguous: 40 hex digits that are an image build id, not a key
    flagged = to_object(compose("cpt", ["experiment=sealion_v4_27b", f"+cluster.env.IMAGE_BUILD={build_id}"]))
    assert [f.field for f in preflight.check_secrets(flagged)] == ["cluster.env.IMAGE_BUILD"]
    declared = compose(
        "cpt", ["experiment=sealion_v4_27b", f"+cluster.env.IMAGE_BUILD={build_id}", f"launch.not_secrets=[{build_id}]"]
    )
    assert preflight.check_secrets(to_object(declared)) == []
    resolved = OmegaConf.to_container(declared, resolve=True)
    written = json.dumps(manifest.redact({"config": resolved, "overrides": [f"x={build_id}", f"y={HEX40}"]}, []))
    assert written.count(build_id) == 3 and HEX40 not in written  # the declared value kept, an undeclared one not


def test_refused_credentials_reach_no_file_of_a_slurm_dry_run(tmp_path):
    out = launch(
        "recipes.cpt",
        "experiment=sealion_v4_27b",
        "cluster=slurm",
        "launch.dryrun=true",
        f"launch.root={tmp_path}",
        f"+cluster.env.DB_URL=https://user:{HEX40}@db.example.com/x",
        f"cluster.setup_lines=['export SVC_KEY={SLASHED_B64}']",
    )
    assert out.returncode == 2, out.stderr[-2000:]
    assert [line.split(":")[1].strip() for line in out.stderr.strip().splitlines()] == [
        "cluster.env.DB_URL",
        "cluster.setup_lines[0]",
    ]
    for planted in (HEX40, SLASHED_B64):
        assert planted not in out.stdout + out.stderr and files_holding(tmp_path, planted) == []


def test_a_snapshot_model_and_a_hashed_run_name_render_a_slurm_dry_run(tmp_path):
    name = f"cpt-{SHA256[:40]}"
    out = launch(
        "recipes.cpt",
        "experiment=sealion_v4_27b",
        "cluster=slurm",
        "launch.dryrun=true",
        "launch.check_paths=false",
        f"launch.root={tmp_path}",
        f"run.name={name}",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    sbatch = (tmp_path / name / "cpt" / "launch" / "sbatch.sh").read_text()
    assert name in sbatch and secret_values.REDACTED not in sbatch


def test_the_run_lock_stores_and_prints_the_command_redacted(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["recipes.cpt", f"+cluster.env.DB_URL=https://user:{HEX40}@db.example.com/x"])
    run_lock.hold(tmp_path / "run")
    raw = (tmp_path / "run" / run_lock.LOCK_FILE).read_bytes()
    assert HEX40.encode() not in raw and b"db.example.com" in raw
    # A lock written by an older launcher, raw argv: the refusal a second launcher prints is redacted all the same.
    old = json.dumps({"pid": 1, "host": "h", "started": "t", "argv": ["x", f"k={HEX40}"]}).encode()
    assert HEX40 not in run_lock._describe(old) and "pid 1 on h" in run_lock._describe(old)


# 2. Version identity -------------------------------------------------------------------------------------------


def registered(root: Path) -> dict[str, str]:
    return json.loads((root / "registry" / "index.json").read_text())


def test_a_rerun_that_changed_nothing_keeps_every_version_id(tmp_path):
    """data_prep and eval, the smoke pipeline's stages that run on a CPU, each launched twice into one root: the
    second run's own report (shards skipped, seconds, launch key) differs, the payload does not."""
    docs = tmp_path / "heldout.jsonl"
    docs.write_text(
        "".join(
            json.dumps({"text": f"Ini kalimat nomor {i} dalam bahasa Indonesia.", "lang": "id"}) + "\n"
            for i in range(2)
        )
    )
    stages = [
        ("recipes.data_prep", []),
        ("recipes.eval", ["eval.languages=[id]", "eval.n_per_language=1", f"eval.perplexity_data={docs}"]),
    ]
    first = {}
    for module, args in stages:
        out = launch(module, f"launch.root={tmp_path}", *args, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        first = registered(tmp_path)
    assert sorted(first) == ["smoke-data_prep-0.1.0", "smoke-eval-0.1.0"]
    skipped_before = json.loads((tmp_path / "smoke/data_prep/artifact/tokens.json").read_text())["shards_skipped"]
    for module, args in stages:
        out = launch(module, f"launch.root={tmp_path}", *args, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
    # the rerun did report differently about itself ...
    tokens = json.loads((tmp_path / "smoke/data_prep/artifact/tokens.json").read_text())
    assert tokens["shards_skipped"] > skipped_before
    assert registered(tmp_path) == first  # ... and kept every id
    check = launch("recipes.versions", "--root", str(tmp_path / "registry"), "check")
    assert check.returncode == 0 and "0 problem(s)" in check.stdout, check.stdout


# 3. A stage whose launcher and job are gone is never "running" -------------------------------------------------


def test_a_stage_killed_with_its_launcher_is_recorded_failed_by_the_next_reader(tmp_path):
    import psutil

    fifo = tmp_path / "input.jsonl"
    os.mkfifo(fifo)  # the job waits on it: the stage is running for as long as the test needs
    launcher = subprocess.Popen(
        [sys.executable, "-m", "recipes.data_prep", f"launch.root={tmp_path}", f"data.sources=[{{path: '{fifo}'}}]"],
        cwd=REPO,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stage_dir = tmp_path / "smoke" / "data_prep"
    try:
        deadline = time.monotonic() + 120
        while (
            not (stage_dir / "status.json").exists()
            or json.loads((stage_dir / "status.json").read_text())["state"] != "running"
        ):
            assert launcher.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        tree = [launcher, *psutil.Process(launcher.pid).children(recursive=True)]
        for proc in tree:  # a node crash: launcher and job die together, nothing records the end
            os.kill(proc.pid, signal.SIGKILL)
        launcher.wait(timeout=30)
        psutil.wait_procs([p for p in tree[1:]], timeout=30)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert json.loads((stage_dir / "status.json").read_text())["state"] == "running"  # what the crash left
    out = launch("recipes.status", str(stage_dir), "--tail", "0")  # the stage's own directory: its row
    assert out.returncode == 0, out.stderr
    status = json.loads((stage_dir / "status.json").read_text())
    assert status["state"] == "failed" and "is gone" in status["error"]
    assert f"pid {launcher.pid}" in status["error"] and "data_prep" in out.stdout and "failed" in out.stdout


def test_a_full_disk_is_one_line_naming_the_path_and_its_free_space(tmp_path, monkeypatch, capsys):
    import dataclasses

    from recipes.runtime import stage_runner
    from recipes.stages import stage
    from recipes.submit.launch import prepare

    stage_dir = prepare("data_prep", [f"launch.root={tmp_path}", "launch.dryrun=true"]).run_dir

    def fill_the_disk(ctx):  # /dev/full answers every write with ENOSPC, as a full file system does
        (ctx.artifact_dir).mkdir(parents=True, exist_ok=True)
        (ctx.artifact_dir / "tokens.bin").symlink_to("/dev/full")
        with open(ctx.artifact_dir / "tokens.bin", "wb") as sink:
            sink.write(b"\0" * 65536)
            sink.flush()

    full_disk_stage = dataclasses.replace(stage("data_prep"), execute=fill_the_disk)
    monkeypatch.setattr(stage_runner, "stage", lambda name: full_disk_stage)
    assert stage_runner.main(["--run-dir", str(stage_dir)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert "No space left on device" in err[0] and str(stage_dir) in err[0] and " free there" in err[0]
    status = json.loads((stage_dir / "status.json").read_text())
    assert status["state"] == "failed" and status["error"] == err[0].removeprefix("error: ")


# 5. Damaged or missing files: one line naming the file and the repair ------------------------------------------


@pytest.mark.parametrize("damage", ["", '{"state": "runn'], ids=["empty", "truncated"])
def test_status_on_a_damaged_status_file_names_it_and_the_repair(tmp_path, capsys, damage):
    from recipes import status
    from recipes.submit.launch import prepare

    stage_dir = prepare("data_prep", [f"launch.root={tmp_path}", "launch.dryrun=true"]).run_dir
    (stage_dir / "status.json").write_text(damage)
    assert status.main([str(stage_dir.parent)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(stage_dir / "status.json") in err[0] and "delete it" in err[0], err


def test_status_of_one_stage_directory_shows_that_stage(tmp_path, capsys):
    from recipes.submit import status
    from recipes.submit.launch import prepare

    stage_dir = prepare("data_prep", [f"launch.root={tmp_path}", "launch.dryrun=true"]).run_dir
    shown = status.collect(stage_dir)
    assert [(s.stage, s.state) for s in shown] == [("data_prep", "not started")]


# 4. Accepted but wrong: refused before work starts, with the field and the fix ------------------------------------


def findings(stage: str, *overrides: str) -> dict[str, str]:
    report = preflight.plan(to_object(compose(stage, list(overrides))))
    return {f.field: f.line() for f in report.errors}


def test_a_model_config_unlike_the_checkpoint_it_loads_is_refused():
    """The smoke experiment loads the 270M fixture; model=gemma3_4b would build a 4B architecture over it."""
    found = findings("cpt", "model=gemma3_4b")
    assert "num_layers=34 but num_hidden_layers=18" in found["model"] and "model=..." in found["model"]
    assert "model" not in findings("cpt")  # the smoke's own model matches its checkpoint


@pytest.mark.parametrize(
    "override, field, fix",
    [
        ("optimizer.lr=-0.1", "optimizer.lr", "optimizer.lr=1e-5"),
        ("optimizer.lr=0", "optimizer.lr", "optimizer.lr=1e-5"),
        ("stage.time=99:99:99", "stage.time", "stage.time=04:00:00"),
        ("stage.time=1-25:00:00", "stage.time", "stage.time=04:00:00"),
        ("launch.root=/etc/passwd", "launch.root", "point launch.root at a directory"),
    ],
)
def test_values_no_run_can_use_are_refused(override, field, fix):
    found = findings("cpt", override)
    assert field in found and fix in found[field], found


@pytest.mark.parametrize(
    "override", ["stage.time=48:00:00", "stage.time=2-00:00:00", "stage.time=90", "optimizer.lr=3e-4"]
)
def test_values_slurm_and_training_take_are_accepted(override):
    assert override.partition("=")[0] not in findings("cpt", override)


def test_a_file_as_launch_root_is_one_line_from_the_command(tmp_path):
    out = launch("recipes.data_prep", "launch.dryrun=true", "launch.root=/etc/passwd")
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert out.stderr.strip().splitlines() == [
        "error: launch.root: /etc/passwd is a file, not a directory; fix: point launch.root at a directory (run "
        "directories go to <launch.root>/<run.name>/<stage>), e.g. launch.root=$HOME/runs"
    ]


def test_a_relative_source_path_is_resolved_at_submission(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "en.jsonl").write_text((REPO / "data_prep/sample_corpus/en.jsonl").read_text())
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "recipes.data_prep",
            "launch.dryrun=true",
            f"launch.root={tmp_path}",
            "data.sources=[{path: 'corpus/*.jsonl', lang: en}]",
            "data_prep.drop_missing=true",
        ],
        cwd=tmp_path,
        env={**ENV, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    import yaml

    resolved = yaml.safe_load((tmp_path / "smoke/data_prep/resolved.yaml").read_text())
    assert resolved["data"]["sources"][0]["path"] == f"{corpus}/*.jsonl"  # what the job, run elsewhere, will see


def test_datamix_rows_without_a_declared_source_are_refused_before_curation():
    sources = "data.sources=[{path: '" + str(REPO / "data_prep/sample_corpus/en.jsonl") + "', lang: en}]"
    found = findings("data_prep", sources)
    assert "data.sources" in found and "'SEA/id'" in found["data.sources"] and "drop_missing" in found["data.sources"]
    assert "data.sources" not in findings("data_prep", sources, "data_prep.drop_missing=true")


def test_a_hub_tokenizer_offline_and_not_cached_is_refused_at_preflight(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")  # nothing cached
    found = findings("data_prep", "data.tokenizer=google/gemma-3-270m", "launch.dryrun=true")
    assert "data.tokenizer" in found and "not in this machine's Hugging Face cache" in found["data.tokenizer"]


def test_an_unreadable_registry_is_refused_at_preflight(tmp_path):
    (tmp_path / "registry").mkdir()
    (tmp_path / "registry" / "index.json").write_text('{"smoke-data_prep-0.1.0": ')
    found = findings("data_prep", f"launch.root={tmp_path}")
    assert "repair" in found["launch.root"] and str(tmp_path / "registry" / "index.json") in found["launch.root"]


def test_versions_pointed_at_a_launch_root_says_where_the_registry_is(tmp_path):
    (tmp_path / "registry").mkdir()
    (tmp_path / "registry" / "index.json").write_text("{}")
    (tmp_path / "smoke").mkdir()
    out = launch("recipes.versions", "--root", str(tmp_path), "check")
    assert out.returncode == 2 and f"--root {tmp_path / 'registry'}" in out.stdout, out.stdout


def test_a_non_ascii_run_name_unquoted_explains_itself(tmp_path):
    out = launch("recipes.data_prep", "launch.dryrun=true", f"launch.root={tmp_path}", "run.name=ทดสอบ")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "run.name:" in out.stderr and "LexerNoViableAltException" not in out.stderr
    assert "run.name=sealion_th_test" in out.stderr


# 6. A stopped tokenizer pool: each worker finishes or drops its shard, none takes a new one -----------------------


def test_a_stopped_pool_finishes_its_shards_and_starts_no_new_one(tmp_path):
    """One worker, many small shards of one input, processed in order: SIGTERM mid-run (to the launcher, which
    stops the job's whole process group, workers included) must leave a prefix of committed shards and no
    half-written one. A worker that inherited the stage's handler abandoned its shard (a `.tmp` left, a gap) and
    then tokenised the queued one."""
    texts = [json.loads(line)["text"] for line in (REPO / "data_prep/sample_corpus/en.jsonl").read_text().splitlines()]
    corpus = tmp_path / "web.jsonl"
    with corpus.open("w") as f:
        for i in range(6000):
            text = f"{i}. " + " ".join(texts[(i + k) % len(texts)] for k in range(4))
            f.write(json.dumps({"id": str(i), "text": text, "lang": "en", "source": "web"}) + "\n")
    launcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "recipes.data_prep",
            f"launch.root={tmp_path}",
            f"data.sources=[{{path: '{corpus}'}}]",
            "data_prep.curate=false",
            "data_prep.workers=1",
            "data_prep.shard_bytes=16384",
            "data_prep.drop_missing=true",
        ],
        cwd=REPO,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    shards = tmp_path / "smoke" / "data_prep" / "artifact" / "shards"

    def committed() -> list[int]:
        return (
            sorted(
                int(p.name.rsplit("-", 1)[1]) for p in shards.iterdir() if p.is_dir() and not p.name.endswith(".tmp")
            )
            if shards.is_dir()
            else []
        )

    try:
        deadline = time.monotonic() + 240
        while len(committed()) < 3:
            assert launcher.poll() is None and time.monotonic() < deadline, "the stage ended before the stop"
            time.sleep(0.05)
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=200)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    status = json.loads((shards.parent.parent / "status.json").read_text())
    assert status["state"] == "stopped", status
    done = committed()
    total = -(-corpus.stat().st_size // 16384)
    assert done == list(range(len(done))) and len(done) < total, (done, total)  # a prefix: no shard skipped
    assert [p.name for p in shards.iterdir() if p.name.endswith(".tmp")] == []  # none left half-written


def test_a_job_started_without_a_launcher_is_running_while_it_lives(tmp_path):
    """A rendered command.sh run by hand holds no run lock: its job lock tells the reader it lives, and its death
    (SIGKILL: nothing records it) is recorded once it is gone."""
    from recipes.submit.status import stage_status

    fifo = tmp_path / "input.jsonl"
    os.mkfifo(fifo)  # the job waits on it
    rendered = launch(
        "recipes.data_prep", f"launch.root={tmp_path}", "launch.dryrun=true", f"data.sources=[{{path: '{fifo}'}}]"
    )
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    stage_dir = tmp_path / "smoke" / "data_prep"
    job = subprocess.Popen(
        [sys.executable, "-m", "recipes.runtime.stage_runner", "--run-dir", str(stage_dir)],
        cwd=REPO,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not (stage_dir / "status.json").exists():
            assert job.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        assert stage_status(stage_dir, tail=0).state == "running"
    finally:
        job.kill()
        job.wait(timeout=30)
    assert stage_status(stage_dir, tail=0).state == "failed"
    assert "no job holds .job.lock" in json.loads((stage_dir / "status.json").read_text())["error"]


def test_status_of_a_launch_root_says_which_directory_to_pass(tmp_path, capsys):
    from recipes import status
    from recipes.submit.launch import prepare

    prepare("data_prep", [f"launch.root={tmp_path}", "launch.dryrun=true"])
    assert status.main([str(tmp_path)]) == 2  # the launch root, not a run: once an empty table
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"e.g. {tmp_path / 'smoke'}" in err[0], err
