"""The mergekit configuration recipes.engines.mergekit_merge writes, and its input checks, on tiny model directories
(seconds, not the minutes of test_merging.py's fine-tunes; issue #21's mutation run of
recipes/engines/mergekit_merge.py).

Expected documents follow mergekit 0.1.5's schema (mergekit/config.py: MergeConfiguration, InputModelDefinition)
and its methods' parameter names (mergekit/merge_methods/registry.py, generalized_task_arithmetic.py: weight,
density, epsilon, lambda, normalize; slerp.py: t, with a required base input), written out by hand."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer, models, pre_tokenizers

from recipes.engines import mergekit_merge as merging
from recipes.engines.mergekit_merge import (
    ARCHITECTURE_FIELDS,
    METHODS,
    IncompatibleModelsError,
    MergeModel,
    MergeSettings,
    check_compatible,
    fingerprint,
    input_dirs,
    mergekit_config,
    run,
    unfilled,
)

VOCAB = {f"tok{i}": i for i in range(16)}


def _tiny_model(out: Path, seed: int, vocab: dict[str, int] = VOCAB) -> Path:
    """A Gemma 3 text model as transformers writes it (config.json, model.safetensors), 1 layer of width 8, with a
    16-token word-level tokenizer."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, PreTrainedTokenizerFast

    torch.manual_seed(seed)
    config = Gemma3TextConfig(
        vocab_size=16,
        hidden_size=8,
        intermediate_size=16,
        num_hidden_layers=1,
        num_attention_heads=1,
        num_key_value_heads=1,
        head_dim=8,
        max_position_embeddings=32,
    )
    Gemma3ForCausalLM(config).save_pretrained(out)
    tok = Tokenizer(models.WordLevel(vocab, unk_token="tok0"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="tok0").save_pretrained(out)
    return out


@pytest.fixture(autouse=True)
def no_cached_vocabularies(monkeypatch):
    """Each test parses its tokenizers: the module caches vocabularies by file content across calls."""
    monkeypatch.setattr(merging, "_VOCABS", {})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {name: _tiny_model(root / name, seed) for seed, name in enumerate(("base", "a", "b"))}


def _copy(src: Path, dst: Path, **config_changes) -> Path:
    shutil.copytree(src, dst)
    config = json.loads((dst / "config.json").read_text()) | config_changes
    (dst / "config.json").write_text(json.dumps(config))
    return dst


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(model_dir / "model.safetensors"))


# ---- the configuration document -------------------------------------------------------------------------------


def test_task_arithmetic_weights_and_lambda_and_no_density():
    settings = MergeSettings(
        method="task_arithmetic",
        base_model="B",
        scale=0.8,
        out="o",
        models=[MergeModel("A", weight=0.3), MergeModel("C", weight=0.7, density=0.5)],
    )
    assert mergekit_config(settings) == {
        "merge_method": "task_arithmetic",
        "dtype": "float32",
        "out_dtype": "bfloat16",
        "base_model": "B",
        "models": [{"model": "A", "parameters": {"weight": 0.3}}, {"model": "C", "parameters": {"weight": 0.7}}],
        "parameters": {"lambda": 0.8},
    }


@pytest.mark.parametrize("method", ["ties", "dare_ties", "della"])
def test_sparsifying_methods_carry_density_and_only_della_carries_epsilon(method):
    settings = MergeSettings(
        method=method,
        base_model="B",
        normalize=False,
        dtype="bfloat16",
        out_dtype="float16",
        scale=0.7,
        out="o",
        models=[MergeModel("A", weight=0.6, density=0.4, epsilon=0.1), MergeModel("C", weight=0.4, density=0.9)],
    )
    first = {"weight": 0.6, "density": 0.4} | ({"epsilon": 0.1} if method == "della" else {})
    assert mergekit_config(settings) == {
        "merge_method": method,
        "dtype": "bfloat16",
        "out_dtype": "float16",
        "base_model": "B",
        "models": [{"model": "A", "parameters": first}, {"model": "C", "parameters": {"weight": 0.4, "density": 0.9}}],
        "parameters": {"lambda": 0.7, "normalize": False},
    }


def test_linear_needs_no_base_and_takes_normalize_but_not_lambda():
    settings = MergeSettings(
        method="linear",
        scale=0.5,
        normalize=True,
        chat_template="auto",
        out="o",
        models=[MergeModel("A", weight=2.0), MergeModel("C", weight=1.0, epsilon=0.2)],
    )
    assert mergekit_config(settings) == {
        "merge_method": "linear",
        "dtype": "float32",
        "out_dtype": "bfloat16",
        "models": [{"model": "A", "parameters": {"weight": 2.0}}, {"model": "C", "parameters": {"weight": 1.0}}],
        "parameters": {"normalize": True},
        "chat_template": "auto",
    }


def test_slerp_names_its_base_lists_it_first_and_carries_only_t():
    settings = MergeSettings(
        method="slerp", base_model="B", t=0.3, normalize=True, scale=0.5, out="o", models=[MergeModel("A", weight=0.9)]
    )
    assert mergekit_config(settings) == {
        "merge_method": "slerp",
        "dtype": "float32",
        "out_dtype": "bfloat16",
        "base_model": "B",
        "models": [{"model": "B"}, {"model": "A", "parameters": {}}],
        "parameters": {"t": 0.3},
    }


def test_references_are_resolved_to_strings():
    settings = MergeSettings(method="task_arithmetic", base_model="v:base", models=[MergeModel("v:a")], out="o")
    config = mergekit_config(settings, resolve=lambda ref: Path("/models") / ref.removeprefix("v:"))
    assert config["base_model"] == "/models/base" and config["models"][0]["model"] == "/models/a"
    assert "parameters" not in config  # scale 1.0 is mergekit's default lambda: not written


@pytest.mark.parametrize("method", METHODS)
def test_every_parameter_written_is_one_mergekit_declares_for_the_method(method):
    from mergekit import merge_methods
    from mergekit.config import MergeConfiguration

    n = 1 if method == "slerp" else 2
    settings = MergeSettings(
        method=method,
        base_model="B",
        scale=0.5,
        normalize=True,
        out="o",
        models=[MergeModel(f"M{i}", density=0.5, epsilon=0.1) for i in range(n)],
    )
    config = mergekit_config(settings)
    MergeConfiguration.model_validate(config)
    spec = merge_methods.get(method).spec  # mergekit/merge_methods/base.py: MergeMethodSpec
    shared = {p.name for p in spec.parameters if p.scope.value == "shared"}
    assert set(config.get("parameters", {})) <= shared
    per_model = {p.name for p in spec.parameters if p.scope.value != "shared"}
    for model in config["models"]:
        assert set(model.get("parameters", {})) <= per_model
    if spec.contract.base.value == "required":  # the planner refuses the merge otherwise (base.py, validate_ids)
        assert config["base_model"] == "B"


# ---- settings refused before anything is read -----------------------------------------------------------------


def _settings(method="ties", **kw) -> MergeSettings:
    fields = {"base_model": "B", "models": [MergeModel("A", density=0.5)], "out": "o"} | kw
    return MergeSettings(method=method, **fields)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (_settings(method="average"), "method='average'"),
        (_settings(models=[]), "models is empty"),
        (_settings(method="slerp", models=[MergeModel("A"), MergeModel("C")]), "exactly one model"),
        (_settings(models=[MergeModel("A", density=0.5), MergeModel("C")]), r"needs density .*\['C'\]"),
        (_settings(out=""), "out is empty"),
        (
            _settings(base_model="???base", models=[MergeModel("???a", density=0.5)]),
            "base_model='\\?\\?\\?base', models\\[0\\].path='\\?\\?\\?a'; set them",
        ),
    ],
    ids=["method", "models", "slerp-two", "density", "out", "placeholder"],
)
def test_bad_settings_are_refused_naming_the_field(settings, message):
    with pytest.raises(ValueError, match=message):
        mergekit_config(settings)


@pytest.mark.parametrize("method", ["task_arithmetic", "ties", "dare_ties", "della", "slerp"])
def test_task_vector_methods_need_a_base_and_linear_does_not(method):
    with pytest.raises(ValueError, match=f"method={method} merges task vectors"):
        mergekit_config(_settings(method=method, base_model=""))
    assert "base_model" not in mergekit_config(_settings(method="linear", base_model=""))


def test_only_sparsifying_methods_need_density():
    for method in ("ties", "dare_ties", "della"):
        with pytest.raises(ValueError, match="needs density"):
            mergekit_config(_settings(method=method, models=[MergeModel("A")]))
    mergekit_config(_settings(method="task_arithmetic", models=[MergeModel("A")]))


def test_unfilled_names_each_placeholder_field():
    settings = MergeSettings(base_model="???", models=[MergeModel("/m/a"), MergeModel("???b"), MergeModel("x???")])
    assert unfilled(settings) == {"base_model": "???", "models[1].path": "???b"}
    assert unfilled(MergeSettings(base_model="b", models=[MergeModel("a")])) == {}


def test_input_dirs_put_the_base_first_once():
    assert input_dirs({"base_model": "B", "models": [{"model": "A"}, {"model": "B"}, {"model": "C"}]}) == [
        "B",
        "A",
        "C",
    ]
    assert input_dirs({"models": [{"model": "A"}, {"model": "C"}]}) == ["A", "C"]


# ---- inputs checked against each other ------------------------------------------------------------------------


def test_fingerprint_reads_the_architecture_and_the_vocabulary(tiny):
    print_ = fingerprint(tiny["base"])
    assert print_.architecture == {
        "architectures": ["Gemma3ForCausalLM"],
        "model_type": "gemma3_text",
        "hidden_size": 8,
        "intermediate_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 1,
        "num_key_value_heads": 1,
        "head_dim": 8,
        "vocab_size": 16,
        "tie_word_embeddings": True,
    }
    assert print_.vocab_size == 16 and not print_.multimodal and print_.path == str(tiny["base"])
    assert [p.path for p in check_compatible([tiny["base"], tiny["a"], tiny["b"]])] == [
        str(tiny[n]) for n in ("base", "a", "b")
    ]


def test_a_multimodal_config_is_read_from_its_text_config(tmp_path, tiny):
    mm = shutil.copytree(tiny["base"], tmp_path / "mm")
    text = json.loads((mm / "config.json").read_text())
    (mm / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["Gemma3ForConditionalGeneration"],
                "model_type": "gemma3",
                "text_config": text | {"architectures": ["ignored"], "hidden_size": 12},
                "vision_config": {"hidden_size": 4},
            }
        )
    )
    print_ = fingerprint(mm)
    assert print_.multimodal and print_.architecture["hidden_size"] == 12
    assert print_.architecture["architectures"] == ["Gemma3ForConditionalGeneration"]
    assert print_.architecture["model_type"] == "gemma3_text"
    text_only = f"multimodal inputs \\['{mm}'\\] mixed with text-only inputs \\['{tiny['base']}'\\]"
    with pytest.raises(IncompatibleModelsError, match=text_only):
        check_compatible([tiny["base"], mm])
    with pytest.raises(IncompatibleModelsError, match=text_only):
        check_compatible([mm, tiny["base"]])
    mm_too = shutil.copytree(mm, tmp_path / "mm_too")
    assert [p.multimodal for p in check_compatible([mm, mm_too])] == [True, True]


@pytest.mark.parametrize("field", ARCHITECTURE_FIELDS)
def test_each_architecture_field_that_differs_is_named(tmp_path, tiny, field):
    other = _copy(tiny["a"], tmp_path / "other", **{field: "changed"})
    with pytest.raises(IncompatibleModelsError, match=f"field '{field}' differs: .* vs 'changed' in {other}"):
        check_compatible([tiny["base"], tiny["b"], other])  # the third input is checked too


def test_a_vocabulary_differing_only_in_ids_is_refused_and_a_reformatted_file_is_not(tmp_path, tiny):
    swapped = shutil.copytree(tiny["a"], tmp_path / "swapped")
    vocab = VOCAB | {"tok1": 2, "tok2": 1}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="tok0"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(swapped / "tokenizer.json"))
    with pytest.raises(IncompatibleModelsError, match=f"vocabularies differ \\(16 tokens in {tiny['base']}, 16 in"):
        check_compatible([tiny["base"], swapped])
    added = shutil.copytree(tiny["a"], tmp_path / "added")
    tok = Tokenizer.from_file(str(added / "tokenizer.json"))
    tok.add_tokens(["<extra>"])  # id 16: only in the added tokens
    tok.save(str(added / "tokenizer.json"))
    with pytest.raises(IncompatibleModelsError, match=f"vocabularies differ \\(16 tokens in {tiny['base']}, 17 in"):
        check_compatible([tiny["base"], added])
    reformatted = shutil.copytree(tiny["a"], tmp_path / "reformatted")
    Tokenizer.from_file(str(reformatted / "tokenizer.json")).save(str(reformatted / "tokenizer.json"), pretty=False)
    assert (reformatted / "tokenizer.json").read_bytes() != (tiny["a"] / "tokenizer.json").read_bytes()
    check_compatible([tiny["base"], reformatted])


@pytest.mark.parametrize("missing", ["config.json", "tokenizer.json"])
def test_a_directory_without_config_or_tokenizer_is_named(tmp_path, tiny, missing):
    broken = shutil.copytree(tiny["a"], tmp_path / "broken")
    (broken / missing).unlink()
    with pytest.raises(FileNotFoundError, match=f"{broken / missing} missing"):
        check_compatible([tiny["base"], broken])


def test_a_truncated_weight_file_is_named(tmp_path, tiny):
    broken = shutil.copytree(tiny["a"], tmp_path / "broken")
    shutil.copy(broken / "model.safetensors", broken / "model-00002.safetensors")  # a readable shard first
    data = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[:40])
    with pytest.raises(ValueError, match=f"{broken / 'model.safetensors'}: not a readable safetensors file"):
        fingerprint(broken)


# ---- the document drives mergekit as intended -----------------------------------------------------------------


def test_task_arithmetic_merge_is_base_plus_lambda_times_weighted_task_vectors(tmp_path, tiny):
    out = run(
        MergeSettings(
            method="task_arithmetic",
            base_model=str(tiny["base"]),
            scale=0.5,
            out_dtype="float32",
            models=[MergeModel(str(tiny["a"]), weight=0.25), MergeModel(str(tiny["b"]), weight=1.0)],
            out=str(tmp_path / "ta"),
        )
    )
    base, a, b, merged = (_weights(d) for d in (tiny["base"], tiny["a"], tiny["b"], out))
    name = "model.layers.0.mlp.down_proj.weight"
    expected = base[name] + 0.5 * (0.25 * (a[name] - base[name]) + 1.0 * (b[name] - base[name]))
    torch.testing.assert_close(merged[name], expected, rtol=0, atol=1e-6)
    written = (out / "mergekit_config.yml").read_text()
    assert "lambda: 0.5" in written and f"base_model: {tiny['base']}" in written


def test_slerp_runs_in_mergekit_and_t_moves_from_the_base(tmp_path, tiny):
    """mergekit 0.1.5's slerp requires a base input (slerp.py: InputContract(base=BasePolicy.REQUIRED)); on collinear
    tensors it interpolates linearly: with the other model = 3 x base, t = 0.25 gives (1 - t) + 3t = 1.5 x base."""
    tripled = shutil.copytree(tiny["base"], tmp_path / "tripled")
    from safetensors.torch import save_file

    save_file(
        {k: v * 3 for k, v in _weights(tiny["base"]).items()},
        str(tripled / "model.safetensors"),
        metadata={"format": "pt"},
    )
    out = run(
        MergeSettings(
            method="slerp",
            base_model=str(tiny["base"]),
            models=[MergeModel(str(tripled))],
            t=0.25,
            out_dtype="float32",
            out=str(tmp_path / "slerp"),
        )
    )
    name = "model.layers.0.self_attn.q_proj.weight"
    torch.testing.assert_close(_weights(out)[name], 1.5 * _weights(tiny["base"])[name], rtol=1e-5, atol=1e-6)
