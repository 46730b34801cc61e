"""Issue #14, item 4: credentials by value are refused anywhere in the config, never written, and redacted."""

from __future__ import annotations

import base64
import os
import random
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from recipes.artifacts import manifest
from recipes.core.config import to_object
from recipes.stages import compose
from recipes.submit import preflight

REPO = Path(__file__).resolve().parents[2]
# A W&B API key is 40 hex digits; a Hugging Face token hf_ + 34 letters; an arbitrary service's key 48 URL-safe
# base64 characters. Drawn when the tests run (a seeded draw for the base64 one, so it is the same each run).
WANDB = secrets.token_hex(20)
HF = "hf_" + "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") for _ in range(34))
B64 = base64.urlsafe_b64encode(random.Random(14).randbytes(36)).decode()


def test_planted_values_are_refused_and_no_file_holds_them(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "recipes.cpt",
            "experiment=sealion_v4_27b",
            "cluster=slurm",
            "launch.dryrun=true",
            f"launch.root={tmp_path}",
            f"+cluster.env.WANDB_KEY={WANDB}",
            f"+cluster.env.MY_HF_AUTH={HF}",
            f"cluster.setup_lines=['export SVC_KEY={B64}']",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "250"},
    )
    assert out.returncode == 2, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert [line.split(":")[1].strip() for line in lines] == [
        "cluster.env.WANDB_KEY",
        "cluster.env.MY_HF_AUTH",
        "cluster.setup_lines[0]",
    ], lines
    assert "looks like a credential (40 hex digits)" in lines[0] and "cluster.secrets" in lines[0]
    for planted in (WANDB, HF, B64):
        assert planted not in out.stdout + out.stderr
        for path in tmp_path.rglob("*"):  # every file written, NeMo-Run's included (today: all three leak)
            assert not path.is_file() or planted.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    "override",
    [
        "eval.seahelm.commit=0123456789abcdef0123456789abcdef01234567",  # a git commit is 40 hex digits too
        "cluster.containers.train=nvcr.io/nvidia/nemo@sha256:" + "ab" * 32,
        "launch.root=/lustre/scratch/Project2025/sealionV4/runs/Gemma3Continued8B/checkpoints",
        "run.name=Gemma3-27B-SEALION-v4-ContinuedPretraining-Run17-Nov2025-ablation3",
        "model.hf_id=google/gemma-3-27b-it",
    ],
)
def test_digests_paths_and_names_are_not_credentials(override):
    stage = "eval" if override.startswith("eval.") else "cpt"  # a section is set on the stage that owns it
    cfg = to_object(compose(stage, ["experiment=sealion_v4_27b", "cluster=slurm", override]))
    assert preflight.check_secrets(cfg) == []


def test_written_files_are_redacted_even_past_preflight(monkeypatch):
    monkeypatch.setenv("NAMED", "s3cr3t-by-name")
    data = {
        "config": {
            "cluster": {"env": {"K": WANDB}, "setup_lines": [f"curl -H 'Bearer {HF}'"]},
            "note": "uses s3cr3t-by-name",
        },
        "overrides": [f"+cluster.env.K={WANDB}", f"x={B64}", f"eval.seahelm.commit={'cd' * 20}"],
        "git": {"commit": "ab" * 20},
    }
    written = str(manifest.redact(data, ["NAMED"]))
    assert WANDB not in written and HF not in written and B64 not in written and "s3cr3t" not in written
    assert written.count("<redacted: looks like a secret>") == 4 and "<secret:NAMED>" in written
    assert "ab" * 20 in written and "cd" * 20 in written  # commits stay readable
