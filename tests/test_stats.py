"""Statistics of the baseline check: bootstrap intervals, verdicts, exact checks, curve areas."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from myriad_bench.harness.stats import (
    area_under_curve,
    auc_weights,
    compare_scores,
    exact_match,
    interval_estimate,
)


def test_difference_interval_covers_true_difference_near_nominal_rate():
    """On simulated normal runs the 90% interval of the difference covers the truth ~90% of the time."""
    rng = np.random.default_rng(1234)
    trials, runs, true_delta = 300, 20, -3.0
    covered = 0
    for trial in range(trials):
        baseline = rng.normal(100.0, 10.0, size=runs)
        obtained = rng.normal(100.0 + true_delta, 10.0, size=runs)
        verdict = compare_scores(obtained, baseline, alpha=0.10, reps=1000, seed=trial)
        covered += verdict.ci_low <= true_delta <= verdict.ci_high
    coverage = covered / trials
    # The percentile bootstrap is known to under-cover slightly at n=20; "within reason".
    assert 0.82 <= coverage <= 0.97, coverage


def test_two_level_interval_covers_true_mean_with_episode_noise():
    """(runs, episodes) scores: the interval accounts for seed spread and episode spread."""
    rng = np.random.default_rng(7)
    trials, covered = 200, 0
    for trial in range(trials):
        seed_means = rng.normal(50.0, 5.0, size=8)
        scores = seed_means[:, None] + rng.normal(0.0, 20.0, size=(8, 16))
        interval = interval_estimate(scores, confidence=0.9, reps=800, seed=trial)
        covered += interval.low <= 50.0 <= interval.high
    assert 0.80 <= covered / trials <= 0.98, covered / trials


def test_same_seed_same_verdict_and_different_seed_different_interval():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, (5, 10)), rng.normal(0.2, 1, (5, 10))
    first = compare_scores(a, b, seed=11)
    assert compare_scores(a, b, seed=11) == first
    assert compare_scores(a, b, seed=12).ci_low != first.ci_low


def test_obvious_regression_is_flagged():
    baseline = np.array([480.0, 500.0, 495.0, 490.0, 500.0])
    obtained = baseline * 0.5
    verdict = compare_scores(obtained, baseline, alpha=0.01, margin=0.05)
    assert verdict.kind == "regression"
    assert verdict.delta == pytest.approx(obtained.mean() - baseline.mean())
    assert verdict.ci_high < -verdict.margin_abs
    assert verdict.n == 5 and verdict.relative_delta == pytest.approx(-0.5)


def test_obvious_improvement_is_flagged():
    verdict = compare_scores([10.0, 11.0, 12.0], [1.0, 2.0, 1.5], alpha=0.01)
    assert verdict.kind == "improvement"
    assert verdict.ci_low > 0


def test_identical_data_is_no_change_with_zero_delta():
    rng = np.random.default_rng(3)
    scores = rng.normal(100, 15, size=(4, 32))
    verdict = compare_scores(scores, scores.copy(), alpha=0.01)
    assert verdict.kind == "no change"
    assert verdict.delta == 0.0
    assert verdict.ci_low < 0 < verdict.ci_high


def test_small_drop_within_margin_is_no_change():
    baseline = np.full((3, 50), 100.0) + np.random.default_rng(1).normal(0, 0.1, (3, 50))
    verdict = compare_scores(baseline - 2.0, baseline, alpha=0.01, margin=0.05)
    assert verdict.kind == "no change"  # 2% worse, certainly, but the margin is 5%
    assert verdict.ci_high < 0
    assert compare_scores(baseline - 2.0, baseline, alpha=0.01, margin=0.0).kind == "regression"


def test_negative_returns_use_absolute_margin():
    baseline = np.array([-1000.0, -1010.0, -990.0, -1005.0])
    verdict = compare_scores(baseline - 300.0, baseline, margin=0.05)
    assert verdict.margin_abs == pytest.approx(0.05 * 1001.25)
    assert verdict.kind == "regression"


def test_single_run_single_value_gives_degenerate_interval():
    verdict = compare_scores([5.0], [7.0])
    assert (verdict.ci_low, verdict.ci_high) == (-2.0, -2.0)
    assert verdict.kind == "regression"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"obtained": [], "baseline": [1.0]}, "obtained scores are empty"),
        ({"obtained": [np.nan], "baseline": [1.0]}, "NaN"),
        ({"obtained": np.zeros((2, 2, 2)), "baseline": [1.0]}, "shaped"),
        ({"obtained": [1.0], "baseline": [1.0], "alpha": 1.5}, "alpha must lie strictly between 0 and 1"),
        ({"obtained": [1.0], "baseline": [1.0], "margin": -0.1}, "margin"),
        ({"obtained": [1.0], "baseline": [1.0], "reps": 0}, "reps"),
    ],
)
def test_bad_inputs_are_refused_with_a_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        compare_scores(**kwargs)


def test_verdict_describe_names_everything():
    text = compare_scores([1.0, 1.1], [2.0, 2.1], alpha=0.05, margin=0.1, metric="final return").describe()
    for part in ("final return", "regression", "Δ", "95% CI", "margin 10%", "n=2 vs 2 seeds"):
        assert part in text


def test_exact_match_within_tolerance_and_mismatch_location():
    base = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert exact_match(base + 1e-9, base).ok
    result = exact_match(base + np.array([[0, 0], [0.5, 0]]), base)
    assert not result.ok
    assert result.worst_index == (1, 0)
    assert result.max_abs_diff == pytest.approx(0.5)
    assert "1 of 4" in result.reason
    assert not exact_match(base[:1], base).ok
    assert exact_match([np.nan, 1.0], [np.nan, 1.0]).ok
    assert not exact_match([np.nan, 1.0], [0.0, 1.0]).ok


def test_area_under_curve_is_average_level():
    assert area_under_curve([0, 10, 20], [0.0, 10.0, 10.0]) == pytest.approx(7.5)
    assert area_under_curve([5], [3.0]) == 3.0
    assert area_under_curve([0, 1], [[0.0, 2.0], [4.0, 4.0]]) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="non-decreasing"):
        auc_weights([2, 1])


@given(
    st.lists(st.integers(0, 10), min_size=1, max_size=12).map(lambda gaps: np.cumsum(gaps)),
    st.floats(-1e3, 1e3),
)
def test_auc_weights_sum_to_one_and_constant_curve_is_its_level(steps, level):
    weights = auc_weights(steps)
    assert weights.sum() == pytest.approx(1.0)
    assert np.all(weights >= 0)
    assert area_under_curve(steps, np.full(len(steps), level)) == pytest.approx(level, abs=1e-9)
