"""Hugging Face -> Megatron -> Hugging Face on the real Gemma 3 270M: the hf_import stage (Megatron-Bridge's
AutoBridge.import_ckpt, run by the launcher) and the export every Megatron stage ends with
(recipes.engines.bridge_config.export_hf) give back the same weights, bit for bit, and the same logits.

Needs CUDA and the `train` container (Megatron-Bridge builds the model with Transformer Engine layers), and the
fixture built by the main venv (`python -m recipes.gemma3_fixture`, run by tests/run.sh). Not yet run in this repo:
no GPU was lent to the task that wrote it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.gpu
pytest.importorskip("megatron.bridge", reason="needs Megatron-Bridge (the train container)")

from recipes.engines.bridge_config import export_hf  # noqa: E402
from recipes.gemma3_fixture import fixture_dir  # noqa: E402
from recipes.runtime.stage_runner import load_context  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TEXT = "Jakarta adalah ibu kota Indonesia. กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย. Hà Nội là thủ đô của Việt Nam."


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    out = {}
    for path in sorted(model_dir.glob("*.safetensors")):
        out.update(load_file(str(path)))
    return out


def test_270m_round_trip_keeps_weights_and_logits(tmp_path):
    source = fixture_dir()
    if not (source / "COMPLETE").exists():
        pytest.skip("build the fixture first with the main venv: python -m recipes.gemma3_fixture")
    out = subprocess.run(
        [sys.executable, "-m", "recipes.hf_import", f"launch.root={tmp_path}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "COLUMNS": "250"},
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    ctx = load_context(tmp_path / "smoke" / "hf_import")
    assert (ctx.artifact_dir / "megatron").is_dir()
    exported = export_hf(ctx.cfg, ctx)

    original, back = weights(source), weights(exported)
    assert set(back) <= set(original) and "model.embed_tokens.weight" in back
    assert set(original) - set(back) <= {"lm_head.weight"}  # tied to the embedding
    for name, tensor in back.items():
        assert torch.equal(tensor.to(original[name].dtype), original[name]), name

    from transformers import AutoModelForCausalLM, AutoTokenizer

    ids = AutoTokenizer.from_pretrained(source)(TEXT, return_tensors="pt").input_ids.cuda()
    logits = [
        AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32).cuda()(ids).logits
        for d in (source, exported)
    ]
    torch.testing.assert_close(logits[1], logits[0], rtol=0, atol=1e-5)
