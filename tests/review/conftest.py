"""Shared fixtures of the review tests: two registered versions of the real Gemma 3 270M and one `prepare` run of
them (the CLI, greedy, a few new tokens) over real Thai and Burmese prompts, done once per test session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recipes.artifacts.versions import Registry
from tests.helpers.review_browser import CHROMEDRIVER, CHROMIUM, SKIP_REASON, start_chromium

REPO = Path(__file__).resolve().parents[2]
PROMPTS = [
    {"id": "th-food", "lang": "th", "prompt": "แนะนำอาหารเช้าแบบไทยมาสามอย่าง"},
    {"id": "th-songkran", "lang": "th", "prompt": "เทศกาลสงกรานต์คืออะไร"},
    {"id": "my-thingyan", "lang": "my", "prompt": "သင်္ကြန်ပွဲတော်အကြောင်း ပြောပြပါ"},
    {"id": "my-mohinga", "lang": "my", "prompt": "မုန့်ဟင်းခါး ဘယ်လိုချက်ရသလဲ"},
]
VERSION_A, VERSION_B = "review-sft-0.1.0", "review-sft-0.2.0"


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "recipes.review", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO,
    )


@pytest.fixture(scope="session")
def review_registry(gemma3_dir, tmp_path_factory) -> Registry:
    """Two hf versions (their folders link the 270M's files), as a training stage would register them."""
    root = tmp_path_factory.mktemp("review-runs")
    registry = Registry(root / "registry")
    for version in ("0.1.0", "0.2.0"):
        artifact = root / f"sft-{version}"
        artifact.mkdir()
        for f in Path(gemma3_dir).iterdir():
            (artifact / f.name).symlink_to(f)
        registry.register(artifact, name="review-sft", stage="sft", payload_kind="hf", version=version)
    return registry


@pytest.fixture(scope="session")
def review_prompts() -> list[dict]:
    return PROMPTS


@pytest.fixture(scope="session")
def review_cli():
    """Runs `python -m recipes.review ARGS...` from this worktree; returns the CompletedProcess."""
    return run_cli


@pytest.fixture(scope="session")
def prompts_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("review-prompts") / "prompts.jsonl"
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in PROMPTS), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def prepared_db(review_registry, prompts_file, tmp_path_factory) -> Path:
    """A SQLite file holding the four items; tests copy it, so each starts from the same prepared session."""
    db = tmp_path_factory.mktemp("review-db") / "prepared.db"
    done = run_cli(
        "--db",
        f"sqlite:///{db}",
        "prepare",
        "--a",
        VERSION_A,
        "--b",
        VERSION_B,
        "--prompts",
        str(prompts_file),
        "--registry",
        str(review_registry.root),
        "--max-new-tokens",
        "6",
    )
    assert done.returncode == 0, done.stderr
    return db


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """One headless Chromium for the review tests (skipped, with the reason, where tests/browser_env.sh could not
    install it)."""
    pytest.importorskip("selenium.webdriver", reason="selenium not installed: pip install -e '.[test]'")
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip(SKIP_REASON)
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()
