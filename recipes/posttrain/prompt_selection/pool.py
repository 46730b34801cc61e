"""Candidate pools and target sets: JSONL or Parquet rows of {id, prompt or messages, lang}, one language per row.

A row with `prompt` is one user turn; a row with `messages` is a conversation (role/content turns). Extra fields
(a target row's `subtask`, a pool row's metadata) are kept and written back with the selection."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recipes.core.jsonl import jsonl_rows
from recipes.core.languages import LANGUAGES


@dataclass(frozen=True)
class Prompt:
    id: str
    messages: list[dict[str, str]]
    lang: str
    subtask: str  # the group a target row averages in (LESS's N_SUBTASKS); its language unless the row names one
    row: dict[str, Any] = field(default_factory=dict, compare=False)  # the row as read, written back on selection


class PoolError(ValueError):
    """A row the selection cannot use; the message names the file, the row and the fix."""


def _rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    return [row for _, row in jsonl_rows(path, PoolError)]


def _text(value) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _messages(row: dict[str, Any], where: str) -> list[dict[str, str]]:
    if row.get("messages"):
        out = []
        for turn, message in enumerate(row["messages"]):
            if not isinstance(message, dict) or not _text(message.get("role")) or not _text(message.get("content")):
                raise PoolError(
                    f"{where}: messages[{turn}] needs a 'role' and a non-empty 'content'; give every "
                    "turn both (or put a single user prompt in 'prompt')"
                )
            out.append({"role": message["role"], "content": message["content"]})
        return out
    if _text(row.get("prompt")):
        return [{"role": "user", "content": row["prompt"]}]
    raise PoolError(f"{where}: needs 'prompt' or 'messages'; add the text")


def read_prompts(path: str | Path) -> list[Prompt]:
    """Every row of a JSONL/Parquet file as a Prompt; a row without id, a known lang or text is an error naming it.
    Ids are compared as strings (7 and "7" are one id, as every output writes it)."""
    path = Path(path)
    if not path.is_file():
        raise PoolError(
            f"{path}: no such file; point the setting at a JSONL or Parquet of {{id, prompt or messages, lang}}"
        )
    out, seen = [], set()
    for number, row in enumerate(_rows(path), 1):
        where = f"{path}: row {number}"
        if not isinstance(row, dict) or row.get("id") in (None, "") or not row.get("lang"):
            raise PoolError(f"{where}: needs 'id' and 'lang'; add them to every row")
        key, where = str(row["id"]), f"{where} (id {row['id']!r})"
        if row["lang"] not in LANGUAGES:
            raise PoolError(
                f"{where}: lang {row['lang']!r} is not one of the project's languages "
                f"({', '.join(LANGUAGES)}; recipes/core/languages.py); fix the code or add the "
                "language there"
            )
        messages = _messages(row, where)
        if key in seen:
            raise PoolError(f"{where}: id {key!r} repeats (ids compare as strings); ids must be unique in a file")
        seen.add(key)
        out.append(Prompt(key, messages, str(row["lang"]), str(row.get("subtask") or row["lang"]), {**row, "id": key}))
    if not out:
        raise PoolError(f"{path}: no rows; the file is empty")
    return out
