"""Each extra names what its code imports, checked by running the code with every other distribution hidden.

A data_prep on a machine with the launcher and the `data` extra once failed at preflight on `rouge_score`
(preflight -> data_prep.langid -> evals.metrics), then in the stage on `pythainlp`. Here a `sitecustomize` on
PYTHONPATH makes every Python process of the run (the launcher, the stage runner, the pool workers) refuse the
top-level modules of installed distributions outside the extra's requirements; what actually runs is the check.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from tests.helpers.requirements import OWN, REPO, normalise, requirements

BLOCKER = '''\
import importlib.abc, json, os, sys

class _Hidden(importlib.abc.MetaPathFinder):
    """Refuse modules of distributions this extra does not require, as if they were not installed."""
    hidden = set(json.loads(os.environ["SEALION_HIDDEN_MODULES"]))

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.hidden:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden: not required by the extra)", name=name)
        return None

sys.meta_path.insert(0, _Hidden())
'''


@cache
def _installed_modules() -> dict[str, list[str]]:
    """Top-level module -> its distributions, as a fresh interpreter sees them: once anything in this process has
    imported setuptools, its vendored distributions (jaraco, ...) are on sys.path, and they are not installed."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json; from importlib.metadata import packages_distributions as p; print(json.dumps(p()))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


@cache
def _hidden_modules(extras: tuple[str, ...]) -> list[str]:
    """Top-level modules of installed distributions outside the requirements of `extras` (and their own)."""
    allowed = requirements(extras)
    return sorted(
        module
        for module, dists in _installed_modules().items()
        if not ({normalise(d) for d in dists} & allowed) and module.isidentifier() and module not in OWN
    )


def _run_with_only(extras: tuple[str, ...], tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
        "SEALION_HIDDEN_MODULES": json.dumps(_hidden_modules(extras)),
    }
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_the_blocker_hides_what_the_extra_does_not_name(tmp_path):
    out = _run_with_only(("data",), tmp_path, "-c", "import rouge_score")
    assert "No module named 'rouge_score' (hidden: not required by the extra)" in out.stderr
    assert _run_with_only(("data",), tmp_path, "-c", "import datasketch, omegaconf").returncode == 0


def test_the_data_extra_runs_data_prep(tmp_path):
    out = _run_with_only(("data",), tmp_path, "-m", "recipes.data_prep", f"launch.root={tmp_path / 'runs'}")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert (tmp_path / "runs" / "smoke" / "data_prep" / "artifact").is_dir()


STAGES = sorted(p.stem for p in (REPO / "conf" / "stage").glob("*.yaml"))
DRY_RUN_ALL = """
import pathlib, sys
from recipes.submit.cli import stage_main
root, cluster, stages = sys.argv[1], sys.argv[2], sys.argv[3:]
prompts = pathlib.Path(root) / "prompts.jsonl"  # a dry run refuses inputs that do not exist
prompts.parent.mkdir(parents=True, exist_ok=True)
prompts.write_text('{"prompt": "Apa khabar?", "language": "ms"}\\n')
failed = {}
for stage in stages:
    sys.argv = [f"recipes.{stage}", f"launch.root={root}", f"cluster={cluster}", "launch.dryrun=true",
                # what a user must set for some stages (the run's own choices, not packages)
                "cluster.account=acct", "cluster.partition=part"]
    if stage == "clair":  # a stage's own section is set on that stage only (another's override is refused)
        sys.argv.append(f"clair.prompts={prompts}")
    code = stage_main(stage)
    if code:
        failed[stage] = code
print("FAILED", failed)
"""


@pytest.mark.parametrize("cluster", ["local", "slurm"])
def test_the_launcher_install_composes_and_dry_runs_every_stage(tmp_path, cluster):
    out = _run_with_only(("launcher",), tmp_path, "-c", DRY_RUN_ALL, str(tmp_path / "runs"), cluster, *STAGES)
    assert "FAILED {}" in out.stdout, out.stdout[-3000:] + out.stderr[-3000:]
