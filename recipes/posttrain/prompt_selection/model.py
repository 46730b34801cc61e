"""The model the features come from: transformers' causal LM in float32 with a PEFT LoRA adapter on its language
model's modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .settings import SelectionSettings

if TYPE_CHECKING:
    import torch


def lora_model(settings: SelectionSettings):
    """(peft model, tokenizer); float32 weights so that gradients on CPU are reproducible bit for bit (bf16 is
    autocast in example_loss, as the HF Trainer's --bf16 that LESS trains with)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(settings.seed)  # LoRA's A matrices are drawn at construction
    # eager attention: transformers recommends it for training Gemma 3, and torch's CPU flash-attention backward
    # took 3.9 of 11.4 s of one 24-token gradient of the 270M (measured)
    base = AutoModelForCausalLM.from_pretrained(settings.model, dtype=torch.float32, attn_implementation="eager")
    base.to(device())
    config = LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=language_model_modules(base, settings),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(base, config), AutoTokenizer.from_pretrained(settings.model)


def language_model_modules(base, settings: SelectionSettings) -> list[str]:
    """The full names of the lora_target_modules inside the language model. For model_type gemma3 (the 4B and up)
    AutoModelForCausalLM builds Gemma3ForConditionalGeneration, whose SigLIP vision tower has q/k/v projections too:
    text-only prompts give adapters there no gradient, and their features would be constant coordinates."""
    inside = {id(module) for module in base.get_decoder().modules()}
    names = [
        name
        for name, module in base.named_modules()
        if id(module) in inside and name.rsplit(".", 1)[-1] in settings.lora_target_modules
    ]
    if not names:
        raise ValueError(
            f"select.lora_target_modules={list(settings.lora_target_modules)}: none is a module of "
            f"{settings.model}'s language model; name its attention projections (q_proj, v_proj, ...)"
        )
    return names


def device() -> str:
    """The job's GPU when it has one (an array task holds one), else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def lora_parameters(model) -> list[tuple[str, torch.nn.Parameter]]:
    """The trainable (LoRA) parameters in a fixed order: the coordinates of every gradient feature."""
    params = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if any("lora_" not in name for name, _ in params):
        raise ValueError("only LoRA parameters may require gradients in the selection model")
    return params


def example_loss(model, ids: list[int], labels: list[int], bf16: bool):
    """The mean token loss of one example (batch of one, as LESS collects gradients), autocast to bfloat16 when
    `bf16`."""
    import torch

    where = next(model.parameters()).device
    with torch.autocast(device_type=where.type, dtype=torch.bfloat16, enabled=bf16):
        out = model(input_ids=torch.tensor([ids], device=where), labels=torch.tensor([labels], device=where))
    return out.loss.float()
