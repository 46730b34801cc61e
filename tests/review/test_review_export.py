"""Export: hand-worked win rates, intervals and kappa from known verdicts, written into both versions' records and
shown by `recipes.report` beside the SEA-HELM tables."""

from __future__ import annotations

import json
import shutil

import matplotlib.image as mpimg
import pytest

from evals.aggregate import TaskScore, aggregate
from recipes.report import main as report_main
from recipes.review.store import Item, Judgement, Store

VERSION_A, VERSION_B = "review-sft-0.1.0", "review-sft-0.2.0"


def test_export_into_records_and_report(prepared_db, review_registry, review_cli, tmp_path, monkeypatch):
    db = tmp_path / "review.db"
    shutil.copy(prepared_db, db)
    store = Store(f"sqlite:///{db}")
    with store.sessions() as s:
        th, my = ([i for i in s.query(Item).order_by(Item.id) if i.language == lang] for lang in ("th", "my"))
    r1, r2, r3, r4 = (
        store.reviewer(store.add_reviewer(name, [lang]))
        for name, lang in (("r1", "th"), ("r2", "th"), ("r3", "my"), ("r4", "th"))
    )
    none = {"fluency": None, "cultural_fit": None, "correctness": None, "instruction_following": None}
    for reviewer, item, choice, fluency in (
        (r1, th[0], "b", "b"),
        (r2, th[0], "b", None),
        (r1, th[1], "tie", "a"),
        (r2, th[1], "a", None),
        (r3, my[0], "b", None),
        (r3, my[1], "both_bad", None),
    ):
        assert store.record(
            reviewer,
            item,
            True,
            Judgement(choice, {**none, "fluency": fluency}, harmful_a=reviewer is r3 and choice == "b"),
        )
    # An abstention is counted and changes no statistic; r1 then edits a verdict to what it was (still counted once).
    assert store.record(r4, th[0], True, Judgement("cannot_judge", none))
    assert store.record(r1, th[0], True, Judgement("b", {**none, "fluency": "b"}), replace=True)

    done = review_cli(
        "--db",
        f"sqlite:///{db}",
        "export",
        "--output-dir",
        str(tmp_path / "out"),
        "--registry",
        str(review_registry.root),
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "out" / "review.json").read_text())["languages"]
    # th items score (1 + 1)/2 = 1 and (0.5 + 0)/2 = 0.25 for b: 0.625; two items, so the interval is [0.25, 1].
    # Kappa over the two doubly-judged th items: 0.2 (worked in test_stats). my: 1 and 0.5 -> 0.75; all: 2.75 / 4.
    assert summary["th"]["overall"]["win_rate"] == pytest.approx(0.625)
    assert (summary["th"]["overall"]["ci_low"], summary["th"]["overall"]["ci_high"]) == pytest.approx((0.25, 1.0))
    assert (summary["th"]["kappa"], summary["th"]["kappa_items"]) == (pytest.approx(0.2), 2)
    assert summary["my"]["overall"]["win_rate"] == pytest.approx(0.75) and summary["my"]["both_bad"] == 0.5
    assert (summary["th"]["abstained"], summary["all"]["abstained"], summary["my"]["abstained"]) == (1, 1, 0)
    assert (summary["my"]["harmful_a"], summary["my"]["harmful_b"], summary["th"]["harmful_a"]) == (1, 0, 0)
    assert summary["all"]["overall"]["win_rate"] == pytest.approx(2.75 / 4)
    assert mpimg.imread(tmp_path / "out" / "review.png").shape[1] > 500

    a = review_registry.get(VERSION_A).metrics["native_review"]["scores"]
    b = review_registry.get(VERSION_B).metrics["native_review"]["scores"]
    assert (a["opponent"], b["opponent"]) == (VERSION_B, VERSION_A)
    assert (a["languages"]["my"]["harmful"], b["languages"]["my"]["harmful"]) == (1, 0)
    assert b["languages"]["th"]["criteria"]["fluency"]["win_rate"] == pytest.approx(0.5)  # th fluency: b, then a
    assert (
        a["languages"]["th"]["win_rate"],
        a["languages"]["th"]["ci_low"],
        a["languages"]["th"]["ci_high"],
    ) == pytest.approx((0.375, 0.0, 0.75))

    for version, base in ((VERSION_A, 40), (VERSION_B, 45)):
        folder = tmp_path / version
        folder.mkdir()
        scores = [TaskScore("sentiment", "nlu", lang, base, 0) for lang in ("th", "my")]
        (folder / "results.json").write_text(
            json.dumps({"model": version, "seahelm": {"aggregate": aggregate(scores)}})
        )
    monkeypatch.setenv("SEALION_RUNS", str(review_registry.root.parent))  # the default registry the report reads
    assert (
        report_main([str(tmp_path / VERSION_A), str(tmp_path / VERSION_B), "--output-dir", str(tmp_path / "report")])
        == 0
    )
    md = (tmp_path / "report" / "report.md").read_text()
    assert f"| suite/language | {VERSION_A} | {VERSION_B} |" in md  # the SEA-HELM table, as the eval stage nests it
    assert "| seahelm/th | 40.0 | 45.0 |" in md
    assert f"| language | {VERSION_A} vs {VERSION_B} | {VERSION_B} vs {VERSION_A} |" in md
    assert "| th | 37.5 [0.0, 75.0] (n=2) | 62.5 [25.0, 100.0] (n=2) |" in md
    assert "| all | 31.2 [" in md and "| 68.8 [" in md


def test_chart_title_is_whole_and_legend_clear_of_the_bars(tmp_path):
    from recipes.review.export import LanguageResult, chart, plot
    from recipes.review.stats import WinRate

    rate = WinRate(0.62, 0.5, 0.74, 40, 80)
    results = [
        LanguageResult(lang, rate, 0.1, 0.3, 20, {"fluency": rate, "correctness": rate}, 0, 0, 0)
        for lang in ("km", "lo", "my", "th", "all")
    ]
    a, b = "sealion-gemma3-27b-cpt-sft-1.4.0", "sealion-gemma3-27b-cpt-sft-rl-1.5.0"  # long real-looking ids
    fig = chart(results, a, b)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    page = fig.bbox
    title = ax.title.get_window_extent(renderer)
    assert page.x0 <= title.x0 and title.x1 <= page.x1 and title.y1 <= page.y1, "the title is cut"
    legend = ax.get_legend().get_window_extent(renderer)
    assert not legend.overlaps(ax.get_window_extent(renderer)), "the legend covers the bars"
    assert page.y0 <= legend.y0
    plot(results, a, b, tmp_path / "review.png")
    assert mpimg.imread(tmp_path / "review.png").shape[1] > 500
