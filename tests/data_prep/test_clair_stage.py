"""The clair stage: its prompts are required before launch, and the policy is the stage's model, in-process or
served by vLLM on a GPU node (data_prep.clair does the work; test_clair.py runs it against a real server)."""

import os
import subprocess
import sys
from pathlib import Path

from recipes.core.config import to_object
from recipes.core.stage_context import StageContext
from recipes.stages import compose
from recipes.stages.clair import SERVED_NAME, VLLM_PORT, settings

REPO = Path(__file__).resolve().parents[2]


def test_prompts_are_required_before_launch(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "recipes.clair", "launch.dryrun=true", f"launch.root={tmp_path}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "250"},
    )
    assert out.returncode == 2 and out.stderr.startswith("error: clair.prompts: no prompts")


def _settings(tmp_path, *overrides):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"id": "1", "prompt": "Apa ibu kota Indonesia?", "lang": "id"}\n')
    cfg = to_object(compose("clair", [f"launch.root={tmp_path}", f"clair.prompts={prompts}", *overrides]))
    return settings(StageContext(cfg, tmp_path / "run"))


def test_policy_in_process_is_the_stages_model(tmp_path):
    s = _settings(tmp_path, f"run.input={tmp_path / 'rl_model'}", "clair.reviser_base_url=http://judge:9000/v1")
    assert s.policy_backend == "transformers" and s.policy.model == str(tmp_path / "rl_model")
    assert s.reviser.base_url == "http://judge:9000/v1"


def test_served_policy_goes_through_the_local_vllm_endpoint(tmp_path):
    s = _settings(tmp_path, "clair.serve_policy=true", "clair.policy_temperature=0.7")
    assert s.policy_backend == "openai" and s.policy.model == SERVED_NAME
    assert s.policy.base_url == f"http://127.0.0.1:{VLLM_PORT}/v1" and s.policy.temperature == 0.7
