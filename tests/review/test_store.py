"""The blind order: random per reviewer and item, yet the same after a restart (a new Store on the same file)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from recipes.review.store import Item, Judgement, NewItem, Store


def test_left_right_order_is_random_per_item_and_survives_a_restart(tmp_path):
    url = f"sqlite:///{tmp_path / 'review.db'}"
    store = Store(url)
    store.set_comparison("m-0.1.0", "m-0.2.0")
    store.add_items([NewItem("th", str(i), f"prompt {i}", "a", "b") for i in range(200)])
    first, second = (store.reviewer(store.add_reviewer(name, ["th"])) for name in ("r1", "r2"))
    with store.sessions() as s:
        items = s.scalars(select(Item)).all()
    order = [store.left_is_a(first, item) for item in items]
    # 200 fair coin flips: 70..130 heads holds with probability 1 - 1e-5; the two reviewers' orders differ too.
    assert 70 <= sum(order) <= 130
    assert order != [store.left_is_a(second, item) for item in items]
    restarted = Store(url)
    assert order == [restarted.left_is_a(first, item) for item in items]


def test_admin_progress_counts_items_judged_once_and_twice(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'review.db'}")
    store.set_comparison("m-0.1.0", "m-0.2.0")
    store.add_items([NewItem(lang, str(i), "p", "a", "b") for lang in ("th", "my") for i in range(3)])
    r1, r2 = (store.reviewer(store.add_reviewer(name, ["th"])) for name in ("r1", "r2"))
    store.reviewer(store.add_reviewer("boss", [], admin=True))
    with store.sessions() as s:
        th = s.scalars(select(Item).where(Item.language == "th").order_by(Item.id)).all()
    none = dict.fromkeys(("fluency", "cultural_fit", "correctness", "instruction_following"))
    for reviewer, item in ((r1, th[0]), (r2, th[0]), (r1, th[1])):
        assert store.record(reviewer, item, True, Judgement("tie", none))
    assert not store.record(r1, th[0], False, Judgement("a", none))  # the first verdict stands
    # th: 3 items, 2 reviewers (the admin is none), 3 verdicts, 2 items judged, 1 of them twice; my: untouched.
    assert [tuple(vars(p).values()) for p in store.language_progress()] == [
        ("my", 3, 0, 0, 0, 0),
        ("th", 3, 2, 3, 2, 1),
    ]


def test_each_reviewer_gets_items_in_their_own_random_order(tmp_path):
    url = f"sqlite:///{tmp_path / 'review.db'}"
    store = Store(url)
    store.set_comparison("m-0.1.0", "m-0.2.0")
    store.add_items([NewItem("th", str(i), f"prompt {i}", "a", "b") for i in range(30)])
    first, second = (store.reviewer(store.add_reviewer(name, ["th"])) for name in ("r1", "r2"))
    none = dict.fromkeys(("fluency", "cultural_fit", "correctness", "instruction_following"))

    def walk(reviewer) -> list[int]:
        order = []
        while (item := store.next_item(reviewer, "th")) is not None:
            order.append(item.id)
            store.record(reviewer, item, True, Judgement("tie", none))
        return order

    ids = sorted(store.prompt_keys())
    one, two = walk(first), walk(second)
    assert sorted(one) == sorted(two) == list(range(1, 31)) and len(ids) == 30
    assert one != two and one != sorted(one)  # not the table's order, and not the same for both
    restarted = Store(url)
    assert sorted(range(1, 31), key=lambda i: restarted.order_key(first, i)) == one  # fixed across restarts


def test_a_database_from_an_older_version_is_named_not_half_used(tmp_path):
    import sqlite3

    db = tmp_path / "old.db"
    Store(f"sqlite:///{db}")
    with sqlite3.connect(db) as conn:  # the reviewers table as it was before `revoked`
        conn.execute("ALTER TABLE reviewers DROP COLUMN revoked")
    with pytest.raises(ValueError, match=r"table reviewers lacks \['revoked'\] \(made by an older recipes.review\)"):
        Store(f"sqlite:///{db}")
