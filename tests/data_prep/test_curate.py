"""End to end curation of the real sample corpus plus deliberately bad records: every rule fires with its reason,
and every input record is kept, quarantined or rejected exactly once."""

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_prep.curate import CurationSettings, curate, main
from data_prep.ingest import IngestSettings
from data_prep.langid import LangIdSettings
from data_prep.quality import QualitySettings
from data_prep.tokenize import TokenizeSettings
from data_prep.tokenize import run as tokenize

REPO = Path(__file__).resolve().parents[2]
SAMPLE = sorted((REPO / "data_prep" / "sample_corpus").glob("*.jsonl"))
ENGLISH_AS_VIETNAMESE = (
    "The night market opens when the heat of the day is gone. Families walk between the stalls, "
    "buying grilled fish, fresh fruit and cold drinks while musicians play near the fountain."
)


def _sample_docs() -> list[dict]:
    return [json.loads(line) for path in SAMPLE for line in path.read_text(encoding="utf-8").splitlines()]


def _by_id(docs: list[dict]) -> dict[str, dict]:
    return {d["id"]: d for d in docs}


def _line(record: dict) -> bytes:
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


def _short_doc_settings(**langid) -> CurationSettings:
    # The sample documents are 2-3 sentences (13-36 words); Gopher's 50-word minimum is for web pages.
    return CurationSettings(quality=QualitySettings(min_words=10), langid=LangIdSettings(**langid))


def _write_bad_inputs(path: Path) -> None:
    docs = _by_id(_sample_docs())
    near = docs["en-003"]["text"].replace("easier", "simpler").replace("neighbours", "friends")
    lines = [
        b'{"id": "bad-json", "text": "unterminated, "lang": "en"}\n',
        _line({"id": "no-text", "lang": "en", "source": "bad"}),
        _line({"id": "empty-text", "text": "  \n ", "lang": "en", "source": "bad"}),
        _line({"id": "unknown-lang", "text": docs["en-000"]["text"], "lang": "xx", "source": "bad"}),
        b'{"id": "bad-bytes", "text": "caf\xe9 au lait", "lang": "en", "source": "bad"}\n',
        b"\n",  # a blank line is layout, not a record
        _line({"id": "thai-in-latin", "text": docs["en-002"]["text"], "lang": "th", "source": "bad"}),
        _line({"id": "near-dup", "text": near, "lang": "en", "source": "sample_web"}),
        _line(
            {
                "id": "exact-dup",
                "text": "  " + docs["en-001"]["text"].upper() + " ",
                "lang": "en",
                "source": "sample_web",
            }
        ),
        _line({"id": "spam", "text": "Buy cheap watches online now! " * 20, "lang": "en", "source": "bad"}),
        _line({"id": "en-as-vi", "text": ENGLISH_AS_VIETNAMESE, "lang": "vi", "source": "bad"}),
    ]
    path.write_bytes(b"".join(lines))


@pytest.fixture
def inputs(tmp_path) -> list[str]:
    _write_bad_inputs(tmp_path / "zz_bad.jsonl")
    return [str(p) for p in SAMPLE] + [str(tmp_path / "zz_bad.jsonl")]


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_every_rule_fires_and_the_counts_add_up(tmp_path, inputs):
    out = tmp_path / "out"
    summary = curate(inputs, str(out), _short_doc_settings(), show_progress=False)

    assert summary.input_records == 48 + 10
    assert summary.balanced()
    assert (summary.kept, summary.quarantined, summary.rejected) == (49, 5, 4)
    assert summary.quarantine_reasons == {
        "malformed_json": 1,
        "missing_text": 1,
        "empty_text": 1,
        "unknown_lang": 1,
        "undecodable_bytes": 1,
    }
    assert summary.rejected_by_stage == {
        "clean": {"wrong_script": 1},
        "quality": {"top_2gram": 1},
        "dedup": {"near_duplicate": 1, "exact_duplicate": 1},
    }
    assert summary.language_disagreements == {"vi->en": 1}
    assert summary.language_interchangeable.get("ms->id", 0) >= 1

    bad = str(tmp_path / "zz_bad.jsonl")
    quarantine = {q["reason"]: q for q in _jsonl(out / "quarantine.jsonl")}
    assert quarantine["malformed_json"]["origin"] == f"{bad}:1"
    assert quarantine["undecodable_bytes"]["origin"] == f"{bad}:5"
    assert "caf\ufffd au lait" in quarantine["undecodable_bytes"]["raw"]
    assert "'xx'" in quarantine["unknown_lang"]["detail"]

    rejected = {r["id"]: r for r in _jsonl(out / "rejected.jsonl")}
    assert rejected["thai-in-latin"]["stage"] == "clean"
    assert "0.00 of" in rejected["thai-in-latin"]["reason"] and "Thai" in rejected["thai-in-latin"]["reason"]
    assert rejected["thai-in-latin"]["origin"] == f"{bad}:7"
    assert rejected["near-dup"]["duplicate_of"] == "en-003"
    assert "estimated Jaccard" in rejected["near-dup"]["reason"]
    assert rejected["exact-dup"]["duplicate_of"] == "en-001"
    assert rejected["spam"]["rule"] == "top_2gram" and "'Buy cheap' x20" in rejected["spam"]["reason"]

    kept = {d["id"]: d for path in (out / "curated").glob("*.jsonl") for d in _jsonl(path)}
    assert len(kept) == 49 and set(_by_id(_sample_docs())) < set(kept)
    assert kept["en-as-vi"]["detected_lang"] == "en" and kept["en-as-vi"]["lang"] == "vi"
    assert _jsonl(out / "curated" / "bad_vi.jsonl")[0]["id"] == "en-as-vi"
    assert "detected_lang" not in kept["code-000"]
    assert json.loads((out / "curation_summary.json").read_text())["kept"] == 49


def test_language_disagreement_can_drop(tmp_path, inputs):
    summary = curate(inputs, str(tmp_path / "out"), _short_doc_settings(on_disagreement="drop"), show_progress=False)
    assert summary.rejected_by_stage["langid"] == {"language_mismatch": 1}
    assert summary.balanced() and summary.kept == 48
    rejected = {r["id"]: r for r in _jsonl(tmp_path / "out" / "rejected.jsonl")}
    assert rejected["en-as-vi"]["reason"] == "language_mismatch: declared vi, detected en"


def test_parquet_input_streams_in_batches_with_row_origins(tmp_path):
    docs = _sample_docs()
    docs[5] = {**docs[5], "text": None}
    docs[9] = {**docs[9], "lang": "xx"}
    pq.write_table(pa.Table.from_pylist(docs), tmp_path / "corpus.parquet")
    settings = _short_doc_settings()
    settings.ingest = IngestSettings(parquet_batch_rows=7)  # several batches, last one partial
    summary = curate([str(tmp_path / "*.parquet")], str(tmp_path / "out"), settings, show_progress=False)
    assert (summary.input_records, summary.quarantined, summary.kept) == (48, 2, 46)
    origins = {q["reason"]: q["origin"] for q in _jsonl(tmp_path / "out" / "quarantine.jsonl")}
    assert origins == {"missing_text": f"{tmp_path}/corpus.parquet:6", "unknown_lang": f"{tmp_path}/corpus.parquet:10"}


def test_dataset_directory_with_a_default_language(tmp_path):
    data = tmp_path / "thai_dataset"
    data.mkdir()
    thai = [d for d in _sample_docs() if d["lang"] == "th"]
    (data / "train.jsonl").write_text(
        "".join(json.dumps({"content": d["text"]}, ensure_ascii=False) + "\n" for d in thai), encoding="utf-8"
    )
    settings = _short_doc_settings()
    settings.ingest = IngestSettings(text_field="content", default_lang="th")
    summary = curate([str(data)], str(tmp_path / "out"), settings, show_progress=False)
    assert summary.kept == 4 and summary.balanced()
    kept = _jsonl(tmp_path / "out" / "curated" / "thai_dataset_th.jsonl")
    assert [d["id"] for d in kept] == [f"{data}:{i}" for i in range(4)]


def test_command_and_tokenisable_output(tmp_path, inputs, gemma3_dir, capsys):
    out = tmp_path / "out"
    assert (
        main([*inputs, str(out), "--min-words", "10", "--quality", "max_duplicate_line_fraction=none", "--no-progress"])
        == 0
    )
    assert "kept 49 + quarantined 5 + rejected 4" in capsys.readouterr().out
    curated = sorted(str(p) for p in (out / "curated").glob("*.jsonl"))
    summary = tokenize(TokenizeSettings(tokenizer=str(gemma3_dir), workers=1), curated, str(tmp_path / "tok"))
    assert summary.documents == 49


def test_help_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "data_prep.curate", "--help"], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert result.returncode == 0 and "output_dir" in result.stdout and "--on-language-disagreement" in result.stdout
