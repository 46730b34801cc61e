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


def pytest_collection_modifyitems(config, items):
    # tests/run.sh sets SEALION_REQUIRE_SLURM=1 after starting Slurm: then a Slurm test may not silently skip.
    # Markers, not keywords: a parameter id such as [slurm] is a keyword too.
    need_slurm = any(item.get_closest_marker("slurm") for item in items)
    slurm_ok = _slurm_up() if need_slurm else False
    if need_slurm and not slurm_ok and os.environ.get("SEALION_REQUIRE_SLURM") == "1":
        raise pytest.UsageError("SEALION_REQUIRE_SLURM=1 but no Slurm answers `sinfo`: start it with slurm/local/start.sh")
    cuda_ok = _cuda_available()
    for item in items:
        if item.get_closest_marker("slurm") and not slurm_ok:
            item.add_marker(pytest.mark.skip(reason="no local Slurm (tests/run.sh starts one)"))
        if item.get_closest_marker("gpu") and not cuda_ok:
            item.add_marker(pytest.mark.skip(reason="needs CUDA"))


@pytest.fixture(scope="session")
def gemma3_dir():
    """Directory of the real Gemma 3 270M as a Hugging Face checkpoint (bf16 safetensors + tokenizer)."""
    from recipes.gemma3_fixture import build

    return build()


@pytest.fixture(scope="session")
def gemma3_tokenizer(gemma3_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gemma3_dir)
