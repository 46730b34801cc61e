"""Shared fixtures: the real Gemma 3 270M (built once per machine) and the `slurm` / `gpu` markers."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _slurm_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=20).returncode == 0


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


SMOKE = pytest.StashKey[set]()


def pytest_collection_modifyitems(config, items):
    # tests/run.sh sets SEALION_REQUIRE_SLURM=1 after starting Slurm: then a Slurm test may not silently skip.
    # Markers, not keywords: a parameter id such as [slurm] is a keyword too.
    need_slurm = any(item.get_closest_marker("slurm") for item in items)
    slurm_ok = _slurm_up() if need_slurm else False
    if need_slurm and not slurm_ok and os.environ.get("SEALION_REQUIRE_SLURM") == "1":
        raise pytest.UsageError(
            "SEALION_REQUIRE_SLURM=1 but no Slurm answers `sinfo`: start it with slurm/local/start.sh"
        )
    cuda_ok = _cuda_available()
    config.stash[SMOKE] = {item.nodeid for item in items if item.get_closest_marker("smoke")}
    for item in items:
        if item.get_closest_marker("slurm") and not slurm_ok:
            item.add_marker(pytest.mark.skip(reason="no local Slurm (tests/run.sh starts one)"))
        if item.get_closest_marker("gpu") and not cuda_ok:
            item.add_marker(pytest.mark.skip(reason="needs CUDA"))


def pytest_terminal_summary(terminalreporter, config):
    """One line that counts the sweep's smoke combinations apart from the tests of behaviour."""
    smoke = config.stash.get(SMOKE, set())
    counts = {"behavioural": {}, "smoke": {}}
    for outcome in ("passed", "failed", "skipped", "error"):
        for nodeid in {r.nodeid for r in terminalreporter.stats.get(outcome, [])}:
            kind = counts["smoke" if nodeid in smoke else "behavioural"]
            kind[outcome] = kind.get(outcome, 0) + 1
    parts = [f"{kind}: " + ", ".join(f"{n} {o}" for o, n in c.items()) for kind, c in counts.items() if c]
    if parts:
        terminalreporter.write_line("tests by kind -- " + "; ".join(parts))


@pytest.fixture(scope="session")
def gemma3_dir():
    """Directory of the real Gemma 3 270M as a Hugging Face checkpoint (bf16 safetensors + tokenizer)."""
    from recipes.gemma3_fixture import build

    return build()


@pytest.fixture(scope="session")
def gemma3_tokenizer(gemma3_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gemma3_dir)
