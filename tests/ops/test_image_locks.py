"""The image lock check (containers/lock_images.py --check, which tests/run.sh runs through tests/image_locks.sh)
fails where it must: a pin that contradicts an image's base, and a lock that no longer matches pyproject.toml.
Run on a copy of the repository's pyproject.toml and containers/, with the uv that tests/image_locks.sh installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UV_BIN = REPO / ".venv-uv" / "bin"

pytestmark = pytest.mark.skipif(
    not (UV_BIN / "uv").is_file(), reason="no .venv-uv: tests/image_locks.sh (run by tests/run.sh first) installs it"
)


def _check(tmp_path: Path, old: str, new: str, *images: str) -> subprocess.CompletedProcess:
    shutil.copytree(REPO / "containers", tmp_path / "containers")
    pyproject = (REPO / "pyproject.toml").read_text()
    assert old in pyproject
    (tmp_path / "pyproject.toml").write_text(pyproject.replace(old, new))
    env = {**os.environ, "PATH": f"{UV_BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [sys.executable, str(tmp_path / "containers" / "lock_images.py"), "--check", *images],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_copy_is_current(tmp_path):
    out = _check(tmp_path, '"sacrebleu==2.6.0"', '"sacrebleu==2.6.0"', "rl", "eval")
    assert out.returncode == 0, out.stderr[-3000:]


def test_a_pin_against_the_base_fails(tmp_path):
    """leptonai's cloudpickle==3.0.0 against NeMo-RL's lock (3.1.1): what the rl image once installed."""
    out = _check(tmp_path, '"httpx>=0.27",', '"httpx>=0.27", "cloudpickle==3.0.0",', "rl")
    assert out.returncode == 1
    assert "the rl image's environment does not resolve against its base (rl.base.txt)" in out.stderr
    assert "cloudpickle==3.0.0" in out.stderr and "cloudpickle==3.1.1" in out.stderr


def test_a_changed_pin_makes_the_committed_lock_stale(tmp_path):
    out = _check(tmp_path, '"rouge-score==0.1.2"', '"rouge-score==0.1.1"', "eval")
    assert out.returncode == 1
    assert (
        "+rouge-score==0.1.1" in out.stderr
        and "the committed lock of eval is not what its inputs resolve" in out.stderr
    )
