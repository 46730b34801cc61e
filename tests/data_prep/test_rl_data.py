"""RL sources in their published layouts -> NeMo-RL's response format."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_prep.rl_data import RLDataError, convert

DEEPMATH = [  # zwhe99/DeepMath-103K's fields
    {"question": "Evaluate $\\lim_{x\\to 0} \\frac{\\sin 3x}{x}$.", "final_answer": "3", "difficulty": 4.5,
     "topic": "Calculus", "r1_solution_1": "...", "r1_solution_2": "...", "r1_solution_3": "..."},
    {"question": "Find the number of positive divisors of 360.", "final_answer": 24, "difficulty": 2.0,
     "topic": "Number Theory", "r1_solution_1": "...", "r1_solution_2": "...", "r1_solution_3": "..."},
]
NEMOTRON_IF = [  # Llama-Nemotron-Post-Training-Dataset, config RL, split instruction_following
    {"input": [{"role": "system", "content": ""},
               {"role": "user", "content": "Tulis puisi tentang hujan dalam bahasa Indonesia. Jangan gunakan koma."}],
     "args": {"instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}, "category": "instruction following"},
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_deepmath_jsonl(tmp_path):
    src = write_jsonl(tmp_path / "deepmath.jsonl", DEEPMATH)
    assert convert("deepmath", str(src), tmp_path / "out.jsonl") == 2
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert rows[0] == {"input": DEEPMATH[0]["question"], "output": "3", "task_name": "math"}
    assert rows[1]["output"] == "24"  # numbers become strings: math-verify compares text


def test_deepmath_parquet_dir_and_limit(tmp_path):
    (tmp_path / "dm").mkdir()
    rows = [{**r, "final_answer": str(r["final_answer"])} for r in DEEPMATH]  # one type per Parquet column
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "dm" / "part-0.parquet")
    assert convert("deepmath", str(tmp_path / "dm"), tmp_path / "out.jsonl", limit=1) == 1


def test_nemotron_instruction_following_keeps_constraints(tmp_path):
    src = write_jsonl(tmp_path / "if.jsonl", NEMOTRON_IF)
    convert("nemotron_if", str(src), tmp_path / "out.jsonl")
    (row,) = read_jsonl(tmp_path / "out.jsonl")
    assert row["input"].startswith("Tulis puisi") and row["task_name"] == "ifeval"
    assert row["constraints"]["instruction_id_list"] == ["punctuation:no_comma"]


def test_wrong_source_names_the_record_and_field_and_leaves_no_output(tmp_path):
    src = write_jsonl(tmp_path / "if.jsonl", NEMOTRON_IF)
    with pytest.raises(RLDataError, match="deepmath record 0: no 'question' field"):
        convert("deepmath", str(src), tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()
    with pytest.raises(RLDataError, match="unknown 'gsm8k'"):
        convert("gsm8k", str(src), tmp_path / "out.jsonl")
