"""Model merging through mergekit's Python API (`MergeConfiguration` + `run_merge`).

The Python API is used rather than the `mergekit-yaml` subprocess so a bad configuration fails as a pydantic
validation error with the field named, and so the compatibility check below runs in the same process before any
tensor is read. Mergekit copies the tokenizer (and `chat_template.jinja`) of the base model, or of the first model
when there is no base; `chat_template` can override that ("auto" picks the most common template of the inputs).

Multimodal Gemma 3 inputs (`Gemma3ForConditionalGeneration`) are merged in their language models only: SEA-LION
trains the text back-end and keeps the vision tower, so every input must carry the same vision tower/projector
(`recipes.artifacts.multimodal.vision_identity`), checked before anything is written. Each input is split
(`recipes.artifacts.multimodal.split`) into a temporary directory beside the output, mergekit merges the `text/` parts,
and `recipes.artifacts.multimodal.reassemble` puts the first input's vision tower around the merged language model, byte
for byte, with the repository's image + tool-call chat template (so `chat_template` is refused there). Mixing
multimodal and text-only inputs is refused: the output would be neither.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from recipes.core.schema import MergeModel, MergeSettings

METHODS = ("linear", "task_arithmetic", "ties", "dare_ties", "slerp", "della")
# Methods that merge task vectors (model - base) and therefore need a base model.
_NEEDS_BASE = {"task_arithmetic", "ties", "dare_ties", "della", "slerp"}
_SPARSIFYING = {"ties", "dare_ties", "della"}
# config.json fields that must agree for tensors to line up one to one.
ARCHITECTURE_FIELDS = (
    "architectures",
    "model_type",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "vocab_size",
    "tie_word_embeddings",
)


@dataclass
class ModelFingerprint:
    path: str
    architecture: dict[str, Any]
    vocab_size: int
    vocab_sha256: str
    multimodal: bool  # config.json has a vision_config (Gemma3ForConditionalGeneration)


class IncompatibleModelsError(ValueError):
    pass


#: (vocabulary size, vocabulary digest) by the SHA-256 of a tokenizer.json's bytes. Inputs fine-tuned from one base
#: carry the same file, which is then parsed once, not once per input (about 2.5 s each for Gemma 3's 262k tokens).
_VOCABS: dict[str, tuple[int, str]] = {}


def _vocab_fingerprint(tok_path: Path) -> tuple[int, str]:
    from tokenizers import Tokenizer

    key = hashlib.sha256(tok_path.read_bytes()).hexdigest()
    if key not in _VOCABS:
        vocab = Tokenizer.from_file(str(tok_path)).get_vocab(with_added_tokens=True)
        digest = hashlib.sha256(json.dumps(sorted(vocab.items(), key=lambda kv: kv[1])).encode()).hexdigest()
        _VOCABS[key] = len(vocab), digest
    return _VOCABS[key]


def fingerprint(model_dir: str | Path) -> ModelFingerprint:
    """Architecture fields from config.json and a hash of the tokenizer vocabulary (token -> id)."""
    model_dir = Path(model_dir)
    config_path, tok_path = model_dir / "config.json", model_dir / "tokenizer.json"
    for needed in (config_path, tok_path):
        if not needed.is_file():
            raise FileNotFoundError(f"{needed} missing: each merge input must be a Hugging Face model directory")
    raw = json.loads(config_path.read_text())
    config = raw.get("text_config", raw) | {"architectures": raw.get("architectures")}
    vocab_size, digest = _vocab_fingerprint(tok_path)
    _check_weight_headers(model_dir)
    return ModelFingerprint(
        path=str(model_dir),
        architecture={k: config.get(k) for k in ARCHITECTURE_FIELDS},
        vocab_size=vocab_size,
        vocab_sha256=digest,
        multimodal="vision_config" in raw,
    )


def _check_weight_headers(model_dir: Path) -> None:
    """Each weight file's header reads (a truncated copy fails here, named, not inside mergekit)."""
    from safetensors import SafetensorError, safe_open

    for path in sorted(model_dir.glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="np"):
                pass
        except SafetensorError as err:
            raise ValueError(
                f"{path}: not a readable safetensors file ({err}); copy or export this merge input again"
            ) from None


def check_compatible(model_dirs: Sequence[str | Path]) -> list[ModelFingerprint]:
    """Refuse inputs whose architectures or vocabularies differ, naming the field and both values."""
    prints = [fingerprint(d) for d in model_dirs]
    multimodal = [p.path for p in prints if p.multimodal]
    if multimodal and len(multimodal) < len(prints):
        text_only = [p.path for p in prints if not p.multimodal]
        raise IncompatibleModelsError(
            f"multimodal inputs {multimodal} mixed with text-only inputs {text_only}: merge multimodal checkpoints "
            "with each other, or text-only checkpoints with each other"
        )
    ref = prints[0]
    for other in prints[1:]:
        for key in ARCHITECTURE_FIELDS:
            if ref.architecture[key] != other.architecture[key]:
                raise IncompatibleModelsError(
                    f"config.json field {key!r} differs: {ref.architecture[key]!r} in {ref.path} vs "
                    f"{other.architecture[key]!r} in {other.path}; merge only models of one architecture"
                )
        if ref.vocab_sha256 != other.vocab_sha256:
            raise IncompatibleModelsError(
                f"tokenizer vocabularies differ ({ref.vocab_size} tokens in {ref.path}, {other.vocab_size} in "
                f"{other.path}): merge only models that share a tokenizer"
            )
    return prints


def _validate(settings: MergeSettings) -> None:
    if settings.method not in METHODS:
        raise ValueError(f"method={settings.method!r}: choose one of {', '.join(METHODS)}")
    if not settings.models:
        raise ValueError("models is empty: list at least one model (plus base_model for task-vector methods)")
    if settings.method in _NEEDS_BASE and not settings.base_model:
        raise ValueError(f"method={settings.method} merges task vectors: set base_model")
    if settings.method == "slerp" and len(settings.models) != 1:
        raise ValueError("method=slerp interpolates base_model with exactly one model: list one entry in models")
    if settings.method in _SPARSIFYING:
        missing = [m.path for m in settings.models if m.density is None]
        if missing:
            raise ValueError(f"method={settings.method} needs density on every model (missing for {missing})")
    if not settings.out:
        raise ValueError("out is empty: give the directory for the merged model")
    placeholders = unfilled(settings)
    if placeholders:
        named = ", ".join(f"{key}={value!r}" for key, value in placeholders.items())
        raise ValueError(
            f"preset placeholders not filled: {named}; set them to model paths or version ids (the "
            "merge stage: merge.base_model=..., merge.models.0.path=...; sealion mergekit: "
            "--base-model, --models)"
        )


def unfilled(settings: MergeSettings) -> dict[str, str]:
    """The preset's `???` placeholders still in place: field (`base_model`, `models[1].path`) -> placeholder."""
    fields = {"base_model": settings.base_model} | {f"models[{i}].path": m.path for i, m in enumerate(settings.models)}
    return {key: value for key, value in fields.items() if value.startswith("???")}


def mergekit_config(settings: MergeSettings, resolve=lambda ref: ref) -> dict[str, Any]:
    """The mergekit YAML document for these settings (also written beside the merged model); `resolve` maps a
    reference (path or version id) to a directory."""
    _validate(settings)

    def location(ref: str) -> str:
        return str(resolve(ref))  # mergekit's pydantic model takes strings, not Path objects

    models = []
    for m in settings.models:
        params: dict[str, Any] = {}
        if settings.method != "slerp":
            params["weight"] = m.weight
        if m.density is not None and settings.method in _SPARSIFYING:
            params["density"] = m.density
        if m.epsilon is not None and settings.method == "della":
            params["epsilon"] = m.epsilon
        models.append({"model": location(m.path), "parameters": params})
    config: dict[str, Any] = {"merge_method": settings.method, "dtype": settings.dtype, "out_dtype": settings.out_dtype}
    global_params: dict[str, Any] = {}
    if settings.method == "slerp":  # mergekit 0.1.5's slerp wants both inputs listed and the base named
        global_params["t"] = settings.t  # (merge_methods/slerp.py: min_inputs=2, base=BasePolicy.REQUIRED)
        models.insert(0, {"model": location(settings.base_model)})
    if settings.base_model:
        config["base_model"] = location(settings.base_model)
    if settings.method in {"task_arithmetic", "ties", "dare_ties", "della"} and settings.scale != 1.0:
        global_params["lambda"] = settings.scale
    if settings.normalize is not None and settings.method != "slerp":
        global_params["normalize"] = settings.normalize
    config["models"] = models
    if global_params:
        config["parameters"] = global_params
    if settings.chat_template:
        config["chat_template"] = settings.chat_template
    return config


def input_dirs(config: dict[str, Any]) -> list[str]:
    dirs = [config["base_model"]] if "base_model" in config else []
    return dirs + [m["model"] for m in config["models"] if m["model"] not in dirs]


def _merge(config: dict[str, Any], out: Path, settings: MergeSettings) -> None:
    from mergekit.config import MergeConfiguration
    from mergekit.merge import run_merge
    from mergekit.options import MergeOptions

    options = MergeOptions(
        device=settings.device,
        cuda=settings.device.startswith("cuda"),
        random_seed=settings.seed,
        copy_tokenizer=True,
        quiet=False,
    )
    run_merge(MergeConfiguration.model_validate(config), str(out), options)


def _check_same_vision(model_dirs: list[str]) -> None:
    """Refuse multimodal inputs whose vision towers/projectors differ: the vision tower is carried, never merged.

    Tensor bytes decide (the overall SHA-256), not vision_config: the carried config is the first input's, and a
    re-save writes fields such as `dtype` into it."""
    from recipes.artifacts import multimodal as mm

    ref = mm.vision_identity(model_dirs[0])
    others = {d: mm.vision_identity(d) for d in model_dirs[1:]}
    differing = {d: mm.compare_identity(ref, other) for d, other in others.items() if other.sha256 != ref.sha256}
    if differing:
        details = "; ".join(f"{d}: {', '.join(p)}" for d, p in differing.items())
        raise mm.VisionMismatchError(
            f"vision tower/projector of {list(differing)} differs from {model_dirs[0]} ({details}). Only the "
            "language models are merged and one vision tower is kept: merge only models fine-tuned from the same "
            "multimodal checkpoint with the vision tower frozen"
        )


def _merge_language_models(config: dict[str, Any], out: Path, settings: MergeSettings) -> None:
    """Split the multimodal inputs, merge their text/ parts, and carry the first input's vision tower over."""
    from recipes.artifacts import multimodal as mm

    if settings.chat_template:
        raise ValueError(
            f"chat_template={settings.chat_template!r}: a multimodal merge ships the repository's "
            "image + tool-call template (recipes.core.chat_template); leave chat_template unset"
        )
    dirs = input_dirs(config)
    _check_same_vision(dirs)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}-split-", dir=out.parent) as tmp:
        work = Path(tmp)
        splits = {d: work / f"input{i}" for i, d in enumerate(dirs)}
        for d, split_dir in splits.items():
            mm.split(d, split_dir)
        text = {d: str(split_dir / "text") for d, split_dir in splits.items()}
        text_config = {**config, "models": [{**m, "model": text[m["model"]]} for m in config["models"]]}
        if "base_model" in config:
            text_config["base_model"] = text[config["base_model"]]
        _merge(text_config, work / "merged", settings)
        mm.reassemble(work / "merged", splits[dirs[0]] / "vision", out)


def run(settings: MergeSettings, resolve=lambda ref: ref) -> Path:
    """Check compatibility, merge, and return the merged model directory. `resolve` maps version ids to paths."""
    config = mergekit_config(settings, resolve)
    prints = check_compatible(input_dirs(config))
    out = Path(settings.out)
    if prints[0].multimodal:
        _merge_language_models(config, out, settings)
    else:
        _merge(config, out, settings)
    (out / "mergekit_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    return out


def load_settings(path: str | Path) -> MergeSettings:
    """A conf/merge preset (plain YAML with MergeSettings fields) as typed settings."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    known = {f.name for f in dataclasses.fields(MergeSettings)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{path}: unknown merge settings {sorted(unknown)}; known: {sorted(known)}")
    models = [MergeModel(**m) for m in data.pop("models", [])]
    return MergeSettings(models=models, **data)
