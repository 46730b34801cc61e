"""SEA-HELM's results as SEA-HELM writes them (totals, judge tasks, both translation directions, LINDSEA): this
repo's parser scores them as SEA-HELM does (layout and arithmetic: tests/helpers/engine_results.py)."""

import json

import pytest

from evals.seahelm import SEAHELM_TASKS, parse_results
from tests.helpers.engine_results import sea_helm_aggregate, task_metrics, write_run

MODEL = "/lustre/models/sealion-v4-27b-apo"


# The `seahelm` set in seahelm_tasks/task_config.yaml at 6844e6c (every language's list, united); `thai_exam` is the
# aggregation group of thai_exam_{a_level,ic,onet,tgat,tpat1} (seahelm_tasks/knowledge/thai_exam/config.yaml).
SEAHELM_SET = {
    "sentiment",
    "qa",
    "metaphor",
    "toxicity",
    "translation-en-xx",
    "translation-xx-en",
    "abssum",
    "causal",
    "nli",
    "syntax-criteria",
    "mp-r",
    "pragmatic-single",
    "pragmatic-pair",
    "if-eval",
    "mt-bench-judge",
    "global_mmlu_lite",
    "belebele-qa-mc",
    "kalahi-mc",
    "kalahi-judge",
    "thai_exam_a_level",
    "thai_exam_ic",
    "thai_exam_onet",
    "thai_exam_tgat",
    "thai_exam_tpat1",
}


def test_every_task_of_the_set_is_known():
    assert set(SEAHELM_TASKS) == SEAHELM_SET


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("seahelm")
    files = [write_run(out, MODEL, run) for run in range(3)]
    return out, files


def test_id_run_0_by_hand():
    """The fixture's arithmetic, checked once by hand: id at run 0."""
    # nlu (70+60+40)/3; safety 55; nlg: translations (80+90)/2 = 85 with abssum 20 -> 52.5; nlr (75+45)/2 = 60;
    # if 85; mt-bench 62; knowledge 50; LINDSEA: mp-r 64, pragmatics pooled scalar 46/60, presupposition 39/60,
    # mean 0.708333 -> (0.708333-0.5)/0.5 = 41.667 -> (64+41.667)/2 = 52.833 (syntax-criteria is not counted).
    metrics = sea_helm_aggregate(task_metrics(0))
    assert metrics["id"]["nlg"]["translations"] == pytest.approx(85.0)
    assert metrics["id"]["linguistic-diagnostics"]["total"] == pytest.approx((64 + 125 / 3) / 2)
    assert metrics["id"]["total"] == pytest.approx(59.25)


def test_parse_keeps_sea_helms_per_run_totals(three_runs):
    out, files = three_runs
    parsed = parse_results(out, {0: 11, 1: 12, 2: 13})
    runs = [json.loads(f.read_text()) for f in files]
    agg = parsed["run_totals"]["aggregate"]
    assert agg["n_seeds"] == 3 and parsed["disagreements"] == [] and parsed["incomplete_runs"] == {}
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    # SEA-HELM's own numbers (written by its aggregation into each file), averaged over the runs.
    assert agg["sea_average"]["mean"] == pytest.approx(mean([r["total"] for r in runs]))
    for lang in ("id", "th", "ta", "tl"):
        assert agg["languages"][lang]["mean"] == pytest.approx(mean([r[lang]["total"] for r in runs]))
        for comp in runs[0][lang]:
            if comp != "total":
                assert agg["competencies"][lang][comp]["mean"] == pytest.approx(
                    mean([r[lang][comp]["total"] for r in runs])
                )
    # every judged task and instruction following counts; the two directions are one group
    assert agg["competencies"]["tl"]["multi-turn"]["mean"] == pytest.approx(53.0)  # 52, 53, 54
    assert agg["competencies"]["id"]["instruction-following"]["mean"] == pytest.approx(86.0)
    assert agg["tasks"]["translations"]["th"]["mean"] == pytest.approx(78.0)  # (70+84)/2 + 1
    assert "translation-en-xx" not in agg["tasks"] and "syntax-criteria" not in agg["tasks"]
    assert parsed["run_totals"]["seahelm_totals"] == {r: pytest.approx(runs[r]["total"]) for r in range(3)}
    assert parsed["seeds"] == {0: 11, 1: 12, 2: 13} and parsed["runs"] == [0, 1, 2]
    assert parsed["skipped"] == []


def test_the_leaderboard_score_is_the_item_level_one(three_runs):
    """Every item of a task scores the task's score of its run (+1 per run); a bootstrap picks each item's run, so
    each task's leaderboard mean lies within its runs' scores, and syntax-criteria counts in LINDSEA (the
    leaderboard's linguistic diagnostics: mp-r, syntax-criteria and the pragmatics group), unlike the per-run
    totals. The exact numbers are SEA-HELM's own notebook's: tests/seahelm."""
    out, _ = three_runs
    board = parse_results(out, {0: 11, 1: 12, 2: 13})["aggregate"]
    assert board["n_bootstraps"] == 30 and board["bootstrap_seed"] == 94370244
    assert 62.0 <= board["tasks"]["mt-bench-judge"]["id"]["mean"] <= 64.0
    assert board["tasks"]["mt-bench-judge"]["id"]["stderr"] > 0
    lindsea = board["competencies"]["id"]["linguistic-diagnostics"]["mean"]
    members = [
        board["tasks"]["mp-r"]["id"]["mean"],
        board["tasks"]["syntax-criteria"]["id"]["mean"],
        board["groups"]["pragmatics"]["id"]["mean"],
    ]
    assert lindsea == pytest.approx(sum(members) / 3)
    assert board["sea_average"]["mean"] == pytest.approx(
        sum(board["languages"][lang]["mean"] for lang in ("id", "th", "ta", "tl")) / 4
    )


def _rewrite(path, change):
    metrics = json.loads(path.read_text())
    change(metrics)
    path.write_text(json.dumps(metrics))


@pytest.mark.parametrize(
    "change, reason",
    [
        (
            lambda m: m["th"]["nlu"]["sentiment"].update(
                {"normalized_accuracy": 0, "error": "Failed to run evaluation for task"}
            ),
            "th/sentiment: SEA-HELM error 'Failed to run evaluation for task'",
        ),
        (lambda m: m["th"]["nlu"]["sentiment"].pop("normalized_accuracy"), "th/sentiment: no normalized_accuracy"),
        (lambda m: m["th"]["nlu"].pop("sentiment"), "th/sentiment: no result"),
    ],
)
def test_a_failed_task_makes_its_run_incomplete_never_scored(tmp_path, change, reason):
    for run in range(2):
        write_run(tmp_path, MODEL, run)
    _rewrite(next((tmp_path / "sealion-v4-27b-apo" / "run_1" / "results").glob("*.json")), change)
    parsed = parse_results(tmp_path, {0: 11, 1: 12})
    assert list(parsed["incomplete_runs"]) == ["1"] and parsed["incomplete_runs"]["1"][0].startswith(reason)
    assert parsed["runs"] == [0] and list(parsed["run_totals"]["seahelm_totals"]) == [0]


def test_a_run_without_item_scores_or_results_is_incomplete(tmp_path):
    write_run(tmp_path, MODEL, 0)
    write_run(tmp_path, MODEL, 1)
    (
        tmp_path
        / "sealion-v4-27b-apo"
        / "run_1"
        / "inferences"
        / "tl"
        / "kalahi-judge"
        / "sealion-v4-27b-apo_kalahi-judge_tl.jsonl"
    ).unlink()
    parsed = parse_results(tmp_path, {0: 11, 1: 12, 2: 13})
    assert parsed["incomplete_runs"]["1"][0].startswith("tl/kalahi-judge: no item scores in ")
    assert parsed["incomplete_runs"]["2"] == ["no results file (the run did not start)"]
    assert parsed["runs"] == [0]


def test_an_unfinished_run_is_listed_not_scored(tmp_path):
    write_run(tmp_path, MODEL, 0)
    write_run(tmp_path, MODEL, 1, finished=False)
    parsed = parse_results(tmp_path)
    assert parsed["incomplete_runs"] == {"1": ["no overall total (SEA-HELM writes it last: the run did not finish)"]}
    assert parsed["run_totals"]["aggregate"]["n_seeds"] == 1
    write_run(tmp_path / "only", MODEL, 0, finished=False)
    nothing = parse_results(tmp_path / "only")
    assert nothing["aggregate"] is None and nothing["runs"] == [] and list(nothing["incomplete_runs"]) == ["0"]


def test_the_newest_file_of_a_run_wins_and_disagreements_are_reported(tmp_path, capsys):
    first = write_run(tmp_path, MODEL, 0)
    later = first.with_name(first.name.replace("2026-11-20", "2026-11-29"))
    metrics = json.loads(first.read_text())
    metrics["th"]["nlg"]["total"] += 1.0  # a total this repo would not reproduce
    later.write_text(json.dumps(metrics))
    parsed = parse_results(tmp_path)
    assert parsed["files"] == [str(later)]
    assert len(parsed["disagreements"]) == 1 and "th/nlg/total" in parsed["disagreements"][0]
    assert "th/nlg/total" in capsys.readouterr().err
