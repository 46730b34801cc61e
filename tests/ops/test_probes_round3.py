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
from recipes.core.config import compose, to_object
from recipes.submit import preflight, run_lock

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "COLUMNS": "250"}
HEX40 = secrets.token_hex(20)  # a W&B API key's shape
# Standard base64 whose 32+ characters are split by '/' into pieces under 32 (drawn seeded: the same each run).
SLASHED_B64 = base64.b64encode(random.Random(3).randbytes(45)).decode()
SNAPSHOT = f"/root/.cache/huggingface/hub/models--google--gemma-3-270m/snapshots/{secrets.token_hex(20)}"
SHA256 = secrets.token_hex(32)


def launch(module: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=ENV, capture_output=True, text=True,
                          timeout=timeout)


def files_holding(root: Path, planted: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and planted.encode() in p.read_bytes()]


# 1. Credentials ------------------------------------------------------------------------------------------------

def test_a_key_inside_a_url_and_slashed_base64_are_credentials():
    assert "/" in SLASHED_B64 and max(len(piece) for piece in SLASHED_B64.split("/")) < 32
    assert secret_values.secrets_in(f"https://user:{HEX40}@db.example.com/x") == [HEX40]
    assert secret_values.secrets_in(f"export SVC_KEY={SLASHED_B64}") == [SLASHED_B64]
    cfg = to_object(compose("cpt", ["experiment=sealion_v4_27b", "cluster=slurm",
                                    f"+cluster.env.DB_URL=https://user:{HEX40}@db.example.com/x"]))
    assert [f.field for f in preflight.check_secrets(cfg)] == ["cluster.env.DB_URL"]


@pytest.mark.parametrize("override", [f"model.hf_id={SNAPSHOT}", f"run.name=cpt-{SHA256}",
                                      f"data.datamix=/data/mixes/{SHA256}.yaml"],
                         ids=["hub-snapshot", "run-name", "file-name"])
def test_a_hub_snapshot_and_a_content_hash_in_a_path_or_name_are_not_credentials(override):
    cfg = to_object(compose("cpt", ["experiment=sealion_v4_27b", "cluster=slurm", override]))
    assert preflight.check_secrets(cfg) == []


def test_a_value_declared_not_secret_is_accepted_and_written_as_is():
    build_id = secrets.token_hex(20)  # ambiguous: 40 hex digits that are an image build id, not a key
    flagged = to_object(compose("cpt", ["experiment=sealion_v4_27b", f"+cluster.env.IMAGE_BUILD={build_id}"]))
    assert [f.field for f in preflight.check_secrets(flagged)] == ["cluster.env.IMAGE_BUILD"]
    declared = compose("cpt", ["experiment=sealion_v4_27b", f"+cluster.env.IMAGE_BUILD={build_id}",
                               f"launch.not_secrets=[{build_id}]"])
    assert preflight.check_secrets(to_object(declared)) == []
    resolved = OmegaConf.to_container(declared, resolve=True)
    written = json.dumps(manifest.redact({"config": resolved, "overrides": [f"x={build_id}", f"y={HEX40}"]}, []))
    assert written.count(build_id) == 3 and HEX40 not in written  # the declared value kept, an undeclared one not


def test_refused_credentials_reach_no_file_of_a_slurm_dry_run(tmp_path):
    out = launch("recipes.cpt", "experiment=sealion_v4_27b", "cluster=slurm", "launch.dryrun=true",
                 f"launch.root={tmp_path}", f"+cluster.env.DB_URL=https://user:{HEX40}@db.example.com/x",
                 f"cluster.setup_lines=['export SVC_KEY={SLASHED_B64}']")
    assert out.returncode == 2, out.stderr[-2000:]
    assert [line.split(":")[1].strip() for line in out.stderr.strip().splitlines()] == [
        "cluster.env.DB_URL", "cluster.setup_lines[0]"]
    for planted in (HEX40, SLASHED_B64):
        assert planted not in out.stdout + out.stderr and files_holding(tmp_path, planted) == []


def test_a_snapshot_model_and_a_hashed_run_name_render_a_slurm_dry_run(tmp_path):
    name = f"cpt-{SHA256[:40]}"
    out = launch("recipes.cpt", "experiment=sealion_v4_27b", "cluster=slurm", "launch.dryrun=true",
                 "launch.check_paths=false", f"launch.root={tmp_path}", f"run.name={name}")
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
