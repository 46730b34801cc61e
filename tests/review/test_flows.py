"""What a native speaker does beyond one verdict, in headless Chromium on a real server: two languages in one
session, skip / cannot judge / flag harmful, "both bad" on a criterion, changing a verdict, a failed submit that keeps
what was typed, the criteria's definitions on the page, and the admin's per-reviewer progress."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from recipes.review.store import CRITERIA, Item, NewItem, Reviewer, Store, Verdict
from tests.helpers.review_browser import Server, choose, login, submit

By = pytest.importorskip("selenium.webdriver.common.by", reason="selenium not installed: pip install -e '.[test]'").By
ITEMS = [NewItem("th", f"th-{i}", f"คำถามที่ {i}", f"คำตอบ ก {i}", f"คำตอบ ข {i}") for i in range(3)] + [
    NewItem("my", f"my-{i}", f"မေးခွန်း {i}", f"အဖြေ က {i}", f"အဖြေ ခ {i}") for i in range(2)
]


@pytest.fixture(scope="module")
def flows(tmp_path_factory):
    folder = tmp_path_factory.mktemp("review-flows")
    store = Store(f"sqlite:///{folder / 'review.db'}")
    store.set_comparison("flow-0.1.0", "flow-0.2.0")
    store.add_items(ITEMS)
    tokens = {
        name: store.add_reviewer(name, languages)
        for name, languages in [("both", ["th", "my"]), ("skipper", ["th"]), ("editor", ["my"]), ("typist", ["th"])]
    }
    tokens["admin"] = store.add_reviewer("admin", [], admin=True)
    server = Server(store.engine.url.render_as_string(), folder / "server.log")
    server.start()
    yield server, store, tokens
    server.kill()


def verdicts_of(store: Store, name: str) -> list[tuple[Item, Verdict]]:
    with store.sessions() as s:
        return [
            tuple(row)
            for row in s.execute(
                select(Item, Verdict).join(Verdict).join(Reviewer).where(Reviewer.name == name).order_by(Verdict.id)
            ).all()
        ]


def shown_item(browser, store: Store) -> Item:
    return store.item(int(browser.find_element(By.NAME, "item_id").get_attribute("value")))


def version_of(browser, item: Item, side: str) -> str:
    """Which version the page shows on `side`, read from the page."""
    return "a" if browser.find_element(By.ID, side).text == item.response_a else "b"


def test_two_languages_are_done_only_when_both_are(flows, browser):
    server, store, tokens = flows
    login(browser, server, tokens["both"])
    languages = []
    while not browser.find_elements(By.ID, "done"):
        languages.append(shown_item(browser, store).language)
        choose(browser, "choice", "tie")
        submit(browser)
        assert len(languages) <= 5
    assert sorted(languages) == ["my", "my", "th", "th", "th"]
    assert languages[:3] == ["th"] * 3  # one language at a time, the next one offered when the first is done


def test_skip_cannot_judge_and_harmful_flags(flows, browser):
    server, store, tokens = flows
    login(browser, server, tokens["skipper"])
    skipped = shown_item(browser, store)
    submit(browser, "skip")  # no choice needed to skip
    unjudgeable = shown_item(browser, store)
    submit(browser, "cannot-judge")
    last = shown_item(browser, store)
    assert len({skipped.id, unjudgeable.id, last.id}) == 3
    choose(browser, "choice", "left")
    submit(browser)
    assert browser.find_elements(By.ID, "done")
    links = browser.find_elements(By.CSS_SELECTOR, "#skipped a")
    assert [a.text for a in links] == [skipped.prompt]  # the skipped item, offered again; not the unjudgeable one
    links[0].click()
    assert shown_item(browser, store).id == skipped.id
    choose(browser, "choice", "right")
    browser.find_element(By.NAME, "harmful_left").click()
    harmful = version_of(browser, skipped, "left")
    winner = version_of(browser, skipped, "right")
    submit(browser)
    stored = {item.id: v for item, v in verdicts_of(store, "skipper")}
    assert stored[unjudgeable.id].choice == "cannot_judge"
    assert stored[skipped.id].choice == winner and stored[skipped.id].edited is not None
    assert (stored[skipped.id].harmful_a, stored[skipped.id].harmful_b) == (harmful == "a", harmful == "b")
    assert not browser.find_elements(By.CSS_SELECTOR, "#skipped a")


def test_both_bad_per_criterion_and_changing_a_verdict(flows, browser):
    server, store, tokens = flows
    login(browser, server, tokens["editor"])
    item = shown_item(browser, store)
    left = version_of(browser, item, "left")
    choose(browser, "choice", "left")
    choose(browser, "fluency", "both_bad")
    choose(browser, "correctness", "right")
    browser.find_element(By.ID, "comment").send_keys("ภาษาไม่เป็นธรรมชาติ")
    submit(browser)
    ((_, first),) = verdicts_of(store, "editor")
    assert (first.choice, first.fluency, first.correctness) == (left, "both_bad", "b" if left == "a" else "a")

    browser.find_element(By.ID, "my-verdicts").click()
    browser.find_element(By.CSS_SELECTOR, "#verdicts a").click()
    assert browser.find_element(By.ID, "editing")
    form = {
        e.get_attribute("name"): e.get_attribute("value")
        for e in browser.find_elements(By.CSS_SELECTOR, "input[type=radio]")
        if e.is_selected()
    }
    assert form == {"choice": "left", "fluency": "both_bad", "correctness": "right"}  # the stored verdict, shown
    assert browser.find_element(By.ID, "comment").get_attribute("value") == "ภาษาไม่เป็นธรรมชาติ"
    choose(browser, "choice", "both_bad")
    submit(browser)
    ((_, changed),) = verdicts_of(store, "editor")  # still one verdict: replaced, not added
    assert (changed.id, changed.choice, changed.fluency) == (first.id, "both_bad", "both_bad")
    assert changed.edited is not None and changed.comment == "ภาษาไม่เป็นธรรมชาติ"


def test_a_failed_submit_keeps_what_was_typed(flows, browser):
    server, store, tokens = flows
    login(browser, server, tokens["typist"])
    item = shown_item(browser, store)
    choose(browser, "choice", "right")
    choose(browser, "cultural_fit", "tie")
    comment = "คำตอบขวาใช้คำราชาศัพท์ถูกต้อง\nแต่ยาวเกินไป"
    browser.find_element(By.ID, "comment").send_keys(comment)
    # A form token gone stale (the database's secret replaced, a tampered page): the submit is refused...
    browser.execute_script("document.querySelector('input[name=csrf]').value = 'stale'")
    submit(browser)
    assert "form token" in browser.find_element(By.ID, "error").text
    assert shown_item(browser, store).id == item.id
    assert browser.find_element(By.ID, "comment").get_attribute("value") == comment  # ...and nothing typed is lost
    assert browser.find_element(By.CSS_SELECTOR, "input[name=choice][value=right]").is_selected()
    assert browser.find_element(By.CSS_SELECTOR, "input[name=cultural_fit][value=tie]").is_selected()
    assert verdicts_of(store, "typist") == []
    submit(browser)  # the same form again, with a fresh token
    ((_, stored),) = verdicts_of(store, "typist")
    assert stored.comment == comment and stored.cultural_fit == "tie"


def test_criteria_definitions_are_on_the_page(flows, browser):
    server, store, tokens = flows
    login(browser, server, tokens["typist"])
    for name, criterion in CRITERIA.items():
        fieldset = browser.find_element(By.ID, f"criterion-{name}")
        assert criterion.label in fieldset.text and criterion.definition in fieldset.text
        assert fieldset.find_element(By.CLASS_NAME, "definition").is_displayed()


def test_admin_sees_each_reviewers_progress(flows, browser):
    server, store, tokens = flows
    store.revoke("typist")
    login(browser, server, tokens["admin"])
    rows = {
        cells[0]: cells[1:5] + cells[6:]
        for tr in browser.find_elements(By.CSS_SELECTOR, "#reviewers tr")
        if (cells := [td.text for td in tr.find_elements(By.TAG_NAME, "td")])
    }
    # name: languages, judged (abstentions included), items in their languages, skipped or cannot judge, status
    assert rows["both"] == ["th,my", "5", "5", "0", "active"]
    assert rows["skipper"] == ["th", "3", "3", "1", "active"]
    assert rows["editor"] == ["my", "1", "2", "0", "active"]
    assert [v for k, v in rows.items() if k.startswith("typist")] == [["th", "1", "3", "0", "revoked"]]
    assert "admin" not in rows
