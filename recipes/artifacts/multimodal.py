"""Train only Gemma 3's language model; release the full multimodal model with the original vision tower.

SEA-LION v4 is trained on the text back-end only, yet ships as ``Gemma3ForConditionalGeneration``. This module
works at the safetensors level (tensor by tensor, sharded output) so a 27B checkpoint is never instantiated:

- ``split``: multimodal checkpoint -> ``text/`` (a ``Gemma3ForCausalLM`` checkpoint to train), ``vision/`` (vision
  tower + projector tensors, multimodal config, processor and tokenizer files) and ``vision_identity.json``
  (SHA-256 per tensor and overall + vision config) for the version record.
- ``reassemble``: trained text checkpoint + vision source -> ``Gemma3ForConditionalGeneration`` checkpoint with
  the image + tool-call chat template; the vision tensors are copied byte for byte and checked against the
  recorded identity; a language model whose hidden size does not fit the projector is refused.

Tensor names. transformers 5.17 holds ``model.language_model.*``, ``model.vision_tower.*`` (SigLIP without its
``vision_model.`` prefix), ``model.multi_modal_projector.*``; google's hub files (and transformers 4.x) use
``language_model.model.*``, ``vision_tower.vision_model.*``, ``multi_modal_projector.*``; transformers 5.17 saves
``language_model.model.*``, ``vision_tower.*``. All are read; output uses google's hub layout, which every
loader (transformers 4.x/5.x, vLLM) maps. ``Gemma3ForCausalLM`` uses ``model.*`` and ``lm_head.weight``.

    python -m recipes.multimodal split SRC OUT
    python -m recipes.multimodal reassemble TEXT_DIR VISION_DIR OUT [--identity vision_identity.json]
    python -m recipes.multimodal verify OUT --identity vision_identity.json
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from rich.progress import track
from safetensors import safe_open
from safetensors.torch import save_file

from recipes.core.chat_template import CHAT_TEMPLATE

IDENTITY_FILE = "vision_identity.json"
PROJECTOR_WEIGHT = "mm_input_projection_weight"
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "special_tokens_map.json",
    "added_tokens.json",
    "generation_config.json",
)
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
#: Text-config keys that describe a saved file, not the architecture.
_FILE_KEYS = ("architectures", "transformers_version", "_name_or_path")

# (on-disk prefix, part); longer prefixes first so "vision_tower.vision_model." wins over "vision_tower.".
_PREFIXES = (
    ("model.vision_tower.vision_model.", "vision"),
    ("vision_tower.vision_model.", "vision"),
    ("model.vision_tower.", "vision"),
    ("vision_tower.", "vision"),
    ("model.multi_modal_projector.", "projector"),
    ("multi_modal_projector.", "projector"),
    ("model.language_model.", "text"),
    ("language_model.model.", "text"),
    ("language_model.lm_head.", "lm_head"),
    ("lm_head.", "lm_head"),
    ("model.", "text"),
)
_HUB_PREFIX = {
    "text": "language_model.model.",
    "lm_head": "language_model.lm_head.",
    "vision": "vision_tower.vision_model.",
    "projector": "multi_modal_projector.",
}


class VisionMismatchError(ValueError):
    """The vision tower/projector is not the recorded one, or does not fit the language model."""


@dataclass
class MultimodalSettings:
    """Export settings (the Hydra schema of the export step)."""

    max_shard_gib: float = 5.0
    #: Refuse to export when the vision source differs from this recorded identity file (None: check fit only).
    identity_path: str | None = None
    write_chat_template: bool = True


@dataclass
class TensorIdentity:
    sha256: str
    shape: list[int]
    dtype: str


@dataclass
class VisionIdentity:
    """What makes a vision tower + projector "the same": every tensor's bytes, and the vision config."""

    sha256: str
    tensors: dict[str, TensorIdentity]
    vision_config: dict
    mm_tokens_per_image: int
    text_hidden_size: int

    @classmethod
    def from_dict(cls, data: dict) -> VisionIdentity:
        tensors = {name: TensorIdentity(**t) for name, t in data["tensors"].items()}
        return cls(**{**data, "tensors": tensors})

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ReassemblySummary:
    out_dir: str
    text_tensors: int
    vision_tensors: int
    shards: int
    vision_sha256: str
    files: list[str] = field(default_factory=list)


def classify(name: str) -> tuple[str, str]:
    """(part, name inside the part) of an on-disk tensor name; part is text, lm_head, vision or projector."""
    for prefix, part in _PREFIXES:
        if name.startswith(prefix):
            return part, name[len(prefix) :]
    raise ValueError(f"tensor {name!r} is not a Gemma 3 text, vision or projector tensor")


def _weight_files(ckpt_dir: Path) -> list[Path]:
    files = sorted(ckpt_dir.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no *.safetensors in {ckpt_dir}: pass a Hugging Face checkpoint directory")
    return files


def iter_tensors(ckpt_dir: Path, parts: set[str]) -> Iterator[tuple[str, str, torch.Tensor]]:
    """(part, name, tensor) for every tensor of ``parts`` in a checkpoint, one at a time."""
    for path in _weight_files(ckpt_dir):
        with safe_open(path, framework="pt") as f:
            for key in f.keys():
                part, name = classify(key)
                if part in parts:
                    yield part, name, f.get_tensor(key)


def tensor_shapes(ckpt_dir: Path, parts: set[str]) -> dict[tuple[str, str], list[int]]:
    """(part, name) -> shape of every tensor of ``parts``, from the headers only (nothing is loaded)."""
    shapes = {}
    for path in _weight_files(ckpt_dir):
        with safe_open(path, framework="pt") as f:
            for key in f.keys():
                part, name = classify(key)
                if part in parts:
                    shapes[part, name] = list(f.get_slice(key).get_shape())
    return shapes


def _read_config(ckpt_dir: Path) -> dict:
    path = ckpt_dir / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: a Hugging Face checkpoint directory needs its config.json")
    return json.loads(path.read_text())


def _multimodal_config(ckpt_dir: Path) -> dict:
    config = _read_config(ckpt_dir)
    if "vision_config" not in config or "text_config" not in config:
        raise ValueError(
            f"{ckpt_dir}/config.json has no vision_config/text_config: not a multimodal Gemma 3 "
            "(Gemma3ForConditionalGeneration) checkpoint"
        )
    return config


def _text_config(ckpt_dir: Path) -> dict:
    config = _read_config(ckpt_dir)
    return config.get("text_config", config)


def _tensor_sha256(tensor: torch.Tensor) -> str:
    return hashlib.sha256(tensor.contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()


def vision_identity(ckpt_dir: str | Path) -> VisionIdentity:
    """Hash the vision tower and projector of a checkpoint (a full multimodal one or a split ``vision/``)."""
    ckpt_dir = Path(ckpt_dir)
    config = _multimodal_config(ckpt_dir)
    tensors: dict[str, TensorIdentity] = {}
    projector_shape: list[int] | None = None
    for part, name, tensor in iter_tensors(ckpt_dir, {"vision", "projector"}):
        key = f"{part}.{name}"
        tensors[key] = TensorIdentity(_tensor_sha256(tensor), list(tensor.shape), str(tensor.dtype))
        if part == "projector" and name == PROJECTOR_WEIGHT:
            projector_shape = list(tensor.shape)
    if projector_shape is None:
        raise ValueError(f"{ckpt_dir} has no multi_modal_projector.{PROJECTOR_WEIGHT}: not a Gemma 3 vision source")
    overall = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key]
        overall.update(f"{key}|{t.dtype}|{t.shape}|{t.sha256}\n".encode())
    return VisionIdentity(
        sha256=overall.hexdigest(),
        tensors=tensors,
        vision_config=config["vision_config"],
        mm_tokens_per_image=config.get("mm_tokens_per_image", 256),
        text_hidden_size=projector_shape[1],
    )


def compare_identity(expected: VisionIdentity, actual: VisionIdentity) -> list[str]:
    """Human-readable differences between two vision identities ([] when they are the same)."""
    problems = []
    missing = sorted(set(expected.tensors) - set(actual.tensors))
    extra = sorted(set(actual.tensors) - set(expected.tensors))
    if missing:
        problems.append(f"{len(missing)} recorded tensors missing, e.g. {missing[:3]}")
    if extra:
        problems.append(f"{len(extra)} unrecorded tensors, e.g. {extra[:3]}")
    common = sorted(set(expected.tensors) & set(actual.tensors))
    shapes = [
        f"{k}: {expected.tensors[k].shape} -> {actual.tensors[k].shape}"
        for k in common
        if expected.tensors[k].shape != actual.tensors[k].shape
    ]
    if shapes:
        problems.append(f"{len(shapes)} tensors change shape, e.g. {shapes[:3]}")
    dtypes = [
        f"{k}: {expected.tensors[k].dtype} -> {actual.tensors[k].dtype}"
        for k in common
        if expected.tensors[k].dtype != actual.tensors[k].dtype
    ]
    if dtypes:
        problems.append(f"{len(dtypes)} tensors change dtype, e.g. {dtypes[:3]}")
    changed = [
        k
        for k in common
        if expected.tensors[k].sha256 != actual.tensors[k].sha256
        and expected.tensors[k].shape == actual.tensors[k].shape
    ]
    if changed:
        problems.append(f"{len(changed)} tensors have other values (SHA-256 differs), e.g. {changed[:3]}")
    config_keys = sorted(
        k
        for k in set(expected.vision_config) | set(actual.vision_config)
        if k not in _FILE_KEYS and expected.vision_config.get(k) != actual.vision_config.get(k)
    )
    if config_keys:
        problems.append(
            "vision_config differs in "
            + ", ".join(
                f"{k}: {expected.vision_config.get(k)!r} -> {actual.vision_config.get(k)!r}" for k in config_keys
            )
        )
    return problems


def load_identity(identity: str | Path | dict | VisionIdentity) -> VisionIdentity:
    if isinstance(identity, VisionIdentity):
        return identity
    if isinstance(identity, dict):
        return VisionIdentity.from_dict(identity)
    path = Path(identity)
    if path.is_dir():
        path = path / IDENTITY_FILE
    return VisionIdentity.from_dict(json.loads(path.read_text()))


class _ShardWriter:
    """Write tensors into safetensors shards of at most ``max_bytes`` (plus the index when there are several)."""

    def __init__(self, out_dir: Path, max_bytes: int):
        self.out_dir, self.max_bytes = out_dir, max_bytes
        self.pending: dict[str, torch.Tensor] = {}
        self.pending_bytes = 0
        self.shards: list[list[str]] = []
        self.total_bytes = 0

    def add(self, name: str, tensor: torch.Tensor) -> None:
        size = tensor.numel() * tensor.element_size()
        if self.pending and self.pending_bytes + size > self.max_bytes:
            self._flush()
        self.pending[name] = tensor.contiguous()
        self.pending_bytes += size
        self.total_bytes += size

    def _flush(self) -> None:
        index = len(self.shards)
        save_file(self.pending, self.out_dir / f"shard-{index:05d}.tmp", metadata={"format": "pt"})
        self.shards.append(list(self.pending))
        self.pending, self.pending_bytes = {}, 0

    def close(self) -> int:
        if self.pending or not self.shards:
            self._flush()
        count = len(self.shards)
        if count == 1:
            (self.out_dir / "shard-00000.tmp").rename(self.out_dir / "model.safetensors")
            return 1
        weight_map = {}
        for i, names in enumerate(self.shards):
            final = f"model-{i + 1:05d}-of-{count:05d}.safetensors"
            (self.out_dir / f"shard-{i:05d}.tmp").rename(self.out_dir / final)
            weight_map.update(dict.fromkeys(names, final))
        index = {"metadata": {"total_size": self.total_bytes}, "weight_map": weight_map}
        (self.out_dir / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
        return count


def _copy_files(src: Path, dst: Path, names: tuple[str, ...]) -> list[str]:
    copied = []
    for name in names:
        if (src / name).exists():
            shutil.copy2(src / name, dst / name)
            copied.append(name)
    return copied


def _stamped(config: dict) -> dict:
    """A config as this transformers writes it (without transformers_version, 5.x tokenizers assume Mistral's)."""
    import transformers

    return {**config, "transformers_version": transformers.__version__}


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _fresh_dir(path: Path) -> Path:
    if path.exists() and any(path.iterdir()):
        raise FileExistsError(f"{path} is not empty: choose a new output directory")
    path.mkdir(parents=True, exist_ok=True)
    return path


def split(src_dir: str | Path, out_dir: str | Path, max_shard_gib: float = 5.0) -> dict:
    """Split a ``Gemma3ForConditionalGeneration`` checkpoint; return the vision identity for the version record.

    Writes ``out_dir/text`` (Gemma3ForCausalLM), ``out_dir/vision`` and ``out_dir/vision_identity.json``.
    """
    src, out = Path(src_dir), _fresh_dir(Path(out_dir))
    config = _multimodal_config(src)
    text_dir, vision_dir = _fresh_dir(out / "text"), _fresh_dir(out / "vision")
    tied = config.get("tie_word_embeddings", config["text_config"].get("tie_word_embeddings", True))
    text = _ShardWriter(text_dir, int(max_shard_gib * 2**30))
    vision = _ShardWriter(vision_dir, int(max_shard_gib * 2**30))
    parts = {"text", "lm_head", "vision", "projector"}
    count = len(tensor_shapes(src, parts))
    for part, name, tensor in track(iter_tensors(src, parts), total=count, description="split"):
        if part == "text":
            text.add(f"model.{name}", tensor)
        elif part == "lm_head":
            if not tied:
                text.add(f"lm_head.{name}", tensor)
        else:
            vision.add(_HUB_PREFIX[part] + name, tensor)
    text.close()
    vision.close()
    text_config = {k: v for k, v in config["text_config"].items() if k not in _FILE_KEYS}
    text_config.update(architectures=["Gemma3ForCausalLM"], model_type="gemma3_text", tie_word_embeddings=tied)
    _write_json(text_dir / "config.json", _stamped(text_config))
    _write_json(vision_dir / "config.json", config)
    for dst in (text_dir, vision_dir):
        _copy_files(src, dst, TOKENIZER_FILES)
    _copy_files(src, vision_dir, PROCESSOR_FILES + ("chat_template.jinja",))
    (text_dir / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    identity = vision_identity(vision_dir).to_dict()
    _write_json(out / IDENTITY_FILE, identity)
    return identity


def check_fit(identity: VisionIdentity, text_config: dict, embed_rows: int, image_token_index: int) -> None:
    """Refuse a language model that the projector cannot feed (other hidden size, no room for image tokens)."""
    hidden = text_config.get("hidden_size")
    if hidden != identity.text_hidden_size:
        raise VisionMismatchError(
            f"language model hidden_size {hidden} does not fit the multimodal projector, which maps the vision "
            f"tower into hidden size {identity.text_hidden_size}: use the vision tower of the same Gemma 3 size"
        )
    if embed_rows <= image_token_index:
        raise VisionMismatchError(
            f"language model embeds {embed_rows} tokens but image_token_index is {image_token_index}: the text "
            "checkpoint must keep the multimodal vocabulary (vocab_size of the -it model)"
        )


def reassemble(
    text_dir: str | Path,
    vision_dir: str | Path,
    out_dir: str | Path,
    settings: MultimodalSettings | None = None,
    identity: str | Path | dict | VisionIdentity | None = None,
) -> ReassemblySummary:
    """Trained language model + original vision tower/projector -> ``Gemma3ForConditionalGeneration`` checkpoint.

    ``vision_dir`` is a split ``vision/`` or any multimodal checkpoint (its language model is ignored). The vision
    source must match ``identity`` (or ``settings.identity_path``, or the ``vision_identity.json`` beside a split
    ``vision/`` or inside an earlier export) when one is known, so the vision identity is checked at every hop.
    """
    settings = settings or MultimodalSettings()
    text_src, vision_src, out = Path(text_dir), Path(vision_dir), Path(out_dir)
    config = _multimodal_config(vision_src)
    actual = vision_identity(vision_src)
    beside = [p for p in (vision_src / IDENTITY_FILE, vision_src.parent / IDENTITY_FILE) if p.exists()]
    recorded = identity or settings.identity_path or (beside[0] if beside else None)
    if recorded is not None:
        problems = compare_identity(load_identity(recorded), actual)
        if problems:
            raise VisionMismatchError(
                f"vision tower/projector in {vision_src} is not the recorded one: " + "; ".join(problems)
            )
    text_config = _text_config(text_src)
    tied = text_config.get("tie_word_embeddings", True)
    text_shapes = tensor_shapes(text_src, {"text", "lm_head"})
    embed = text_shapes.get(("text", "embed_tokens.weight"))
    if embed is None:
        raise ValueError(f"{text_src} has no embed_tokens.weight: not a Gemma 3 language model checkpoint")
    check_fit(actual, text_config, embed[0], config.get("image_token_index", 262144))
    _fresh_dir(out)
    writer = _ShardWriter(out, int(settings.max_shard_gib * 2**30))
    text_count = 0
    text_tensors = iter_tensors(text_src, {"text", "lm_head"})
    for part, name, tensor in track(text_tensors, total=len(text_shapes), description="language model"):
        if part == "lm_head" and tied:
            continue
        writer.add(_HUB_PREFIX[part] + name, tensor)
        text_count += 1
    vision_tensors = iter_tensors(vision_src, {"vision", "projector"})
    for part, name, tensor in track(vision_tensors, total=len(actual.tensors), description="vision tower"):
        writer.add(_HUB_PREFIX[part] + name, tensor)
    shards = writer.close()
    merged_text = {k: v for k, v in text_config.items() if k not in _FILE_KEYS}
    merged_text["model_type"] = "gemma3_text"
    config = {
        **config,
        "text_config": merged_text,
        "architectures": ["Gemma3ForConditionalGeneration"],
        "tie_word_embeddings": tied,
    }
    _write_json(out / "config.json", _stamped(config))
    tokenizer_src = text_src if (text_src / "tokenizer.json").exists() else vision_src
    files = _copy_files(tokenizer_src, out, TOKENIZER_FILES) + _copy_files(vision_src, out, PROCESSOR_FILES)
    if settings.write_chat_template:
        (out / "chat_template.jinja").write_text(CHAT_TEMPLATE)
        files.append("chat_template.jinja")
    _write_json(out / IDENTITY_FILE, actual.to_dict())
    return ReassemblySummary(str(out), text_count, len(actual.tensors), shards, actual.sha256, files)


def verify(ckpt_dir: str | Path, identity: str | Path | dict | VisionIdentity) -> VisionIdentity:
    """Check an exported checkpoint's vision tower/projector against the recorded identity (raises on mismatch)."""
    actual = vision_identity(ckpt_dir)
    problems = compare_identity(load_identity(identity), actual)
    if problems:
        raise VisionMismatchError(f"{ckpt_dir}: " + "; ".join(problems))
    return actual


def run(settings: MultimodalSettings, text_dir: str, vision_dir: str, out_dir: str) -> dict:
    """Export step of a stage: reassemble the released multimodal checkpoint; returns the summary."""
    return asdict(reassemble(text_dir, vision_dir, out_dir, settings=settings))


def vision_dir(text_checkpoint: str | Path) -> Path:
    """Where hf_import put the vision tower of the text checkpoint it wrote (`artifact/text` beside `vision`)."""
    return Path(text_checkpoint).parent / "vision"


def reassemble_trained(model, artifact_dir: Path, text_dir: Path) -> Path:
    """For a multimodal Gemma 3 (model.multimodal, trained from hf_import's model.hf_text_checkpoint): the
    language model in `text_dir` put back together with the vision tower hf_import set aside, checked against
    its recorded identity, as `artifact_dir/multimodal` (Gemma3ForConditionalGeneration). Otherwise, or when
    `text_dir` is already multimodal, `text_dir` itself."""
    if not (model.multimodal and model.hf_text_checkpoint):
        return text_dir
    if "vision_config" in json.loads((text_dir / "config.json").read_text()):
        return text_dir
    target = artifact_dir / "multimodal"
    shutil.rmtree(target, ignore_errors=True)  # a requeued attempt reassembles again
    reassemble(text_dir, vision_dir(model.hf_text_checkpoint), target)
    return target
