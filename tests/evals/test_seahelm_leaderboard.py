"""The leaderboard's aggregation worked by hand on two identical runs (every bootstrap then scores the same items):
class-balanced accuracy rescaled above chance and floored at 0, a plain mean x100 for graded items, groups and
levels as means. Against SEA-HELM's own notebook on random runs: tests/seahelm."""

import numpy as np
import pytest

from evals.seahelm_leaderboard import ItemScores, balanced_accuracy, leaderboard_scores


def _config(tasks: dict) -> dict:
    return {"tasks": tasks, "run_args": {"skip_task": ["skipped-task"]}}


def _task(competency, group=None, langs=("id",)):
    return {
        "competency": competency,
        "metric": "m",
        "languages": {lang: {} for lang in langs},
        **({"aggregation_group": group} if group else {}),
    }


def test_balanced_accuracy_is_the_mean_recall_over_the_label_classes():
    # A: 1 of 2 right, B: 2 of 2 right -> (0.5 + 1) / 2, where plain accuracy would be 0.75 too; C: 0 of 1
    assert balanced_accuracy(np.array([True, False, True, True, False]), ["A", "A", "B", "B", "C"]) == pytest.approx(
        (0.5 + 1 + 0) / 3
    )


def test_the_levels_by_hand():
    config = _config(
        {
            "mcq": _task("nlu"),  # labels repeat: balanced accuracy
            "graded": _task("nlu"),  # item scores in 0..1: mean x 100
            "judged": _task("multi-turn"),  # item scores above 1: mean as is
            "part-a": _task("knowledge", "exam"),
            "part-b": _task("knowledge", "exam"),
            "below-chance": _task("safety"),
            "skipped-task": _task("safety"),
        }
    )
    runs = {
        ("id", "mcq"): ItemScores([1, 0, 1, 1, 1, 0], ["A", "A", "B", "B", "C", "C"]),  # recalls .5, 1, .5
        ("id", "graded"): ItemScores([0.2, 0.4], ["ref 1", "ref 2"]),  # unique labels: not multiple choice
        ("id", "judged"): ItemScores([60.0, 80.0]),
        ("id", "part-a"): ItemScores([1, 0]),
        ("id", "part-b"): ItemScores([1, 1]),
        ("id", "below-chance"): ItemScores([0, 0, 1, 0], ["A", "A", "B", "B"]),  # 0.25 < chance 0.5
    }
    data = {key: [items, items] for key, items in runs.items()}
    board = leaderboard_scores(config, data)
    mcq = ((0.5 + 1 + 0.5) / 3 - 1 / 3) / (1 - 1 / 3) * 100  # 50
    assert board["tasks"]["mcq"]["id"] == {"mean": pytest.approx(mcq), "stderr": 0.0, "n": 30}
    assert board["tasks"]["graded"]["id"]["mean"] == pytest.approx(30.0)
    assert board["tasks"]["judged"]["id"]["mean"] == pytest.approx(70.0)
    assert board["groups"]["exam"]["id"]["mean"] == pytest.approx((50.0 + 100.0) / 2)
    assert board["tasks"]["below-chance"]["id"]["mean"] == 0.0  # floored, not negative
    assert "skipped-task" not in board["tasks"]
    comps = board["competencies"]["id"]
    assert comps["nlu"]["mean"] == pytest.approx((mcq + 30) / 2) and comps["knowledge"]["mean"] == pytest.approx(75)
    language = (comps["nlu"]["mean"] + 70 + 75 + 0) / 4
    assert board["languages"]["id"]["mean"] == pytest.approx(language)
    assert board["sea_average"]["mean"] == pytest.approx(language) == board["overall"]["mean"]


def test_runs_disagreeing_give_a_standard_error_and_a_missing_run_is_refused():
    config = _config({"graded": _task("nlu")})
    data = {("id", "graded"): [ItemScores([0.0] * 8), ItemScores([1.0] * 8)]}
    board = leaderboard_scores(config, data)
    assert 0 < board["tasks"]["graded"]["id"]["mean"] < 100 and board["tasks"]["graded"]["id"]["stderr"] > 0
    with pytest.raises(ValueError, match="id/graded: a run has no item scores"):
        leaderboard_scores(config, {("id", "graded"): [ItemScores([1.0] * 8), ItemScores()]})
