"""The model the features come from: transformers' causal LM in float32 with a PEFT LoRA adapter on it."""

from __future__ import annotations

from .settings import SelectionSettings


def lora_model(settings: SelectionSettings):
    """(peft model, tokenizer); float32 so that gradients on CPU are reproducible bit for bit."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(settings.seed)  # LoRA's A matrices are drawn at construction
    # eager attention: transformers recommends it for training Gemma 3, and torch's CPU flash-attention backward
    # took 3.9 of 11.4 s of one 24-token gradient of the 270M (measured)
    base = AutoModelForCausalLM.from_pretrained(settings.model, dtype=torch.float32, attn_implementation="eager")
    base.to(device())
    config = LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                        target_modules=list(settings.lora_target_modules), task_type="CAUSAL_LM")
    return get_peft_model(base, config), AutoTokenizer.from_pretrained(settings.model)


def device() -> str:
    """The job's GPU when it has one (an array task holds one), else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def lora_parameters(model) -> list[tuple[str, object]]:
    """The trainable (LoRA) parameters in a fixed order: the coordinates of every gradient feature."""
    params = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if any("lora_" not in name for name, _ in params):
        raise ValueError("only LoRA parameters may require gradients in the selection model")
    return params


def example_loss(model, ids: list[int], labels: list[int]):
    """The mean token loss of one example (batch of one, as LESS collects gradients)."""
    import torch

    where = next(model.parameters()).device
    out = model(input_ids=torch.tensor([ids], device=where), labels=torch.tensor([labels], device=where))
    return out.loss
