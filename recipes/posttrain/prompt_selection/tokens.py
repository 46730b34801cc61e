"""A prompt as model inputs for a gradient: the Gemma 3 chat format, loss on the answer when the row has one.

LESS computes each example's loss on its response tokens (less/data_selection/get_training_dataset.py at
1e4afda). A pool row that is only a prompt (what CLAIR needs) has no response: its loss is then the language-model
loss on the prompt's text itself, without the chat template's turn markers (the same tokens in every row, whose
shared gradient would otherwise dominate every cosine), so its gradient says how the model would move to produce
such prompts."""

from __future__ import annotations

from .pool import Prompt

IGNORE = -100  # transformers' ignore_index for labels


def encode(tokenizer, prompt: Prompt, max_tokens: int) -> tuple[list[int], list[int]]:
    """(input_ids, labels), cut to max_tokens; labels are IGNORE outside the tokens the loss counts."""
    if prompt.messages[-1]["role"] == "assistant" and len(prompt.messages) > 1:
        ids = _chat_ids(tokenizer, prompt.messages, generation_prompt=False)[:max_tokens]
        start = len(_chat_ids(tokenizer, prompt.messages[:-1], generation_prompt=True))
    else:
        text = "\n\n".join(m["content"] for m in prompt.messages)
        ids, start = tokenizer(text)["input_ids"][:max_tokens], 1  # the loss on everything after <bos>
    labels = [IGNORE] * min(start, len(ids)) + ids[start:]
    if all(label == IGNORE for label in labels):
        raise ValueError(f"{prompt.id}: no token left for the loss within {max_tokens} tokens; raise select.max_tokens")
    return ids, labels


def _chat_ids(tokenizer, messages: list[dict[str, str]], generation_prompt: bool) -> list[int]:
    ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=generation_prompt)
    return list(ids["input_ids"] if hasattr(ids, "keys") else ids)  # transformers 5 returns a BatchEncoding
