"""The card's RL sources -> NeMo-RL's response-dataset JSONL ({"input", "output", "task_name"} per line).

`task_name` names the reward: "math" (answer checked with math-verify against `output`) or "ifeval" (the
prompt's verifiable constraints checked with the SEA-IFEval language rule). NeMo-RL passes only `output` to the
reward environment, so an ifeval record's `output` is its spec as JSON (`recipes.posttrain.ifeval_spec`: language
and IFEval instruction ids + kwargs), built and checked here: an instruction without a checker fails the
conversion, naming it, unless `--skip-unsupported` drops such prompts (and counts them).
Sources are read with `datasets` (a hub id on the cluster, or local JSONL/Parquet files), streaming.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import Progress

from recipes.posttrain.ifeval_spec import IFEvalSpecError, build_spec


class RLDataError(ValueError):
    pass


def _require(record: dict, key: str, source: str, index: int) -> Any:
    if record.get(key) in (None, ""):
        raise RLDataError(
            f"{source} record {index}: no '{key}' field (fields: {sorted(record)}); "
            "is this the right source name for this dataset?"
        )
    return record[key]


def _deepmath(record: dict, index: int) -> dict:
    """zwhe99/DeepMath-103K: question + final_answer (plus three R1 solutions, unused here)."""
    return {
        "input": _require(record, "question", "deepmath", index),
        "output": str(_require(record, "final_answer", "deepmath", index)),
        "task_name": "math",
    }


def _user_prompt(value: Any) -> str:
    if isinstance(value, list):  # a chat: the last user turn is the prompt
        turns = [m["content"] for m in value if isinstance(m, dict) and m.get("role") == "user"]
        return turns[-1] if turns else ""
    return str(value)


class UnsupportedPrompt(RLDataError):
    """A prompt whose instructions the reward cannot check; `--skip-unsupported` drops it instead of failing."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def _nemotron_if(record: dict, index: int) -> dict:
    """nvidia/Llama-Nemotron-Post-Training-Dataset, config RL, split instruction_following: a prompt with
    IFEval-style constraints (`args`: instruction ids and their arguments); there is no reference answer. The
    prompt's language is the record's `language` when it has one, else detected from the prompt."""
    prompt = _user_prompt(_require(record, "input", "nemotron_if", index))
    if not prompt:
        raise RLDataError(f"nemotron_if record {index}: 'input' holds no user turn")
    args = _require(record, "args", "nemotron_if", index)
    try:
        spec = build_spec(args, prompt, record.get("language"))
    except IFEvalSpecError as err:
        raise UnsupportedPrompt(f"nemotron_if record {index}: {err}", err.reason) from err
    return {"input": prompt, "output": spec.to_json(), "task_name": "ifeval"}


@dataclass(frozen=True)
class Source:
    convert: Callable[[dict, int], dict]
    hf_config: str | None = None
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


@dataclass
class Converted:
    written: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> prompts dropped by skip_unsupported


def convert(
    source_name: str, location: str, output: str | Path, limit: int | None = None, skip_unsupported: bool = False
) -> Converted:
    """Write `output` (JSONL). A record the converter cannot read fails the run, naming the record and the missing
    field: a wrong source name would otherwise produce an empty dataset. With `skip_unsupported`, prompts carrying
    an instruction the reward cannot check are dropped and counted by reason instead."""
    if source_name not in SOURCES:
        raise RLDataError(f"source: unknown {source_name!r}; choose one of {sorted(SOURCES)}")
    source = SOURCES[source_name]
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(output.suffix + ".tmp")
    result = Converted()
    with tmp.open("w", encoding="utf-8") as out, Progress(transient=True) as progress:
        bar = progress.add_task(f"{source_name} -> {output.name}", total=limit)
        for index, record in enumerate(_records(location, source)):
            if limit is not None and index >= limit:
                break
            progress.advance(bar)
            try:
                converted = source.convert(record, index)
            except UnsupportedPrompt as err:
                if not skip_unsupported:
                    raise
                result.skipped[err.reason] += 1
                continue
            out.write(json.dumps(converted, ensure_ascii=False) + "\n")
            result.written += 1
    tmp.replace(output)  # a killed run leaves no half-written dataset under the final name
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data_prep.rl_data", description=__doc__.splitlines()[0])
    parser.add_argument("source", choices=sorted(SOURCES), help="which converter")
    parser.add_argument("location", help="hub id (e.g. zwhe99/DeepMath-103K) or a local JSONL/Parquet file or dir")
    parser.add_argument("output", help="JSONL to write (the path rl.datasets[*].path names)")
    parser.add_argument("--limit", type=int, default=None, help="convert only the first N records")
    parser.add_argument(
        "--skip-unsupported",
        action="store_true",
        help="drop (and count) prompts whose instructions the reward cannot check, instead of failing",
    )
    args = parser.parse_args(argv)
    result = convert(args.source, args.location, args.output, args.limit, args.skip_unsupported)
    print(f"{result.written} records -> {args.output}")
    for reason, count in result.skipped.most_common():
        print(f"skipped {count}: {reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
