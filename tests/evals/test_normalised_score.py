"""SEA-HELM's normalisation with a maximum other than 1 (aisingapore/SEA-HELM docs/score_calculations.md:
(score - baseline) / (maximum - baseline) x 100, floored at 0). Values worked by hand."""

import pytest

from evals.metrics import normalised_score


@pytest.mark.parametrize(
    "score, baseline, maximum, expected",
    [
        (60.0, 20.0, 100.0, 50.0),  # a 0-100 metric: (60 - 20) / (100 - 20) = 0.5
        (0.5, 0.2, 0.8, 50.0),  # a metric capped at 0.8: 0.3 / 0.6
        (4.0, 1.0, 5.0, 75.0),  # a 1-5 judge score with baseline 1: 3 / 4
        (0.8, 0.2, 0.8, 100.0),  # at the maximum
        (10.0, 20.0, 100.0, 0.0),  # below the baseline: floored at 0
    ],
)
def test_normalised_score_divides_by_maximum_minus_baseline(score, baseline, maximum, expected):
    assert normalised_score(score, baseline, maximum=maximum) == pytest.approx(expected)


def test_normalised_score_refuses_a_maximum_not_above_the_baseline():
    with pytest.raises(ValueError, match=r"maximum \(0.25\) must exceed baseline \(0.25\)"):
        normalised_score(0.5, baseline=0.25, maximum=0.25)
    assert normalised_score(0.26, baseline=0.25, maximum=0.26) == pytest.approx(100.0)
