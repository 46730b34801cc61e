"""mergekit merges of the real Gemma 3 270M and real fine-tuned copies, checked against the formulas on real tensors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from recipes.engines.mergekit_merge import (
    IncompatibleModelsError,
    MergeModel,
    MergeSettings,
    check_compatible,
    load_settings,
    mergekit_config,
    run,
)

REPO = Path(__file__).resolve().parents[2]
PROBES = ["model.layers.0.mlp.down_proj.weight", "model.layers.5.self_attn.q_proj.weight"]


def weights(model_dir) -> dict[str, torch.Tensor]:
    return {k: v.float() for k, v in load_file(str(Path(model_dir) / "model.safetensors")).items()}


@pytest.fixture(scope="module")
def tensors(gemma3_dir, tuned_dirs):
    return {"base": weights(gemma3_dir), "a": weights(tuned_dirs["id"]), "b": weights(tuned_dirs["th_vi"])}


def merge(tmp_path, method, base, models, **kw):
    settings = MergeSettings(
        method=method,
        base_model=str(base) if base else "",
        models=models,
        dtype="float32",
        out_dtype="float32",
        out=str(tmp_path / method),
        **kw,
    )
    return weights(run(settings)), Path(settings.out)


def test_fine_tuning_produced_real_task_vectors(tensors):
    for key in PROBES:
        delta = tensors["a"][key] - tensors["base"][key]
        assert (delta != 0).float().mean() > 0.2, key


def test_linear_equals_weighted_average(tmp_path, tuned_dirs, tensors):
    merged, out = merge(
        tmp_path,
        "linear",
        None,
        [MergeModel(str(tuned_dirs["id"]), weight=0.3), MergeModel(str(tuned_dirs["th_vi"]), weight=0.7)],
    )
    assert merged.keys() == tensors["a"].keys()
    for key in merged:
        expected = (tensors["a"][key] * 0.3 + tensors["b"][key] * 0.7) / 1.0
        torch.testing.assert_close(merged[key], expected, rtol=1e-6, atol=1e-7, msg=key)
    # tokenizer and chat template travel with the merge
    assert (out / "tokenizer.json").is_file()
    assert "start_of_turn" in (out / "chat_template.jinja").read_text()


def test_task_arithmetic_adds_scaled_task_vectors_and_generates(
    tmp_path, gemma3_dir, tuned_dirs, tensors, gemma3_tokenizer
):
    merged, out = merge(
        tmp_path,
        "task_arithmetic",
        gemma3_dir,
        [MergeModel(str(tuned_dirs["id"]), weight=1.0), MergeModel(str(tuned_dirs["th_vi"]), weight=0.5)],
        scale=0.8,
    )
    base, a, b = tensors["base"], tensors["a"], tensors["b"]
    for key in merged:
        expected = base[key] + 0.8 * (1.0 * (a[key] - base[key]) + 0.5 * (b[key] - base[key]))
        torch.testing.assert_close(merged[key], expected, rtol=1e-5, atol=1e-6, msg=key)

    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "Apa ibu kota Indonesia?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    generated = model.generate(**prompt, max_new_tokens=4, do_sample=False)
    new = generated[0, prompt["input_ids"].shape[1] :]
    assert len(new) >= 1 and torch.isfinite(model(**prompt).logits).all()


def _unambiguous_topk(delta: torch.Tensor, density: float):
    """Top-`density` magnitude mask, plus the entries whose membership does not depend on tie-breaking."""
    k = max(1, int(density * delta.numel()))
    threshold = delta.abs().flatten().kthvalue(delta.numel() - k + 1).values
    return delta.abs() > threshold, delta.abs() != threshold


def test_ties_keeps_top_magnitudes_and_elected_sign(tmp_path, gemma3_dir, tuned_dirs, tensors):
    density = 0.2
    merged, _ = merge(
        tmp_path,
        "ties",
        gemma3_dir,
        [
            MergeModel(str(tuned_dirs["id"]), weight=1.0, density=density),
            MergeModel(str(tuned_dirs["th_vi"]), weight=1.0, density=density),
        ],
    )
    base = tensors["base"]
    for key in PROBES:
        da, db = tensors["a"][key] - base[key], tensors["b"][key] - base[key]
        keep_a, clear_a = _unambiguous_topk(da, density)
        keep_b, clear_b = _unambiguous_topk(db, density)
        sa, sb = da * keep_a, db * keep_b
        elected = torch.where(sa + sb >= 0, 1.0, -1.0)
        agree_a, agree_b = (sa.sign() == elected).float(), (sb.sign() == elected).float()
        divisor = (agree_a + agree_b).clamp(min=1)
        expected = base[key] + (sa * agree_a + sb * agree_b) / divisor
        clear = clear_a & clear_b
        assert clear.float().mean() > 0.5, f"{key}: too few entries free of top-k ties to check"
        torch.testing.assert_close(merged[key][clear], expected[clear], rtol=1e-5, atol=1e-6, msg=key)
        merged_delta = merged[key] - base[key]
        changed = merged_delta != 0
        # sparsity: at most the union of the two top-20% sets changes
        assert changed.float().mean() <= 2 * density + 1e-3, key
        assert changed.float().mean() > density / 2, key
        # sign consensus: a changed entry never points against the elected sign
        assert (merged_delta.sign()[changed & clear] == elected[changed & clear]).all(), key


def test_dare_ties_drops_at_random_and_respects_sign_consensus(tmp_path, gemma3_dir, tuned_dirs, tensors):
    density = 0.3
    merged, _ = merge(
        tmp_path,
        "dare_ties",
        gemma3_dir,
        [
            MergeModel(str(tuned_dirs["id"]), weight=1.0, density=density),
            MergeModel(str(tuned_dirs["th_vi"]), weight=1.0, density=density),
        ],
        seed=7,
    )
    base = tensors["base"]
    for key in PROBES:
        da, db = tensors["a"][key] - base[key], tensors["b"][key] - base[key]
        merged_delta = merged[key] - base[key]
        assert (merged_delta[(da == 0) & (db == 0)] == 0).all(), key
        same_sign = (da.sign() == db.sign()) & (da != 0)
        survived = (merged_delta[same_sign] != 0).float().mean().item()
        # each task vector keeps a random `density` share: an entry survives if either copy does
        assert abs(survived - (1 - (1 - density) ** 2)) < 0.03, (key, survived)
        # where both task vectors agree, the merge never flips the sign
        assert (
            merged_delta.sign()[same_sign & (merged_delta != 0)] == da.sign()[same_sign & (merged_delta != 0)]
        ).all()


def test_mismatched_architecture_is_refused_before_merging(tmp_path, gemma3_dir, tuned_dirs):
    other = tmp_path / "deeper"
    shutil.copytree(gemma3_dir, other)
    config = json.loads((other / "config.json").read_text())
    config["num_hidden_layers"] = 20
    (other / "config.json").write_text(json.dumps(config))
    settings = MergeSettings(
        method="task_arithmetic",
        base_model=str(gemma3_dir),
        models=[MergeModel(str(tuned_dirs["id"])), MergeModel(str(other))],
        out=str(tmp_path / "o"),
    )
    with pytest.raises(IncompatibleModelsError, match="num_hidden_layers"):
        run(settings)
    assert not (tmp_path / "o").exists()


def test_mismatched_vocabulary_is_refused(tmp_path, gemma3_dir):
    from tokenizers import Tokenizer

    other = tmp_path / "extra_token"
    shutil.copytree(gemma3_dir, other)
    tok = Tokenizer.from_file(str(other / "tokenizer.json"))
    tok.add_tokens(["<sealion_extra>"])
    tok.save(str(other / "tokenizer.json"))
    with pytest.raises(IncompatibleModelsError, match="tokenizer vocabularies differ"):
        check_compatible([gemma3_dir, other])


@pytest.mark.parametrize("preset", sorted((REPO / "conf" / "merge").glob("*.yaml")), ids=lambda p: p.stem)
def test_presets_render_valid_mergekit_configs(preset):
    from mergekit.config import MergeConfiguration

    settings = load_settings(preset)
    with pytest.raises(ValueError, match="placeholders"):
        mergekit_config(settings)
    settings.base_model = "/models/base" if settings.base_model else ""
    for i, model in enumerate(settings.models):
        model.path = f"/models/m{i}"
    config = MergeConfiguration.model_validate(mergekit_config(settings))
    assert config.merge_method == settings.method


def test_bad_settings_name_the_field():
    with pytest.raises(ValueError, match="method='average'"):
        mergekit_config(MergeSettings(method="average", models=[MergeModel("x")], out="o"))
    with pytest.raises(ValueError, match="needs density"):
        mergekit_config(MergeSettings(method="ties", base_model="b", models=[MergeModel("x")], out="o"))
    with pytest.raises(ValueError, match="set base_model"):
        mergekit_config(MergeSettings(method="task_arithmetic", models=[MergeModel("x")], out="o"))
