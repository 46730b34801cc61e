"""The pool and target files checked at launch (the select stage's check_select), before any GPU time: every row read as
the stage reads it, and the rows longer than max_tokens counted (they are cut, never refused)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recipes.core.findings import Severity

from .pool import PoolError, read_prompts


@dataclass(frozen=True)
class Problem:
    field: str  # the config key, e.g. select.targets.id_math
    message: str
    fix: str
    severity: Severity = "error"


def check_inputs(files: dict[str, str], max_tokens: int, tokenizer_dir: str | None) -> list[Problem]:
    """`files`: config key -> JSONL/Parquet path (missing files are check_paths' to name). Rows are counted against
    max_tokens with the tokenizer in `tokenizer_dir` when it is a local directory and transformers is installed
    (a hub id is not fetched at launch, and a launcher-only install has no tokenizer: the stage prints the count
    then)."""
    out, read = [], {}
    for key, path in files.items():
        if not Path(path).is_file():
            continue
        try:
            read[key] = read_prompts(path)
        except PoolError as err:
            out.append(
                Problem(key, str(err), "fix that row (the message names it); the stage reads the file the same way")
            )
    tokenizer = _local_tokenizer(tokenizer_dir) if read else None
    if tokenizer is not None:
        from .tokens import truncated

        for key, prompts in read.items():
            if cut := truncated(tokenizer, prompts, max_tokens):
                out.append(
                    Problem(
                        key,
                        f"{cut} of {len(prompts)} rows are longer than {max_tokens} tokens and are cut to them",
                        "nothing, or raise select.max_tokens",
                        "warning",
                    )
                )
    return out


def _local_tokenizer(tokenizer_dir: str | None):
    """The tokenizer in a local directory, or None: a hub id, or a launcher-only install without transformers."""
    if not tokenizer_dir or not Path(tokenizer_dir, "tokenizer_config.json").is_file():
        return None
    try:
        from transformers import AutoTokenizer
    except ImportError:
        return None
    return AutoTokenizer.from_pretrained(tokenizer_dir)
