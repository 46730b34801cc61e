"""The image + tool-call smoke check: its judging on real answers, and its mechanics on the tiny random model."""

from __future__ import annotations

import json

import pytest
import torch

from evals.multimodal_check import MultimodalCheckSettings, judge_tool_answer, run


def test_judge_accepts_the_convention_and_names_what_is_wrong():
    ok, why = judge_tool_answer('Sure.\n```tool_code\nget_weather(city="Jakarta, Indonesia")\n```', "Jakarta")
    assert ok, why
    assert judge_tool_answer("It is sunny in Jakarta.", "Jakarta") == (False, "no ```tool_code``` block in the answer")
    assert (
        judge_tool_answer('```tool_code\nget_time(city="Jakarta")\n```', "Jakarta")[1]
        == "called 'get_time', expected 'get_weather'"
    )
    assert "expected 'Jakarta'" in judge_tool_answer('```tool_code\nget_weather(city="Manila")\n```', "Jakarta")[1]
    assert not judge_tool_answer("```tool_code\nget_weather(Jakarta)\n```", "Jakarta")[0]


def test_check_runs_end_to_end_on_the_tiny_model(tiny_multimodal_dir, tmp_path):
    """Mechanics only: a random model answers nonsense, so this asserts the run, not a pass."""
    torch.set_num_threads(2)
    out = tmp_path / "check.json"
    result = run(
        MultimodalCheckSettings(model_path=str(tiny_multimodal_dir), max_new_tokens=3, dtype="float32"), str(out)
    )
    assert [p.name for p in result.probes] == ["image", "tool_call"]
    assert all(1 <= p.new_tokens <= 3 for p in result.probes)
    assert result.passed == all(p.passed for p in result.probes)
    saved = json.loads(out.read_text())
    assert saved["probes"][1]["detail"] == result.probes[1].detail and saved["model_path"] == str(tiny_multimodal_dir)


@pytest.mark.gpu
def test_check_runs_on_cuda_in_bfloat16(tiny_multimodal_dir):
    """The cluster path: bf16 weights and pixel values on the GPU."""
    result = run(MultimodalCheckSettings(model_path=str(tiny_multimodal_dir), max_new_tokens=3, device="cuda"))
    assert all(1 <= p.new_tokens <= 3 for p in result.probes)
