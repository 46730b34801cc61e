"""The offline Gemma 3 270M fixture, built by the main venv (transformers 5), loads in the train container's
transformers 4 (pinned by Megatron-Bridge 0.3.1), where cpt builds its tokenizer and hf_import reads the model: same
token ids, same logits."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
MAIN_PYTHON = REPO / ".venv" / "bin" / "python"
TEXT = "Selamat pagi! สวัสดีครับ Xin chào. <start_of_turn>user\nApa kabar?<end_of_turn>"
# what the main venv reports: the fixture directory, its token ids for TEXT, and a slice of its logits
MAIN_SIDE = f"""
import json, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from recipes.gemma3_fixture import build
d = build()
ids = AutoTokenizer.from_pretrained(d)({TEXT!r}).input_ids
logits = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32)(torch.tensor([ids])).logits
print(json.dumps({{"dir": str(d), "ids": ids, "logits": logits[0, :, :64].tolist()}}))
"""


@pytest.fixture(scope="module")
def main_side():
    if not MAIN_PYTHON.exists():
        pytest.skip("needs the main venv (.venv, built by tests/run.sh) to build the fixture")
    out = subprocess.run([str(MAIN_PYTHON), "-c", MAIN_SIDE], cwd=REPO, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.splitlines()[-1])


def test_tokenizer_and_model_match_transformers5(main_side):
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert transformers.__version__.startswith("4.")
    ids = AutoTokenizer.from_pretrained(main_side["dir"])(TEXT).input_ids
    assert ids == main_side["ids"]
    model = AutoModelForCausalLM.from_pretrained(main_side["dir"], torch_dtype=torch.float32)
    logits = model(torch.tensor([ids])).logits[0, :, :64]
    torch.testing.assert_close(logits, torch.tensor(main_side["logits"]), rtol=1e-4, atol=1e-4)


def test_megatron_bridge_builds_the_cpt_tokenizer_from_it(main_side):
    from megatron.bridge.training.tokenizers.tokenizer import build_tokenizer

    from recipes.core.config import to_object
    from recipes.engines.bridge_config import tokenizer
    from recipes.stages import compose

    cfg = to_object(compose("cpt", [f"data.tokenizer={main_side['dir']}", f"model.hf_id={main_side['dir']}"]))
    built = build_tokenizer(tokenizer(cfg))
    assert built.vocab_size == 262144
    assert [2, *built.tokenize(TEXT)] == main_side["ids"]  # the HF tokenizer adds <bos>; Bridge's tokenize does not
