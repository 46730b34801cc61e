"""Issue #14, item 2: finished shards are reused only for the same input content and settings; the keys are
recorded."""

import hashlib
import json
from pathlib import Path

from data_prep.tokenize import TokenizeSettings, resume_keys, run
from tests.helpers.dataprep_corpus import write_corpus


def documents(summary) -> dict[str, int]:
    return {p.key: p.documents for p in summary.prefixes}


def test_a_changed_input_or_setting_recomputes_and_an_unchanged_one_resumes(tmp_path, gemma3_dir):
    corpus, out = tmp_path / "curated.jsonl", str(tmp_path / "out")
    settings = TokenizeSettings(tokenizer=str(gemma3_dir), workers=1, shard_bytes=4_000)
    write_corpus(corpus, 30, seed=3)  # a first run (say with a stricter filter) kept 30 documents
    first = run(settings, [str(corpus)], out)
    assert first.documents == 30 and first.shards > 1
    docs = write_corpus(corpus, 45, seed=3)  # the rerun's curation keeps 45 into the same file
    second = run(settings, [str(corpus)], out)
    assert second.shards_skipped == 0  # today: the first run's shards of this path are reused
    expected: dict[str, int] = {}
    for d in docs:
        key = f"{d['source']}__{d['lang']}"
        expected[key] = expected.get(key, 0) + 1
    assert second.documents == 45 and documents(second) == expected
    assert (
        json.loads(Path(second.tokens_json).read_text())["prefixes"][0]["documents"] == expected[second.prefixes[0].key]
    )

    again = run(settings, [str(corpus)], out)  # nothing changed: every shard resumes
    assert again.shards_skipped == again.shards == second.shards and documents(again) == expected

    with_bos = run(
        TokenizeSettings(tokenizer=str(gemma3_dir), workers=1, shard_bytes=4_000, add_bos=True), [str(corpus)], out
    )
    assert with_bos.shards_skipped == 0 and with_bos.tokens == second.tokens + 45  # one <bos> per document


def test_the_keys_name_the_tokenizer_the_settings_and_each_input(tmp_path, gemma3_dir):
    corpus = tmp_path / "a.jsonl"
    write_corpus(corpus, 3)
    keys = resume_keys(TokenizeSettings(tokenizer=str(gemma3_dir)), [str(corpus)])
    assert keys["tokenizer_sha256"] == hashlib.sha256((Path(gemma3_dir) / "tokenizer.json").read_bytes()).hexdigest()
    assert keys["inputs"] == {str(corpus): hashlib.sha256(corpus.read_bytes()).hexdigest()}
    assert (
        keys["settings"]
        != resume_keys(TokenizeSettings(tokenizer=str(gemma3_dir), append_eos=False), [str(corpus)])["settings"]
    )
    assert (
        keys["settings"]
        == resume_keys(TokenizeSettings(tokenizer=str(gemma3_dir), workers=7, batch_size=3), [str(corpus)])["settings"]
    )  # speed settings shape nothing
