"""SEA-HELM's own code at the pinned commit: run with .venv-seahelm (tests/seahelm_env.sh); skipped where it is absent.

The runs' files are written by SEA-HELM itself: its run config by `SeaHelmEvaluation` (merged task configs of the
`seahelm` set, saved with OmegaConf), its inference files by the dataloader's `write_out_dataframe`, its results by
`update_metrics`, `run_single_task_evaluation` (whose failure path writes the `"error"` entry) and
`aggregate_metrics`. Its leaderboard numbers come from `aggregate_scores`, executed from
helpers/results_aggregation.ipynb as that notebook holds it (never copied into this repository).

SEA-HELM's evaluation module imports its model serving (vLLM, LiteLLM, ...), torch's environment report and
`datasets` at import time; none of them takes part in writing or aggregating results, so stand-ins for exactly
those imports go into sys.modules here, only for these tests. The item scores are made up here (seeded): they
stand for what a model's answers scored.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SEAHELM_DIR = REPO / ".venv-seahelm" / "seahelm"  # the archive's source (tests/seahelm_env.sh)
NOTEBOOK = SEAHELM_DIR / "helpers" / "results_aggregation.ipynb"
HAVE_SEAHELM = importlib.util.find_spec("src") is not None and NOTEBOOK.is_file()
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    if HAVE_SEAHELM:
        return
    skip = pytest.mark.skip(
        reason="needs SEA-HELM: bash tests/seahelm_env.sh && .venv-seahelm/bin/python -m pytest tests/seahelm"
    )
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(skip)


def _standin(name: str, **attrs) -> None:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules.setdefault(name, module)


def _unused(*args, **kwargs):
    raise AssertionError("model serving is not part of these tests")


@pytest.fixture(scope="session")
def seahelm_evaluation():
    """SEA-HELM's src.seahelm_evaluation module, its serving/torch/datasets imports stood in for."""
    _standin("src.collect_env", get_pretty_env_info=lambda: "tests/seahelm")
    _standin("src.serving", get_serving_class=_unused, is_serving_type_remote=_unused)
    _standin("src.inference_strategy", get_inference_strategy_class=_unused)
    _standin("datasets", Dataset=type("Dataset", (), {}))
    import src.seahelm_evaluation

    return src.seahelm_evaluation


@pytest.fixture(scope="session")
def notebook():
    """The names helpers/results_aggregation.ipynb defines: its code cells up to and including the one that defines
    `aggregate_scores` (the cells after it run the aggregation over a results folder)."""
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    namespace: dict = {}
    for cell in (c for c in cells if c["cell_type"] == "code"):
        source = "".join(cell["source"])
        exec(compile(source, f"{NOTEBOOK.name} cell", "exec"), namespace)  # noqa: S102 - SEA-HELM's own code
        if "def aggregate_scores(" in source:
            return namespace
    raise AssertionError(f"{NOTEBOOK} defines no aggregate_scores")
