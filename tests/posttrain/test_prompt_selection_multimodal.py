"""The 27B chain's select configuration (experiment sealion_v4_27b: select=less, select.model a Gemma 3 4B) end to
end on CPU, on a small multimodal Gemma 3: google/gemma-3-4b-it is model_type gemma3, for which
AutoModelForCausalLM builds Gemma3ForConditionalGeneration with a SigLIP vision tower that has q/k/v projections
of its own. Built here from the real transformers classes with tiny text and vision configs and the real tokenizer
of the 270M fixture."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from recipes.core.config import REPO_ROOT
from recipes.core.stage_context import StageContext
from recipes.core.status import StageOutcome
from recipes.gemma3_fixture import build
from recipes.posttrain.prompt_selection.model import lora_model, lora_parameters
from recipes.posttrain.prompt_selection.settings import SelectionSettings
from recipes.posttrain.prompt_selection.warmup import STATE_FILE
from recipes.stages import select
from recipes.submit import launch

SAMPLE = REPO_ROOT / "data_prep" / "sample_select"
LAYERS = 2


@pytest.fixture(scope="module")
def multimodal_gemma3(tmp_path_factory):
    from transformers import AutoTokenizer, Gemma3Config, Gemma3ForConditionalGeneration

    tokenizer = AutoTokenizer.from_pretrained(build())
    config = Gemma3Config(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=LAYERS,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=16,
            sliding_window=16,
            layer_types=["sliding_attention", "full_attention"],
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=28,
            patch_size=14,
        ),
        mm_tokens_per_image=4,
    )
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("gemma3-mm")
    Gemma3ForConditionalGeneration(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def test_the_lora_sits_on_the_language_model_only(multimodal_gemma3):
    model, _ = lora_model(SelectionSettings(model=str(multimodal_gemma3), lora_r=4, lora_alpha=16))
    assert type(model.get_base_model()).__name__ == "Gemma3ForConditionalGeneration"
    assert any("vision_tower" in name and name.endswith("q_proj") for name, _ in model.named_modules())
    names = [name for name, _ in lora_parameters(model)]
    # q, k, v, o of each text layer, lora_A and lora_B each; none in the vision tower
    assert len(names) == LAYERS * 4 * 2 and all(".language_model.layers." in name for name in names)


def test_the_27b_chains_select_runs_end_to_end(multimodal_gemma3, tmp_path):
    run = launch.prepare(
        "select",
        [
            "experiment=sealion_v4_27b",
            f"launch.root={tmp_path}",
            f"select.model={multimodal_gemma3}",
            f"select.candidates={SAMPLE / 'pool.jsonl'}",
            f"+select.targets.id_math={SAMPLE / 'target_id_math.jsonl'}",
        ],
    )
    s = run.cfg.select
    # the chain's settings: LESS's, with the selector model swapped for the tiny multimodal one
    assert (s.lora_r, s.lora_alpha, s.checkpoints, s.proj_dim, s.candidate_gradient, s.bf16, s.max_grad_norm) == (
        128,
        512,
        4,
        8192,
        "adam",
        True,
        1.0,
    )
    ctx = StageContext(run.cfg, run.run_dir)
    assert select.execute(ctx) is StageOutcome.DONE
    out = ctx.artifact_dir
    chosen = [json.loads(line) for line in (out / "selected.jsonl").read_text().splitlines()]
    assert len(chosen) == math.ceil(0.05 * 16) and set(chosen[0]["targets"]) == {"id_math"}
    [warm] = [p for p in (out / "warmup").iterdir() if p.is_dir()]
    state = torch.load(warm / "ckpt-4" / STATE_FILE)
    assert len(state) == LAYERS * 4 * 2 and all(".language_model." in name for name in state)
    features = sorted((out / "features").rglob("*.npy"))
    assert len(features) == 4  # one shard of 16 candidates (shard_size 1024) per checkpoint
    for path in features:
        array = np.load(path)
        assert array.shape == (16, 8192) and np.isfinite(array).all() and (np.abs(array).sum(axis=1) > 0).all()
