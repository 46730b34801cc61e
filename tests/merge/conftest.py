"""Fine-tuned copies of the real Gemma 3 270M: a few real AdamW steps on SEA-language texts, so task vectors are
real."""

from __future__ import annotations

import shutil

import pytest
import torch

TEXTS = {
    "id": [
        "Selamat pagi, apa kabar hari ini? Saya ingin pergi ke pasar untuk membeli sayur dan buah segar.",
        "Jakarta adalah ibu kota Indonesia dan kota terbesar di Asia Tenggara dengan jutaan penduduk.",
    ],
    "th_vi": [
        "สวัสดีครับ วันนี้อากาศดีมาก เราไปเที่ยวทะเลกันไหม",
        "Hà Nội là thủ đô của Việt Nam, nổi tiếng với phở và những con phố cổ xinh đẹp.",
    ],
}


def fine_tune(base_dir, out_dir, texts, steps=2, lr=1e-4, seq_len=32):
    """Copy base_dir and overwrite its weights with `steps` AdamW steps of causal-LM training (bf16 on disk)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(2)
    torch.manual_seed(0)
    shutil.copytree(base_dir, out_dir)
    tok = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    model.train()
    # right padding, stated: the fixture's GemmaTokenizer pads on the left by default, which shifts the positions
    # of the real tokens (the Indonesian copy's loss then rose over the two steps)
    batch = tok(
        texts, return_tensors="pt", padding="max_length", truncation=True, max_length=seq_len, padding_side="right"
    )
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    # fused: one pass over the 270M parameters per step instead of several (the same AdamW update)
    optim = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0, fused=True)
    losses = []
    for _ in range(steps):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optim.step()
        optim.zero_grad()
        losses.append(loss.item())
    model.to(torch.bfloat16).save_pretrained(out_dir)
    return losses


@pytest.fixture(scope="session")
def tuned_dirs(gemma3_dir, tmp_path_factory):
    """Two fine-tuned copies (Indonesian; Thai+Vietnamese) of the fixture model."""
    root = tmp_path_factory.mktemp("tuned")
    dirs = {}
    for name, texts in TEXTS.items():
        losses = fine_tune(gemma3_dir, root / name, texts)
        assert losses[-1] < losses[0], f"training on {name} did not lower the loss: {losses}"
        dirs[name] = root / name
    return dirs
