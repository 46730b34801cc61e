"""The blind order: random per reviewer and item, yet the same after a restart (a new Store on the same file)."""

from __future__ import annotations

from sqlalchemy import select

from evals.review.store import Item, NewItem, Store


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
