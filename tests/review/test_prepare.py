"""`prepare` over the real 270M (the session's one run) and the input checks that come before any model loads."""

from __future__ import annotations

import shutil

import pytest

from recipes.review.prepare import GenerationSettings, prepare, read_prompts
from recipes.review.store import Item, Store


def test_prepared_items_hold_both_versions_responses(prepared_db, review_prompts):
    store = Store(f"sqlite:///{prepared_db}")
    comparison = store.comparison()
    assert (comparison.version_a, comparison.version_b) == ("review-sft-0.1.0", "review-sft-0.2.0")
    with store.sessions() as s:
        items = s.query(Item).order_by(Item.id).all()
    assert [(i.language, i.prompt_id, i.prompt) for i in items] == [
        (p["lang"], p["id"], p["prompt"]) for p in review_prompts
    ]
    # Same weights and greedy decoding: both versions answer alike; each prompt gets its own answer.
    assert all(i.response_a and i.response_a == i.response_b for i in items)
    assert len({i.response_a for i in items}) == len(items)


def test_bad_prompt_lines_name_file_line_and_field(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"id": 1, "lang": "th", "prompt": "สวัสดี"}\n{"id": 2, "lang": "th"}\n')
    with pytest.raises(ValueError, match=r"prompts.jsonl:2: give a non-empty 'prompt'"):
        read_prompts(path)
    path.write_text('{"id": 1, "lang": "Thai", "prompt": "x"}\n')
    with pytest.raises(ValueError, match=r"prompts.jsonl:1: 'lang' must be one of"):
        read_prompts(path)
    path.write_text(
        '{"id": 1, "lang": "th", "messages": [{"role": "user", "content": "a"}, '
        '{"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]}\n'
    )
    with pytest.raises(ValueError, match=r"prompts \['1'\] have several turns"):
        read_prompts(path)


def test_wrong_versions_or_pair_refused_before_generation(prepared_db, review_registry, prompts_file, tmp_path):
    db = tmp_path / "review.db"
    shutil.copy(prepared_db, db)
    store = Store(f"sqlite:///{db}")
    settings = GenerationSettings(max_new_tokens=1)
    with pytest.raises(KeyError, match="no version 'nope'"):
        prepare(store, review_registry, "nope", "review-sft-0.2.0", prompts_file, settings)
    with pytest.raises(ValueError, match="this database reviews review-sft-0.1.0 vs review-sft-0.2.0"):
        prepare(store, review_registry, "review-sft-0.2.0", "review-sft-0.1.0", prompts_file, settings)
    with pytest.raises(ValueError, match=r"4 prompts are already in this database \(first: \('my', 'my-mohinga'\)\)"):
        prepare(store, review_registry, "review-sft-0.1.0", "review-sft-0.2.0", prompts_file, settings)
    with pytest.raises(ValueError, match="two different versions"):
        prepare(
            Store(f"sqlite:///{tmp_path / 'new.db'}"),
            review_registry,
            "review-sft-0.1.0",
            "review-sft-0.1.0",
            prompts_file,
            settings,
        )


def test_reviewer_command_prints_a_working_token(prepared_db, review_cli, tmp_path):
    db = tmp_path / "review.db"
    shutil.copy(prepared_db, db)
    done = review_cli("--db", f"sqlite:///{db}", "reviewer", "add", "somchai", "--languages", "th,my")
    assert done.returncode == 0, done.stderr
    reviewer = Store(f"sqlite:///{db}").reviewer(done.stdout.strip())
    assert (reviewer.name, reviewer.language_list, reviewer.admin) == ("somchai", ["th", "my"], False)
    refused = review_cli("--db", f"sqlite:///{db}", "reviewer", "add", "nobody")
    assert refused.returncode == 2 and "languages=[]" in refused.stderr
