"""Candidate pools and target sets: JSONL or Parquet rows of {id, prompt or messages, lang}, one language per row.

A row with `prompt` is one user turn; a row with `messages` is a conversation (role/content turns). Extra fields
(a target row's `subtask`, a pool row's metadata) are kept and written back with the selection."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recipes.core.jsonl import jsonl_rows


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


def read_prompts(path: str | Path) -> list[Prompt]:
    """Every row of a JSONL/Parquet file as a Prompt; a row without id, lang or text is an error naming it."""
    path = Path(path)
    if not path.is_file():
        raise PoolError(f"{path}: no such file; point the setting at a JSONL or Parquet of {{id, prompt or messages, lang}}")
    out, seen = [], set()
    for number, row in enumerate(_rows(path), 1):
        where = f"{path}: row {number}"
        if not row.get("id") or not row.get("lang"):
            raise PoolError(f"{where}: needs 'id' and 'lang'; add them to every row")
        if row.get("messages"):
            messages = [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
        elif row.get("prompt"):
            messages = [{"role": "user", "content": row["prompt"]}]
        else:
            raise PoolError(f"{where} ({row['id']}): needs 'prompt' or 'messages'; add the text")
        if row["id"] in seen:
            raise PoolError(f"{where}: id {row['id']!r} repeats; ids must be unique in a file")
        seen.add(row["id"])
        out.append(Prompt(str(row["id"]), messages, str(row["lang"]), str(row.get("subtask") or row["lang"]), row))
    if not out:
        raise PoolError(f"{path}: no rows; the file is empty")
    return out
