"""Every kind of datamix inconsistency on one small hand-made table, each finding written out in full, plus the
loader's refusals. Numbers are chosen so that each check fires once and its values are easy to verify by eye."""

import pytest

from data_prep.datamix import Inconsistency, load, validate

# Budget 1000 tokens. Groups A 60% + B 30% = 90% (not 100). Rows: A/a1 600 tokens = 60% (right), B/b1 250 tokens
# at 30% (30% of 1000 is 300). Row shares 60 + 30 = 90%; tokens 600 + 250 = 850 of 1000.
TABLE = """name: t
budget_tokens: 1000
groups:
  - {name: A, languages: [en], share: 60}
  - {name: B, languages: [th], share: 30}
rows:
  - {group: A, languages: [en], source: web, label: a1, tokens: 600, share: 60}
  - {group: B, languages: [th], source: web, label: b1, tokens: 250, share: 30}
"""


def test_each_check_reports_its_rows_expected_and_actual(tmp_path):
    (tmp_path / "t.yaml").write_text(TABLE)
    assert validate(load(tmp_path / "t.yaml")) == [
        Inconsistency("total_share", ["A", "B"], 100.0, 90.0, "group shares add to 90%, not 100%"),
        Inconsistency("total_share", ["A/a1", "B/b1"], 100.0, 90.0, "row shares add to 90%, not 100%"),
        Inconsistency("row_tokens", ["B/b1"], 300.0, 250, "B/b1: 250 tokens but 30% of the budget is 300"),
        Inconsistency("total_tokens", ["A/a1", "B/b1"], 1000, 850, "rows add to 850 tokens, the budget is 1,000"),
    ]


def test_tolerance_is_relative_and_exclusive(tmp_path):
    # Row b1 at 298.5 tokens is 0.5% under 300: exactly at the default tolerance, so not reported; 298 is.
    table = TABLE.replace("tokens: 250", "tokens: 298.5")
    (tmp_path / "t.yaml").write_text(table)
    assert [f.check for f in validate(load(tmp_path / "t.yaml"))].count("row_tokens") == 0
    (tmp_path / "t.yaml").write_text(TABLE.replace("tokens: 250", "tokens: 298"))
    assert [f.rows for f in validate(load(tmp_path / "t.yaml")) if f.check == "row_tokens"] == [["B/b1"]]
    # A group at 0% whose row has 0.001%: any difference from 0 is reported (the tolerance's floor is 1e-12,
    # not 1, which would let 0.005 points through).
    zero = (
        TABLE.replace("groups:\n", "groups:\n  - {name: C, languages: [ms], share: 0}\n")
        + "  - {group: C, languages: [ms], source: x, label: c1, tokens: 0.01, share: 0.001}\n"
    )
    (tmp_path / "t.yaml").write_text(zero)
    assert [(f.expected, f.actual) for f in validate(load(tmp_path / "t.yaml")) if f.check == "group_sum"] == [
        (0, 0.001)
    ]


@pytest.mark.parametrize(
    "text, message",
    [
        ("- just a list\n", r"t.yaml: expected a mapping with 'groups' and 'rows'"),
        ("name: t\nbudget_tokens: 1\n", r"t.yaml: expected a mapping with 'groups' and 'rows'"),
        (TABLE.replace("name: t", "name: t\nbudgt: 3"), r"t.yaml: unknown field\(s\) \['budgt'\]"),
        (TABLE.replace("{name: A,", "{nme: X, name: A,"), r"t.yaml groups\[0\]: unknown field\(s\) \['nme'\]"),
        (TABLE.replace("label: b1,", "label: b1, lang: th,"), r"t.yaml rows\[1\]: unknown field\(s\) \['lang'\]"),
        (TABLE.replace("budget_tokens: 1000", "budget_tokens: 0"), "budget_tokens must be > 0 .got 0."),
    ],
)
def test_loader_refuses_with_the_file_and_field(tmp_path, text, message):
    (tmp_path / "t.yaml").write_text(text)
    with pytest.raises(ValueError, match=message):
        load(tmp_path / "t.yaml")


def test_a_budget_of_one_token_and_no_groups_load(tmp_path):
    (tmp_path / "t.yaml").write_text("name: t\nbudget_tokens: 1\nrows: []\n")
    mix = load(tmp_path / "t.yaml")
    assert (mix.budget_tokens, mix.groups, mix.rows) == (1, [], [])
