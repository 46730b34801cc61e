"""What a shard of data_prep.tokenize holds and what the merged prefixes hold, in this process (no worker pool):
shard boundaries derived by hand from the lines' byte lengths, token ids from the real Gemma 3 tokenizer called
directly, one document at a time (issue #21: the mutation run of data_prep/tokenize.py; test_tokenize.py covers the
pool, kill and resume end to end)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from data_prep import tokenize as tk
from data_prep.tokenize import TokenizeSettings, _Shard


@functools.lru_cache(maxsize=1)
def _tokenizer(path: str):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(path)


@pytest.fixture(scope="module")
def tokenizer(gemma3_dir):
    return _tokenizer(str(Path(gemma3_dir) / "tokenizer.json"))


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False).ids


DOCS = [
    {"text": "Selamat pagi, dunia.", "source": "web", "lang": "id"},
    {"text": "สวัสดีตอนเช้า", "source": "web", "lang": "th"},
    {"text": "Xin chào buổi sáng.", "source": "wiki", "lang": "vi"},
    {"text": "Apa kabar?", "source": "web", "lang": "id"},
    {"text": "早上好", "source": "web", "lang": "zh"},
]


def _write(path: Path, lines: list[str]) -> list[int]:
    """Write the lines; return each line's first byte."""
    data = b""
    starts = []
    for line in lines:
        starts.append(len(data))
        data += line.encode() + b"\n"
    path.write_bytes(data)
    return starts


def _jsonl(path: Path, docs=DOCS) -> list[int]:
    return _write(path, [json.dumps(d, ensure_ascii=False) for d in docs])


def _read_back(prefix: Path) -> list[list[int]]:
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    dataset = IndexedDataset(str(prefix))
    return [dataset[i].tolist() for i in range(len(dataset))]


@pytest.fixture
def worker(monkeypatch, tokenizer):
    """The worker state _init_worker would set, without its parent-death signal."""

    def configure(**settings) -> TokenizeSettings:
        s = TokenizeSettings(tokenizer="unused", **settings)
        monkeypatch.setitem(tk._worker, "settings", s)
        monkeypatch.setitem(tk._worker, "tokenizer", tokenizer)
        return s

    return configure


# ---- names and keys ------------------------------------------------------------------------------------------


def test_safe_keeps_letters_digits_dot_dash_underscore_and_collapses_the_rest():
    assert tk._safe("Web__ID") == "Web__ID"
    assert tk._safe("a b/c:d") == "a_b_c_d"
    assert tk._safe("wiki  //th.v2-x") == "wiki_th.v2-x"
    assert tk._safe("ภาษาไทย") == "_"


def test_settings_key_changes_with_what_shapes_the_output_only(tmp_path, gemma3_dir):
    one, two = tmp_path / "one", tmp_path / "two"
    for d in (one, two):
        d.mkdir()
        shutil.copy(Path(gemma3_dir) / "tokenizer.json", d / "tokenizer.json")
    base = TokenizeSettings(tokenizer=str(one))
    key = tk.settings_key(base)
    assert tk.settings_key(TokenizeSettings(tokenizer=str(two), workers=9, batch_size=3)) == key  # same content
    for change in (
        {"shard_bytes": 7},
        {"group_by": "input"},
        {"text_field": "body"},
        {"append_eos": False},
        {"add_bos": True},
    ):
        assert tk.settings_key(TokenizeSettings(tokenizer=str(one), **change)) != key, change
    with open(two / "tokenizer.json", "ab") as f:
        f.write(b" ")
    assert tk.settings_key(TokenizeSettings(tokenizer=str(two))) != key
    assert tk.tokenizer_sha256("google/gemma-3-270m") == "hub:google/gemma-3-270m"
    assert tk.tokenizer_sha256(str(one)) == hashlib.sha256((one / "tokenizer.json").read_bytes()).hexdigest()


def test_resume_keys_hash_each_input_and_see_a_same_size_rewrite(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"text": "aaa"}\n')
    keys = tk.resume_keys(TokenizeSettings(tokenizer="org/tok"), [str(path)])
    assert keys == {
        "tokenizer_sha256": "hub:org/tok",
        "settings": tk.settings_key(TokenizeSettings(tokenizer="org/tok")),
        "inputs": {str(path): hashlib.sha256(b'{"text": "aaa"}\n').hexdigest()},
    }
    stat = path.stat()
    path.write_bytes(b'{"text": "bbb"}\n')  # same size; a later modification time
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert tk.file_sha256(str(path)) == hashlib.sha256(b'{"text": "bbb"}\n').hexdigest()
    stat = path.stat()
    path.write_bytes(b'{"text": "cccc"}\n')  # a longer rewrite within the file system's timestamp resolution
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert tk.file_sha256(str(path)) == hashlib.sha256(b'{"text": "cccc"}\n').hexdigest()


def test_shards_cover_each_input_in_byte_ranges_named_by_path_content_and_settings(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "sub" / "a.jsonl"
    b.parent.mkdir()
    a.write_bytes(b"x" * 100)
    b.write_bytes(b"y" * 30)
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    shards = tk.plan_shards([str(a), str(b), str(empty)], 40, key="k1")
    assert [(s.input_index, s.path, s.start, s.end) for s in shards] == [
        (0, str(a), 0, 40),
        (0, str(a), 40, 80),
        (0, str(a), 80, 100),
        (1, str(b), 0, 30),
        (2, str(empty), 0, 0),
    ]
    ids = [s.shard_id for s in shards]
    assert len(set(ids)) == len(ids)
    assert ids[0].startswith("a-") and ids[0].endswith("-00000") and ids[2].endswith("-00002")
    assert ids[0][:-6] == ids[2][:-6] != ids[3][:-6]  # same file: one stem and digest; same stem elsewhere: not
    assert ids == [s.shard_id for s in tk.plan_shards([str(a), str(b), str(empty)], 40, key="k1")]
    assert ids[3] == tk.plan_shards([str(b)], 40, key="k1")[0].shard_id  # named by path, not position
    assert tk.plan_shards([str(a)], 40, key="k2")[0].shard_id != ids[0]
    a.write_bytes(b"z" * 100)
    assert tk.plan_shards([str(a)], 40, key="k1")[0].shard_id != ids[0]
    assert [(s.start, s.end) for s in tk.plan_shards([str(empty)], 1)] == [(0, 0)]  # an empty input: one shard
    for suffix in (".gz", ".zst", ".bz2", ".xz"):
        with pytest.raises(ValueError, match=f"input .*a.jsonl{suffix}: compressed input is not supported"):
            tk.plan_shards([str(tmp_path / f"a.jsonl{suffix}")], 40)


# ---- which lines a shard reads ---------------------------------------------------------------------------------


def test_a_line_belongs_to_the_shard_holding_its_first_byte(tmp_path):
    path = tmp_path / "lines.jsonl"
    starts = _write(path, ["aaaa", "", "bbbbbbbbb", "cc", "   ", "dddddd"])  # line starts 0 5 6 16 19 23, size 30
    assert starts == [0, 5, 6, 16, 19, 23]
    size = path.stat().st_size
    kept = {0: b"aaaa\n", 6: b"bbbbbbbbb\n", 16: b"cc\n", 23: b"dddddd\n"}  # blank lines are skipped

    def read(start, end):
        return list(tk._read_lines(_Shard("s", 0, str(path), start, end)))

    assert read(0, size) == list(kept.items())
    assert read(0, 6) == [(0, kept[0])]  # line 6 starts at the end: the next shard's
    assert read(6, 16) == [(6, kept[6])]  # starts exactly on a line: that line is this shard's
    assert read(7, 17) == [(16, kept[16])]  # starts inside a line: it is the previous shard's
    assert read(17, 24) == [(23, kept[23])]
    assert read(24, size) == []
    for cut in range(1, size):  # any two-way split reads every line exactly once
        assert read(0, cut) + read(cut, size) == list(kept.items()), cut


def test_key_of_a_document(tmp_path):
    shard = _Shard("s", 0, str(tmp_path / "my corpus.v1.jsonl"), 0, 1)
    doc = {"text": "x", "source": "web crawl", "lang": "id"}
    assert tk._key_of(doc, shard, TokenizeSettings(), "w") == ("web_crawl__id", "web crawl", "id")
    by_input = TokenizeSettings(group_by="input")
    assert tk._key_of(doc, shard, by_input, "w") == ("my_corpus.v1", "my corpus.v1", "id")
    assert tk._key_of({"text": "x"}, shard, by_input, "w") == ("my_corpus.v1", "my corpus.v1", "")
    for name, bad in (
        ("source", {"lang": "id"}),
        ("lang", {"source": "web", "lang": ""}),
        ("source", {"source": 3, "lang": "id"}),
    ):
        with pytest.raises(ValueError, match=f"^here: field '{name}' is missing or empty"):
            tk._key_of({"text": "x", **bad}, shard, TokenizeSettings(), "here")


# ---- what a shard holds ----------------------------------------------------------------------------------------


def _shard_of(path: Path, start=0, end=None, sid="s0") -> _Shard:
    return _Shard(sid, 0, str(path), start, path.stat().st_size if end is None else end)


def test_a_shard_holds_each_documents_tokens_then_eos_per_key(tmp_path, worker, tokenizer):
    path = tmp_path / "in.jsonl"
    _jsonl(path)
    worker(batch_size=2)  # 4 of the 5 "web"/"wiki" documents pass through full batches, the last one alone
    result = tk._tokenize_shard(_shard_of(path), str(tmp_path / "out"))
    shard_dir = tmp_path / "out" / "shards" / "s0"
    assert result == {"shard_id": "s0", "bytes": path.stat().st_size}
    assert not (tmp_path / "out" / "shards" / "s0.tmp").exists()
    expected = {}
    for d in DOCS:
        expected.setdefault(f"{d['source']}__{d['lang']}", []).append(_ids(tokenizer, d["text"]) + [1])
    for key, docs in expected.items():
        assert _read_back(shard_dir / key) == docs, key
    counts = json.loads((shard_dir / "counts.json").read_text())
    assert counts == {
        key: {
            "source": key.split("__")[0],
            "langs": [key.split("__")[1]],
            "documents": len(docs),
            "tokens": sum(map(len, docs)),
        }
        for key, docs in expected.items()
    }


def test_bos_and_eos_settings_and_the_text_field(tmp_path, worker, tokenizer):
    path = tmp_path / "in.jsonl"
    _jsonl(path, [{"body": "Apa kabar?", "source": "web", "lang": "id"}])
    worker(add_bos=True, append_eos=False, text_field="body")
    tk._tokenize_shard(_shard_of(path), str(tmp_path / "out"))
    assert _read_back(tmp_path / "out" / "shards" / "s0" / "web__id") == [[2] + _ids(tokenizer, "Apa kabar?")]


def test_group_by_input_lists_every_language_once(tmp_path, worker):
    path = tmp_path / "mixed.jsonl"
    _jsonl(path)
    worker(group_by="input")
    tk._tokenize_shard(_shard_of(path), str(tmp_path / "out"))
    counts = json.loads((tmp_path / "out" / "shards" / "s0" / "counts.json").read_text())
    assert list(counts) == ["mixed"] and counts["mixed"]["langs"] == ["id", "th", "vi", "zh"]
    assert counts["mixed"]["source"] == "mixed" and counts["mixed"]["documents"] == 5


def test_a_bad_line_is_named_by_its_byte_offset(tmp_path, worker):
    path = tmp_path / "bad.jsonl"
    starts = _write(path, [json.dumps(DOCS[0]), "{not json", json.dumps({"source": "web", "lang": "id"})])
    worker()
    with pytest.raises(ValueError, match=f"bad.jsonl \\(byte {starts[1]}\\): not valid JSON"):
        tk._tokenize_shard(_shard_of(path), str(tmp_path / "out"))
    with pytest.raises(ValueError, match=f"bad.jsonl \\(byte {starts[2]}\\): field 'text' is missing"):
        tk._tokenize_shard(_shard_of(path, start=starts[2], sid="s2"), str(tmp_path / "out"))
    assert not (tmp_path / "out" / "shards" / "s2").exists()  # nothing committed
    _write(path, [json.dumps(DOCS[0]), json.dumps({"text": "x", "lang": "id"})])
    with pytest.raises(ValueError, match=f"bad.jsonl \\(byte {starts[1]}\\): field 'source' is missing"):
        tk._tokenize_shard(_shard_of(path, sid="s3"), str(tmp_path / "out"))


def test_a_small_vocabulary_is_stored_in_uint16_and_a_killed_runs_leftover_is_replaced(tmp_path, monkeypatch):
    """A 6-token word-level tokenizer: ids by hand, and megatron-core's optimal dtype for under 65,500 tokens
    (indexed_dataset.py, DType.optimal_dtype, megatron-core 0.16.1) halves the bytes of Gemma 3's int32."""
    import numpy as np
    from megatron.core.datasets.indexed_dataset import IndexedDataset
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(
        models.WordLevel({"<unk>": 0, "<eos>": 1, "<bos>": 2, "satu": 3, "dua": 4, "tiga": 5}, unk_token="<unk>")
    )
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    settings = TokenizeSettings(tokenizer="unused")
    monkeypatch.setitem(tk._worker, "settings", settings)
    monkeypatch.setitem(tk._worker, "tokenizer", tok)
    path = tmp_path / "in.jsonl"
    starts = _jsonl(path, [{"text": t, "source": "s", "lang": "id"} for t in ("satu dua tiga", "tiga empat", "dua")])
    out = tmp_path / "out"
    leftover = out / "shards" / "second.tmp"
    leftover.mkdir(parents=True)
    (leftover / "s__id.bin").write_bytes(b"junk from a killed run")
    assert tk._tokenize_shard(_shard_of(path, 0, starts[1], "first"), str(out)) == {
        "shard_id": "first",
        "bytes": starts[1],
    }
    assert tk._tokenize_shard(_shard_of(path, starts[1], None, "second"), str(out)) == {
        "shard_id": "second",
        "bytes": path.stat().st_size - starts[1],
    }
    assert IndexedDataset(str(out / "shards" / "second" / "s__id")).index.dtype == np.uint16
    (prefix,) = tk.merge(settings, ["first", "second"], str(out)).prefixes
    assert IndexedDataset(str(out / "s__id")).index.dtype == np.uint16
    assert _read_back(out / "s__id") == [[3, 4, 5, 1], [5, 0, 1], [4, 1]]  # "empat" is unknown: id 0
    assert (prefix.documents, prefix.tokens) == (3, 9)


# ---- merged prefixes and tokens.json ---------------------------------------------------------------------------


def _tokenized_in_shards(tmp_path, worker, settings: TokenizeSettings, docs=DOCS) -> tuple[Path, list[str], list]:
    path = tmp_path / "in.jsonl"
    starts = _jsonl(path, docs)
    worker(**{f: getattr(settings, f) for f in ("group_by", "append_eos", "add_bos")})
    cut = starts[2]  # two shards: documents 0-1 and 2-4
    out = tmp_path / "out"
    shards = [_shard_of(path, 0, cut, "first"), _shard_of(path, cut, None, "second")]
    for shard in shards:
        tk._tokenize_shard(shard, str(out))
    return out, [s.shard_id for s in shards], starts


def test_merge_joins_the_shards_in_order_into_one_prefix_per_key(tmp_path, worker, tokenizer, gemma3_dir):
    settings = TokenizeSettings(tokenizer=str(gemma3_dir))
    out, shard_ids, _ = _tokenized_in_shards(tmp_path, worker, settings)
    summary = tk.merge(settings, shard_ids, str(out), shards_skipped=1)
    web_id = [_ids(tokenizer, DOCS[i]["text"]) + [1] for i in (0, 3)]  # one from each shard, in shard order
    assert _read_back(out / "web__id") == web_id
    assert [(p.prefix, p.key, p.source, p.lang, p.documents) for p in summary.prefixes] == [
        ("web__id", "web__id", "web", "id", 2),
        ("web__th", "web__th", "web", "th", 1),
        ("web__zh", "web__zh", "web", "zh", 1),
        ("wiki__vi", "wiki__vi", "wiki", "vi", 1),
    ]
    assert summary.prefixes[0].tokens == sum(map(len, web_id))
    assert (summary.output_dir, summary.tokens_json) == (str(out), str(out / "tokens.json"))
    total = sum(len(_ids(tokenizer, d["text"])) + 1 for d in DOCS)
    assert (summary.documents, summary.tokens, summary.shards, summary.shards_skipped) == (5, total, 2, 1)
    written = json.loads(Path(summary.tokens_json).read_text())
    assert written == {
        "tokenizer": str(gemma3_dir),
        "settings_key": tk.settings_key(settings),
        "append_eos": True,
        "add_bos": False,
        "group_by": "source_lang",
        "shards": 2,
        "shards_skipped": 1,
        "prefixes": [
            {
                "prefix": p.prefix,
                "key": p.key,
                "source": p.source,
                "lang": p.lang,
                "documents": p.documents,
                "tokens": p.tokens,
            }
            for p in summary.prefixes
        ],
    }
    assert not list(out.glob("*.tmp*"))


def test_merge_by_input_marks_several_languages_mixed_and_one_language_by_name(tmp_path, worker, tokenizer, gemma3_dir):
    settings = TokenizeSettings(tokenizer=str(gemma3_dir), group_by="input")
    out, shard_ids, _ = _tokenized_in_shards(tmp_path, worker, settings)
    summary = tk.merge(settings, shard_ids, str(out), began=time.perf_counter() - 100)
    assert 100 <= summary.seconds < 200 and summary.shards_skipped == 0  # timed from the run's start
    (prefix,) = summary.prefixes
    assert (prefix.key, prefix.lang, prefix.documents) == ("in", "mixed", 5)
    assert _read_back(out / "in") == [_ids(tokenizer, d["text"]) + [1] for d in DOCS]
    one = tmp_path / "one"
    one.mkdir()
    out, shard_ids, _ = _tokenized_in_shards(one, worker, settings, [d for d in DOCS if d["lang"] == "id"] * 2)
    (prefix,) = tk.merge(settings, shard_ids, str(out)).prefixes
    assert (prefix.lang, prefix.documents) == ("id", 4)


def test_merge_refuses_uncommitted_shards(tmp_path, gemma3_dir):
    (tmp_path / "shards" / "done").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="1 shards are not committed \\(first: missing\\)"):
        tk.merge(TokenizeSettings(tokenizer=str(gemma3_dir)), ["done", "missing"], str(tmp_path))


def test_committed_shards_are_skipped_without_a_pool(tmp_path, worker, gemma3_dir, monkeypatch):
    path = tmp_path / "in.jsonl"
    _jsonl(path)
    settings = TokenizeSettings(tokenizer=str(gemma3_dir), shard_bytes=60)
    planned = tk.plan_shards([str(path)], 60, tk.settings_key(settings))
    assert len(planned) == -(-path.stat().st_size // 60)
    worker(shard_bytes=60)
    for shard in planned:
        tk._tokenize_shard(shard, str(tmp_path / "out"))
    monkeypatch.setattr(tk, "_pool_results", lambda *a: pytest.fail("a committed shard was tokenised again"))
    ids, skipped = tk.tokenize_shards(settings, [str(path)], str(tmp_path / "out"))
    assert ids == [s.shard_id for s in planned] and skipped == len(planned)


def _in_process_pool(settings, jobs):
    """_pool_results without processes: each job through _tokenize_shard here, with the settings given."""
    tk._worker["settings"] = settings
    return (tk._tokenize_shard(*job) for job in jobs)


def test_uncommitted_shards_are_tokenised_into_a_new_output_dir(tmp_path, worker, gemma3_dir, monkeypatch):
    path = tmp_path / "in.jsonl"
    _jsonl(path)
    worker()
    monkeypatch.setattr(tk, "_pool_results", _in_process_pool)
    settings = TokenizeSettings(tokenizer=str(gemma3_dir), shard_bytes=100, workers=1, batch_size=1)
    out = tmp_path / "new" / "out"
    ids, skipped = tk.tokenize_shards(settings, [str(path)], str(out))
    assert len(ids) == -(-path.stat().st_size // 100) and skipped == 0
    assert sorted(p.name for p in out.iterdir()) == ["shards"] and sorted(ids) == sorted(
        p.name for p in (out / "shards").iterdir()
    )
    assert tk.merge(settings, ids, str(out)).documents == len(DOCS)
    blank = tmp_path / "blank.jsonl"
    blank.write_bytes(b"\n\n")
    tiny = TokenizeSettings(tokenizer=str(gemma3_dir), shard_bytes=1, workers=1, batch_size=1)
    assert tk.tokenize_shards(tiny, [str(blank)], str(out))[1] == 0  # the smallest valid settings run


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tokenizer": ""}, "tokenizer is empty"),
        ({"group_by": "lang"}, "group_by='lang'"),
        ({"workers": 0}, "must all be >= 1"),
        ({"shard_bytes": 0}, "must all be >= 1"),
        ({"batch_size": 0}, "must all be >= 1"),
    ],
)
def test_bad_settings_are_refused_before_any_work(tmp_path, change, message):
    settings = TokenizeSettings(**({"tokenizer": "t"} | change))
    with pytest.raises(ValueError, match=message):
        tk.tokenize_shards(settings, ["in.jsonl"], str(tmp_path / "out"))
    with pytest.raises(ValueError, match="no input paths"):
        tk.tokenize_shards(TokenizeSettings(tokenizer="t"), [], str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


# ---- the tokenizer check ---------------------------------------------------------------------------------------


def test_paths_and_hub_ids(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert not tk.looks_like_path("google/gemma-3-270m")
    (tmp_path / "google" / "gemma-3-270m").mkdir(parents=True)
    assert tk.looks_like_path("google/gemma-3-270m")  # exists here, though shaped like a hub id
    assert tk.looks_like_path("./missing") and tk.looks_like_path("/missing/tok")


def test_a_hub_id_goes_to_transformers(monkeypatch):
    import transformers

    class Loaded:
        backend_tokenizer = "rust tokenizer"

    asked = []
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda name: asked.append(name) or Loaded())
    assert tk.load_fast_tokenizer("org/tok") == "rust tokenizer" and asked == ["org/tok"]


def test_tokenizer_problem_names_why_and_none_when_it_loads(tmp_path, gemma3_dir, tokenizer):
    from tokenizers import Tokenizer

    assert tk.tokenizer_problem(str(tmp_path / "missing")) == "no such directory"
    (tmp_path / "file").write_text("x")
    assert tk.tokenizer_problem(str(tmp_path / "file")) == "no such directory"
    assert tk.tokenizer_problem(str(gemma3_dir)) is None
    assert tk.load_fast_tokenizer(str(gemma3_dir)).encode("Apa kabar?", add_special_tokens=False).ids == _ids(
        tokenizer, "Apa kabar?"
    )
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "tokenizer.json").write_text("{not json")
    with pytest.raises(Exception) as raised:
        Tokenizer.from_file(str(broken / "tokenizer.json"))
    problem = tk.tokenizer_problem(str(broken))
    assert problem == f"Exception: {str(raised.value).strip().splitlines()[0]}" and len(problem) > 20
    with pytest.raises(ValueError, match=f"tokenizer '{broken}' does not load \\(Exception: "):
        tk.check_tokenizer(str(broken))
    tk.check_tokenizer(str(gemma3_dir))
