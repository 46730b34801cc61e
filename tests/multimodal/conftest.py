"""Session fixture: the tiny multimodal Gemma 3 (tests/helpers/tiny_gemma3.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.tiny_gemma3 import save_tiny


@pytest.fixture(scope="session")
def tiny_multimodal_dir(tmp_path_factory, gemma3_dir) -> Path:
    return save_tiny(tmp_path_factory.mktemp("tiny") / "gemma3-mm", gemma3_dir, seed=0)
