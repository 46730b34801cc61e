"""RL sources in their published layouts -> NeMo-RL's response format."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_prep.rl_data import RLDataError, UnsupportedPrompt, convert
from recipes.posttrain.environments import SeaRewardScorer
from recipes.posttrain.ifeval_spec import IFEvalSpec

DEEPMATH = [  # zwhe99/DeepMath-103K's fields
    {
        "question": "Evaluate $\\lim_{x\\to 0} \\frac{\\sin 3x}{x}$.",
        "final_answer": "3",
        "difficulty": 4.5,
        "topic": "Calculus",
        "r1_solution_1": "...",
        "r1_solution_2": "...",
        "r1_solution_3": "...",
    },
    {
        "question": "Find the number of positive divisors of 360.",
        "final_answer": 24,
        "difficulty": 2.0,
        "topic": "Number Theory",
        "r1_solution_1": "...",
        "r1_solution_2": "...",
        "r1_solution_3": "...",
    },
]
NEMOTRON_IF = [  # Llama-Nemotron-Post-Training-Dataset, config RL, split instruction_following
    {
        "input": [
            {"role": "system", "content": ""},
            {"role": "user", "content": "Tulis puisi tentang hujan dalam bahasa Indonesia. Jangan gunakan koma."},
        ],
        "args": {"instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]},
        "category": "instruction following",
    },
    {
        "input": [{"role": "user", "content": "เขียนย่อหน้าสั้นๆ เกี่ยวกับฝน โดยมีคำว่า หลังคา"}],
        "language": "th",
        "args": {
            "instruction_id_list": ["keywords:existence", "length_constraints:number_words"],
            "kwargs": [{"keywords": ["หลังคา"]}, {"relation": "at least", "num_words": 5}],
        },
    },
]
UNSUPPORTED_IF = {
    "input": [{"role": "user", "content": "Viết một lá thư ngắn và kết thúc bằng P.S."}],
    "args": {"instruction_id_list": ["detectable_content:postscript"], "kwargs": [{"postscript_marker": "P.S."}]},
}


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_deepmath_jsonl(tmp_path):
    src = write_jsonl(tmp_path / "deepmath.jsonl", DEEPMATH)
    assert convert("deepmath", str(src), tmp_path / "out.jsonl").written == 2
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert rows[0] == {"input": DEEPMATH[0]["question"], "output": "3", "task_name": "math"}
    assert rows[1]["output"] == "24"  # numbers become strings: math-verify compares text


def test_deepmath_parquet_dir_and_limit(tmp_path):
    (tmp_path / "dm").mkdir()
    rows = [{**r, "final_answer": str(r["final_answer"])} for r in DEEPMATH]  # one type per Parquet column
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "dm" / "part-0.parquet")
    assert convert("deepmath", str(tmp_path / "dm"), tmp_path / "out.jsonl", limit=1).written == 1


def test_nemotron_instruction_following_puts_its_spec_in_output(tmp_path):
    """NeMo-RL hands the environment only `output` (as ground_truth): the spec travels there, and the converted
    records score as the environment will score them."""
    src = write_jsonl(tmp_path / "if.jsonl", NEMOTRON_IF)
    convert("nemotron_if", str(src), tmp_path / "out.jsonl")
    indonesian, thai = read_jsonl(tmp_path / "out.jsonl")
    assert indonesian["input"].startswith("Tulis puisi") and indonesian["task_name"] == "ifeval"
    assert set(indonesian) == {"input", "output", "task_name"}  # one schema for every line of the training file
    spec = IFEvalSpec.from_json(indonesian["output"])
    assert spec.language == "id" and spec.instruction_id_list == ("punctuation:no_comma",)  # detected
    assert IFEvalSpec.from_json(thai["output"]).language == "th"  # the record's own
    rewards = SeaRewardScorer().score(
        [
            "Hujan turun perlahan di atas atap rumah kami sepanjang malam yang sunyi.",
            "Hujan turun, perlahan, di atas atap rumah kami sepanjang malam yang sunyi.",
            "ฝนตกลงมาเบาๆบนหลังคาบ้านของเราในยามค่ำคืน",
            "ฝนตกลงมาเบาๆ",
        ],
        [{"ground_truth": indonesian["output"]}] * 2 + [{"ground_truth": thai["output"]}] * 2,
    )
    assert rewards == [1.0, 0.0, 1.0, 0.0]


def test_unsupported_instruction_fails_naming_it_unless_skipped_and_counted(tmp_path):
    src = write_jsonl(tmp_path / "if.jsonl", [NEMOTRON_IF[0], UNSUPPORTED_IF, UNSUPPORTED_IF])
    with pytest.raises(UnsupportedPrompt, match="nemotron_if record 1: instruction 'detectable_content:postscript'"):
        convert("nemotron_if", str(src), tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()
    result = convert("nemotron_if", str(src), tmp_path / "out.jsonl", skip_unsupported=True)
    assert result.written == 1 and len(read_jsonl(tmp_path / "out.jsonl")) == 1
    assert result.skipped == {"unsupported instruction detectable_content:postscript": 2}


def test_wrong_source_names_the_record_and_field_and_leaves_no_output(tmp_path):
    src = write_jsonl(tmp_path / "if.jsonl", NEMOTRON_IF)
    with pytest.raises(RLDataError, match="deepmath record 0: no 'question' field"):
        convert("deepmath", str(src), tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()
    with pytest.raises(RLDataError, match="unknown 'gsm8k'"):
        convert("gsm8k", str(src), tmp_path / "out.jsonl")
