"""A small randomly initialised Gemma3ForConditionalGeneration with the real structure, saved like a hub -it model.

Real parts: SigLIP vision tower (no pooling head, as in Gemma 3), the multimodal projector, a Gemma 3 text model
with sliding + full attention layers, the real Gemma 3 tokenizer with the -it image tokens, the Gemma 3 image
processor and processor. Small parts: layer counts, hidden sizes, image size (28 px, 7 px patches, 4 image tokens).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE_SIZE, PATCH, MM_TOKENS = 28, 7, 4
#: The -it vocabulary: 262144 text tokens + <image_soft_token> (262144) + reserved rows, as in google/gemma-3-*-it.
VOCAB = 262208
IMAGE_TOKEN = "<image_soft_token>"


def tiny_config(vision_hidden: int = 32, text_hidden: int = 64):
    from transformers import Gemma3Config, Gemma3TextConfig, SiglipVisionConfig

    vision = SiglipVisionConfig(
        hidden_size=vision_hidden,
        intermediate_size=2 * vision_hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=IMAGE_SIZE,
        patch_size=PATCH,
        vision_use_head=False,
        layer_norm_eps=1e-6,
    )
    text = Gemma3TextConfig(
        vocab_size=VOCAB,
        hidden_size=text_hidden,
        intermediate_size=2 * text_hidden,
        num_hidden_layers=3,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        sliding_window=8,
        layer_types=["sliding_attention", "sliding_attention", "full_attention"],
    )
    return Gemma3Config(
        text_config=text,
        vision_config=vision,
        mm_tokens_per_image=MM_TOKENS,
        image_token_index=262144,
        boi_token_index=255999,
        eoi_token_index=256000,
    )


def multimodal_tokenizer(gemma3_dir):
    """The real Gemma 3 tokenizer plus the -it image token and the processor's named special tokens."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(
        gemma3_dir,
        extra_special_tokens={
            "boi_token": "<start_of_image>",
            "eoi_token": "<end_of_image>",
            "image_token": IMAGE_TOKEN,
        },
    )
    assert tokenizer.convert_tokens_to_ids(IMAGE_TOKEN) == 262144
    return tokenizer


def save_tiny(
    out: Path, gemma3_dir, seed: int, vision_hidden: int = 32, text_hidden: int = 64, hub_layout: bool = True
) -> Path:
    """Save a tiny model + processor; ``hub_layout`` renames to google's names (vision_tower.vision_model.*)."""
    from transformers import Gemma3ForConditionalGeneration, Gemma3ImageProcessor, Gemma3Processor

    from recipes.core.chat_template import CHAT_TEMPLATE

    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(tiny_config(vision_hidden, text_hidden))
    with torch.no_grad():  # fresh init leaves the projector at zero (images would be ignored): perturb everything
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    model.to(torch.bfloat16)
    model.save_pretrained(out)
    if hub_layout:
        weights = load_file(out / "model.safetensors")
        weights = {
            k.replace("vision_tower.", "vision_tower.vision_model.", 1) if k.startswith("vision_tower.") else k: v
            for k, v in weights.items()
        }
        save_file(weights, out / "model.safetensors", metadata={"format": "pt"})
    image_processor = Gemma3ImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    processor = Gemma3Processor(
        image_processor=image_processor,
        tokenizer=multimodal_tokenizer(gemma3_dir),
        chat_template=CHAT_TEMPLATE,
        image_seq_length=MM_TOKENS,
    )
    processor.save_pretrained(out)
    assert json.loads((out / "config.json").read_text())["architectures"] == ["Gemma3ForConditionalGeneration"]
    return out


def tensors_by_part(ckpt_dir: str | Path, parts: set[str]) -> dict:
    """{(part, name): tensor} over all shards, whatever the on-disk naming."""
    from recipes.artifacts import multimodal as mm

    return {(p, n): t for p, n, t in mm.iter_tensors(Path(ckpt_dir), parts)}


def train_one_step(text_dir: Path, out_dir: Path) -> Path:
    """A real AdamW step of the text-only Gemma3ForCausalLM, saved like a trainer's HF export."""
    from transformers import Gemma3ForCausalLM

    torch.set_num_threads(2)
    model = Gemma3ForCausalLM.from_pretrained(text_dir, dtype=torch.float32)
    ids = torch.tensor([[2, 105, 9259, 1902, 106, 1]])
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    torch.optim.AdamW(model.parameters(), lr=1e-2).step()
    model.to(torch.bfloat16).save_pretrained(out_dir)
    return out_dir
