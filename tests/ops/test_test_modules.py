"""pytest imports test modules by basename (rootdir-relative, no packages): two test files of one name in different
folders make the second fail at collection, or import the first's helpers (tests/multimodal/test_stage_export.py
imports `test_export`)."""

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_module_basenames_are_unique():
    names = Counter(p.name for p in TESTS.rglob("*.py") if p.name != "conftest.py" and ".venv" not in p.parts)
    assert [name for name, n in names.items() if n > 1] == []
