"""The card's RL sources -> NeMo-RL's response-dataset JSONL ({"input", "output", "task_name"} per line).

`task_name` picks the reward environment: "math" (answer checked with math-verify against `output`) or "ifeval"
(the prompt's verifiable constraints, kept under "constraints", checked with the SEA-IFEval language rule).
Sources are read with `datasets` (a hub id on the cluster, or local JSONL/Parquet files), streaming.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from rich.progress import Progress


class RLDataError(ValueError):
    pass


def _require(record: dict, key: str, source: str, index: int) -> Any:
    if record.get(key) in (None, ""):
        raise RLDataError(f"{source} record {index}: no '{key}' field (fields: {sorted(record)}); "
                          "is this the right source name for this dataset?")
    return record[key]


def _deepmath(record: dict, index: int) -> dict:
    """zwhe99/DeepMath-103K: question + final_answer (plus three R1 solutions, unused here)."""
    return {"input": _require(record, "question", "deepmath", index),
            "output": str(_require(record, "final_answer", "deepmath", index)), "task_name": "math"}


def _user_prompt(value: Any) -> str:
    if isinstance(value, list):  # a chat: the last user turn is the prompt
        turns = [m["content"] for m in value if isinstance(m, dict) and m.get("role") == "user"]
        return turns[-1] if turns else ""
    return str(value)


def _nemotron_if(record: dict, index: int) -> dict:
    """nvidia/Llama-Nemotron-Post-Training-Dataset, config RL, split instruction_following: a prompt with
    IFEval-style constraints (`args`: instruction ids and their arguments); there is no reference answer."""
    prompt = _user_prompt(_require(record, "input", "nemotron_if", index))
    if not prompt:
        raise RLDataError(f"nemotron_if record {index}: 'input' holds no user turn")
    return {"input": prompt, "output": "", "task_name": "ifeval", "constraints": record.get("args") or {}}


@dataclass(frozen=True)
class Source:
    convert: Callable[[dict, int], dict]
    hf_config: Optional[str] = None
    split: str = "train"


SOURCES: dict[str, Source] = {
    "deepmath": Source(_deepmath),
    "nemotron_if": Source(_nemotron_if, hf_config="RL", split="instruction_following"),
}


def _records(location: str, source: Source) -> Iterable[dict]:
    import datasets

    path = Path(location)
    if path.exists():
        files = sorted(str(p) for p in (path.glob("*") if path.is_dir() else [path]))
        builder = "parquet" if files and files[0].endswith(".parquet") else "json"
        return datasets.load_dataset(builder, data_files=files, split="train", streaming=True)
    return datasets.load_dataset(location, source.hf_config, split=source.split, streaming=True)


def convert(source_name: str, location: str, output: str | Path, limit: Optional[int] = None) -> int:
    """Write `output` (JSONL); returns the number of records. A record the converter cannot read fails the run,
    naming the record and the missing field: a wrong source name would otherwise produce an empty dataset."""
    if source_name not in SOURCES:
        raise RLDataError(f"source: unknown {source_name!r}; choose one of {sorted(SOURCES)}")
    source = SOURCES[source_name]
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(output.suffix + ".tmp")
    count = 0
    with tmp.open("w", encoding="utf-8") as out, Progress(transient=True) as progress:
        bar = progress.add_task(f"{source_name} -> {output.name}", total=limit)
        for index, record in enumerate(_records(location, source)):
            if limit is not None and index >= limit:
                break
            out.write(json.dumps(source.convert(record, index), ensure_ascii=False) + "\n")
            count += 1
            progress.advance(bar)
    tmp.replace(output)  # a killed run leaves no half-written dataset under the final name
    return count


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data_prep.rl_data", description=__doc__.splitlines()[0])
    parser.add_argument("source", choices=sorted(SOURCES), help="which converter")
    parser.add_argument("location", help="hub id (e.g. zwhe99/DeepMath-103K) or a local JSONL/Parquet file or dir")
    parser.add_argument("output", help="JSONL to write (the path rl.datasets[*].path names)")
    parser.add_argument("--limit", type=int, default=None, help="convert only the first N records")
    args = parser.parse_args(argv)
    print(f"{convert(args.source, args.location, args.output, args.limit)} records -> {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
