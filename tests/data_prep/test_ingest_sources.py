"""Inputs as the data config declares them: compressed JSONL, a source name and language per entry, and the
language codes hub datasets use (FineWeb-2's `tha_Thai`, ISO 639-3)."""

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from data_prep.documents import Document, Quarantined
from data_prep.ingest import IngestSettings, read_sources, resolve_inputs
from recipes.core.languages import normalise_code

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data_prep" / "sample_corpus"


def sample(lang):
    return [json.loads(line) for line in (SAMPLE / f"{lang}.jsonl").read_text(encoding="utf-8").splitlines()]


def jsonl_bytes(rows):
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def read(specs):
    return list(read_sources(resolve_inputs(specs), IngestSettings()))


def test_gzip_and_zstd_jsonl_read_like_plain(tmp_path):
    rows = sample("vi")
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(jsonl_bytes(rows)))
    (tmp_path / "b.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(jsonl_bytes(rows)))
    gz, zst = read([str(tmp_path / "a.jsonl.gz")]), read([str(tmp_path / "b.jsonl.zst")])
    assert [d.text for d in gz] == [d.text for d in zst] == [r["text"] for r in rows]
    assert gz[1].origin.endswith("a.jsonl.gz:2")


def test_declared_source_and_language_apply_to_records_without_them(tmp_path):
    # FineWeb-Edu-like Parquet: text only, no language or source column.
    rows = [{"text": r["text"], "url": f"https://example.org/{i}"} for i, r in enumerate(sample("en"))]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "part-0.parquet")
    docs = read([{"path": str(tmp_path / "*.parquet"), "source": "fineweb_edu", "lang": "en"}])
    assert all(isinstance(d, Document) for d in docs)
    assert {(d.source, d.lang) for d in docs} == {("fineweb_edu", "en")}
    undeclared = read([str(tmp_path / "*.parquet")])
    assert {q.reason for q in undeclared} == {"unknown_lang"} and all(isinstance(q, Quarantined) for q in undeclared)


def test_hub_language_codes_map_onto_ours(tmp_path):
    rows = [{"text": r["text"], "language": "tha_Thai"} for r in sample("th")]
    rows.append({"text": sample("km")[0]["text"], "language": "khm_Khmr"})
    rows.append({"text": "Ein deutscher Satz.", "language": "deu_Latn"})
    (tmp_path / "fw2.jsonl").write_bytes(jsonl_bytes(rows))
    docs = list(read_sources(resolve_inputs([str(tmp_path / "fw2.jsonl")]), IngestSettings(lang_field="language")))
    assert [d.lang for d in docs[:-1]] == ["th"] * (len(rows) - 2) + ["km"]
    assert isinstance(docs[-1], Quarantined) and "deu_Latn" in docs[-1].detail


def test_normalise_code_keeps_unknowns_and_ours():
    assert normalise_code("zsm_Latn") == "ms" and normalise_code("cmn") == "zh" and normalise_code("fil") == "tl"
    assert normalise_code("th") == "th" and normalise_code("code") == "code"
    assert normalise_code("xx") == "xx" and normalise_code(None) is None
