"""A prompt as model inputs for a gradient: the Gemma 3 chat format, loss on the answer when the row has one.

LESS computes each example's loss on its response tokens (less/data_selection/get_training_dataset.py at
1e4afda). A pool row that is only a prompt (what CLAIR needs) has no response: its loss is then the language-model
loss on the prompt's text itself, without the chat template's turn markers (the same tokens in every row, whose
shared gradient would otherwise dominate every cosine), so its gradient says how the model would move to produce
such prompts.

A row longer than max_tokens is cut, never refused: LESS keeps the first max_seq_length tokens; where that would
leave no answer token (a conversation whose context alone fills the window), the window keeps the last half
window of the context and the start of the answer. `truncated` counts such rows for the launch and the log."""

from __future__ import annotations

from .pool import Prompt

IGNORE = -100  # transformers' ignore_index for labels


def _full(tokenizer, prompt: Prompt) -> tuple[list[int], int]:
    """(every input id, index of the first id the loss counts)."""
    if prompt.messages[-1]["role"] == "assistant" and len(prompt.messages) > 1:
        ids = _chat_ids(tokenizer, prompt.messages, generation_prompt=False)
        return ids, len(_chat_ids(tokenizer, prompt.messages[:-1], generation_prompt=True))
    text = "\n\n".join(m["content"] for m in prompt.messages)
    return tokenizer(text)["input_ids"], 1  # the loss on everything after <bos>


def encode(tokenizer, prompt: Prompt, max_tokens: int) -> tuple[list[int], list[int]]:
    """(input_ids, labels) of at most max_tokens; labels are IGNORE outside the tokens the loss counts."""
    ids, start = _full(tokenizer, prompt)
    if len(ids) <= start:
        raise ValueError(f"{prompt.id}: no token to compute a loss on; give the row some text")
    first = 0 if start < max_tokens else start - max(1, max_tokens // 2)  # keep at least one answer token
    ids, start = ids[first : first + max_tokens], start - first
    return ids, [IGNORE] * start + ids[start:]


def truncated(tokenizer, prompts: list[Prompt], max_tokens: int) -> int:
    """How many of `prompts` encode cuts to max_tokens."""
    return sum(1 for prompt in prompts if len(_full(tokenizer, prompt)[0]) > max_tokens)


def _chat_ids(tokenizer, messages: list[dict[str, str]], generation_prompt: bool) -> list[int]:
    ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=generation_prompt)
    return list(ids["input_ids"] if hasattr(ids, "keys") else ids)  # transformers 5 returns a BatchEncoding
