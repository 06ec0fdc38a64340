"""Statistics of the baseline check: decisions, permutation tests, sequential looks, speed
verdicts, bootstrap intervals, exact checks, curve areas. Error rates: test_stats_simulation.py."""

import dataclasses
import itertools
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from myriad_bench.harness.permutation import (
    effective_level,
    scaled_baseline,
    shift_bounds,
    smallest_p,
    split_masks,
    welch_pvalues,
)
from myriad_bench.harness.stats import (
    SequentialPlan,
    area_under_curve,
    auc_weights,
    compare_scores,
    decide,
    decide_speed,
    detectable_drop,
    exact_match,
    interval_estimate,
    look_levels,
    rate_summary,
    seeds_for,
    spent_alpha,
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


# --------------------------------------------------------------------------- permutation tests


def _welch(a: np.ndarray, b: np.ndarray) -> float:
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    return (a.mean() - b.mean()) / se


def test_exact_permutation_pvalues_match_brute_force_enumeration():
    rng = np.random.default_rng(5)
    a, b = rng.normal(0.0, 1.0, 4), rng.normal(1.0, 2.0, 5)
    pooled = np.concatenate([a, b])
    observed = _welch(a, b)
    ts = []
    for first in itertools.combinations(range(9), 4):
        mask = np.zeros(9, bool)
        mask[list(first)] = True
        ts.append(_welch(pooled[mask], pooled[~mask]))
    ts = np.array(ts)
    low, high = welch_pvalues(a, b)
    assert low == pytest.approx(np.mean(ts <= observed + 1e-12))
    assert high == pytest.approx(np.mean(ts >= observed - 1e-12))
    assert len(ts) == 126 and low * 126 == pytest.approx(round(low * 126))


def test_split_masks_put_the_observed_split_first_exact_and_sampled():
    exact = split_masks(3, 4, 100, 0)
    assert exact.shape == (35, 7) and np.all(exact.sum(axis=1) == 3)
    assert exact[0].tolist() == [True] * 3 + [False] * 4
    assert len({row.tobytes() for row in exact}) == 35
    sampled = split_masks(16, 16, 500, 3)
    assert sampled.shape == (500, 32) and np.all(sampled.sum(axis=1) == 16)
    assert sampled[0].tolist() == [True] * 16 + [False] * 16
    assert not np.array_equal(sampled, split_masks(16, 16, 500, 4))


def test_sampled_pvalues_are_seeded_and_never_below_one_over_reps():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 16), rng.normal(3, 1, 16)
    low, high = welch_pvalues(a, b, reps=1000, seed=7)
    assert low == 1 / 1000 and high == 1.0  # the observed split counts itself
    assert welch_pvalues(a, b, reps=1000, seed=7) == (low, high)
    c, d = rng.normal(0, 1, 16), rng.normal(0.3, 1, 16)
    assert welch_pvalues(c, d, reps=1000, seed=7)[0] != welch_pvalues(c, d, reps=1000, seed=8)[0]


def test_smallest_and_effective_level_follow_the_number_of_splits():
    assert smallest_p(3, 3) == pytest.approx(1 / 20)
    assert effective_level(0.01, 3, 3) == 0.0  # 3 vs 3 seeds cannot reach 1%
    assert effective_level(0.05, 3, 3) == pytest.approx(0.05)
    assert effective_level(0.01, 5, 5) == pytest.approx(2 / 252)
    assert smallest_p(16, 16, reps=4000) == 1 / 4000


def test_constant_groups_order_by_their_means_and_large_offsets_change_nothing():
    assert welch_pvalues([1.0, 1.0, 1.0], [2.0, 2.0, 2.0]) == (0.05, 1.0)
    low, high = welch_pvalues([5.0] * 4, [5.0] * 4)
    assert (low, high) == (1.0, 1.0)  # every split ties: no evidence either way
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1e-3, 6), rng.normal(5e-4, 1e-3, 6)
    assert welch_pvalues(a + 1e6, b + 1e6) == pytest.approx(welch_pvalues(a, b))


def test_batched_rows_give_the_same_pvalues_as_single_calls():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, (5, 6)), rng.normal(0.5, 1, (5, 7))
    low, high = welch_pvalues(a, b)
    for row in range(5):
        assert (low[row], high[row]) == pytest.approx(welch_pvalues(a[row], b[row]))


def test_interval_from_the_test_is_close_to_welchs_at_large_n():
    rng = np.random.default_rng(4)
    a, b = rng.normal(97.0, 10.0, 200), rng.normal(100.0, 10.0, 200)
    low, high = shift_bounds(a, b, 0.05)
    welch = scipy_stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.90)
    assert low == pytest.approx(welch.low, abs=0.15) and high == pytest.approx(welch.high, abs=0.15)
    assert shift_bounds(a[:3], b[:3], 0.01) == (-np.inf, np.inf)


# --------------------------------------------------------------------------- decisions


def test_decide_regression_improvement_no_change_inconclusive():
    rng = np.random.default_rng(10)
    base = rng.normal(400.0, 20.0, 16)
    assert decide(base * 0.7, base, alpha=0.01, margin=0.05, metric="r").kind == "regression"
    assert decide(base * 1.3, base, alpha=0.01, margin=0.05, metric="r").kind == "improvement"
    same = decide(base + rng.normal(0, 2.0, 16), base, alpha=0.01, margin=0.05, metric="r")
    assert same.kind == "no change"
    assert -same.margin_abs < same.ci_low < same.ci_high < same.margin_abs
    noisy = decide(
        rng.normal(380.0, 150.0, 4), rng.normal(400.0, 150.0, 4), alpha=0.05, margin=0.05, metric="r"
    )
    assert noisy.kind == "inconclusive"
    assert noisy.ci_low < -noisy.margin_abs and noisy.ci_high > -noisy.margin_abs


def test_verdict_reads_off_the_interval_on_every_kind_of_data():
    rng = np.random.default_rng(11)
    for trial in range(60):
        n, alpha, margin = (3, 6, 8, 12)[trial % 4], (0.05, 0.1)[trial % 2], (0.0, 0.05, 0.1)[trial % 3]
        base = np.minimum(rng.normal(470, 60, n), 500.0)
        new = np.minimum(rng.normal(470 * rng.uniform(0.6, 1.3), 60, n), 500.0)
        if trial % 5 == 0:
            base, new = -base, -new  # negative returns (pendulum-like)
        d = decide(new, base, alpha=alpha, margin=margin, metric="r")
        expected = (
            "regression"
            if d.ci_high < -d.margin_abs
            else "improvement"
            if d.ci_low > d.margin_abs
            else "no change"
            if -d.margin_abs < d.ci_low and d.ci_high < d.margin_abs
            else "inconclusive"
        )
        assert d.kind == expected, d


def test_three_seeds_at_one_percent_say_inconclusive_and_how_many_would_do():
    d = decide([250.0, 240, 260], [400.0, 410, 390], alpha=0.01, margin=0.05, metric="final return")
    assert d.kind == "inconclusive"  # 20 splits: no p-value below 0.05
    assert d.detectable_drop == np.inf and (d.ci_low, d.ci_high) == (-np.inf, np.inf)
    assert d.p_regression == pytest.approx(0.05)
    assert isinstance(d.seeds_for_20, int) and 3 < d.seeds_for_20 <= d.seeds_for_10
    assert "3 vs 3 seeds cannot reach p ≤ 0.01" in d.describe()
    assert (
        decide([250.0, 240, 260], [400.0, 410, 390], alpha=0.05, margin=0.05, metric="r").kind == "regression"
    )


def test_zero_spread_identical_is_no_change_and_different_is_decided():
    for margin in (0.0, 0.05):
        same = decide([500.0] * 3, [500.0] * 3, alpha=0.01, margin=margin, metric="r")
        assert (
            same.kind == "no change" and same.delta == 0.0 and same.basis.startswith("both groups constant")
        )
    assert decide([480.0] * 3, [500.0] * 3, alpha=0.01, margin=0.0, metric="r").kind == "regression"
    assert decide([520.0] * 8, [500.0] * 8, alpha=0.01, margin=0.0, metric="r").kind == "improvement"
    assert decide([490.0] * 3, [500.0] * 3, alpha=0.01, margin=0.05, metric="r").kind == "no change"
    one = decide([5.0], [7.0], alpha=0.01, margin=0.0, metric="r")  # one unit a side: no spread known
    assert one.kind == "inconclusive" and one.detectable_drop == np.inf
    capped = decide([500.0] * 7 + [480.0], [500.0] * 8, alpha=0.01, margin=0.0, metric="r")
    assert capped.kind == "inconclusive" and np.isfinite(capped.p_regression)


def test_lower_is_better_mirrors_higher_is_better():
    rng = np.random.default_rng(12)
    cost, base = rng.normal(130.0, 5.0, 10), rng.normal(100.0, 5.0, 10)
    up = decide(-cost, -base, alpha=0.01, margin=0.05, metric="cost")
    down = decide(cost, base, alpha=0.01, margin=0.05, metric="cost", higher_is_better=False)
    assert down.kind == up.kind == "regression"
    assert down.p_regression == up.p_regression and down.delta == pytest.approx(-up.delta)
    assert (down.ci_low, down.ci_high) == pytest.approx((-up.ci_high, -up.ci_low))
    assert down.detectable_drop == pytest.approx(up.detectable_drop)
    assert "sees rises" in down.describe()
    assert (
        decide(base, cost, alpha=0.01, margin=0.05, metric="c", higher_is_better=False).kind == "improvement"
    )


def test_margin_is_relative_to_the_absolute_baseline_mean():
    base = np.full(8, 100.0) + np.random.default_rng(1).normal(0, 0.1, 8)
    assert decide(base - 2.0, base, alpha=0.01, margin=0.05, metric="r").kind == "no change"
    assert decide(base - 2.0, base, alpha=0.01, margin=0.0, metric="r").kind == "regression"
    negative = np.array([-1000.0, -1010.0, -990.0, -1005.0, -995.0, -1002.0, -998.0, -1000.0])
    d = decide(negative - 300.0, negative, alpha=0.01, margin=0.05, metric="r")
    assert d.kind == "regression" and d.margin_abs == pytest.approx(0.05 * 1000.0)
    assert d.relative_delta == pytest.approx(-0.3)


def test_decisions_are_seeded_and_plain_json():
    rng = np.random.default_rng(13)
    a, b = rng.normal(0.9, 0.2, 12), rng.normal(1.0, 0.2, 14)
    first = decide(a, b, alpha=0.05, margin=0.05, metric="auc", seed=3)
    assert decide(a, b, alpha=0.05, margin=0.05, metric="auc", seed=3) == first
    assert "random splits (seed 3)" in first.basis
    fields = dataclasses.asdict(first)
    assert json.loads(json.dumps(fields)) == fields
    assert all(type(value) in (str, int, float, bool, type(None)) for value in fields.values())


def test_detectable_drop_and_seeds_for_agree_with_each_other():
    kwargs = {"alpha": 0.01, "margin": 0.05, "scale": 300.0}
    drops = [detectable_drop(60.0, n, n, **kwargs) for n in (4, 5, 8, 16, 64)]
    assert drops[0] == np.inf and all(a > b for a, b in itertools.pairwise(drops[1:]))
    assert detectable_drop(0.0, 8, 8, **kwargs) == pytest.approx(0.05)
    for drop in (0.1, 0.2):
        n = seeds_for(drop, 60.0, **kwargs)
        assert detectable_drop(60.0, n, n, **kwargs) <= drop < detectable_drop(60.0, n - 1, n - 1, **kwargs)
    assert seeds_for(0.05, 60.0, **kwargs) is None  # the margin alone is that large
    assert seeds_for(0.2, 60.0, alpha=0.01, margin=0.05, scale=0.0) is None


def test_decision_describe_reads_like_the_summary_line():
    rng = np.random.default_rng(14)
    d = decide(rng.normal(412, 60, 8), rng.normal(430, 60, 8), alpha=0.01, margin=0.05, metric="final return")
    text = d.describe()
    assert text.startswith(f"final return: {d.kind}: mean ")
    for part in ("vs baseline", "Δ", "98% CI", "margin ±5%", "n=8 vs 8 seeds", "sees drops ≥"):
        assert part in text
    assert f"{d.seeds_for_10} seeds would see 10%" in text or f"{d.seeds_for_10} would see 10%" in text
    episodes = decide([1.0, 2.0, 3.0], [1.5, 2.5, 3.5], alpha=0.05, margin=0.0, metric="r", unit="episodes")
    assert "n=3 vs 3 episodes" in episodes.describe()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"obtained": [], "baseline": [1.0]}, "obtained scores must be a non-empty 1-D"),
        ({"obtained": [[1.0, 2.0]], "baseline": [1.0]}, "1-D"),
        ({"obtained": [1.0], "baseline": [np.inf]}, "baseline scores contain NaN or infinite"),
        ({"alpha": 0.5}, "alpha must lie strictly between 0 and 0.5"),
        ({"margin": -0.1}, "margin must be a finite fraction"),
        ({"reps": 0}, "reps must be a positive integer"),
    ],
)
def test_decide_refuses_bad_inputs_by_name(kwargs, message):
    call = {"obtained": [1.0, 2.0], "baseline": [1.0, 2.0], "alpha": 0.05, "margin": 0.0, "metric": "r"}
    with pytest.raises(ValueError, match=message):
        decide(**{**call, **kwargs})


# --------------------------------------------------------------------------- sequential looks


def test_look_levels_spend_alpha_pocock_style():
    levels = look_levels(0.05, [8, 16, 24, 32], 32)
    assert sum(levels) == pytest.approx(0.05)
    assert levels[0] == pytest.approx(0.05 * np.log(1 + (np.e - 1) / 4))  # 36% of alpha at t = 1/4
    assert all(a > b for a, b in itertools.pairwise(levels))
    assert sum(look_levels(0.01, [3, 6], 32)) == pytest.approx(spent_alpha(0.01, 6 / 32))
    with pytest.raises(ValueError, match="increasing"):
        look_levels(0.05, [8, 8], 32)


def test_sequential_plan_looks_in_batches_and_stops_on_a_verdict():
    plan = SequentialPlan(alpha=0.01, max_units=32, first=8, baseline_units=32)
    assert [look.units for look in plan.looks] == [8, 16, 24, 32]
    assert sum(look.level for look in plan.looks) == pytest.approx(0.01)
    assert plan.look_at(8).level == pytest.approx(look_levels(0.01, [8], 32)[0])
    assert plan.look_at(9) is None
    assert plan.next_batch(8, "inconclusive") == 8
    assert plan.next_batch(8, "regression") == 0 and plan.next_batch(16, "no change") == 0
    assert plan.next_batch(32, "inconclusive") == 0
    odd = SequentialPlan(alpha=0.01, max_units=20, first=6, batch=5)
    assert [look.units for look in odd.looks] == [6, 11, 16, 20]


def test_sequential_plan_skips_looks_that_cannot_reject_and_carries_their_alpha():
    plan = SequentialPlan(alpha=0.01, max_units=12, first=3, baseline_units=3)
    units = [look.units for look in plan.looks]
    assert 3 not in units  # 3 vs 3 at ~0.003: no p-value that small
    assert sum(look.level for look in plan.looks) == pytest.approx(0.01)
    assert plan.next_batch(3, None) == units[0] - 3
    for look in plan.looks[:-1]:
        assert effective_level(look.level, look.units, 3) > 0


# --------------------------------------------------------------------------- speed


def test_rate_summary_is_median_and_relative_iqr():
    assert rate_summary([90.0, 100.0, 110.0]) == (100.0, pytest.approx(0.1))
    assert rate_summary([5.0]) == (5.0, 0.0)
    with pytest.raises(ValueError, match="finite and positive"):
        rate_summary([1.0, -1.0])


def test_speed_verdicts_need_margin_and_noise_both():
    base = [100.0, 101.0, 99.0, 100.5, 99.5]
    slower = decide_speed([70.0, 71.0, 69.0, 70.4, 69.6], base, margin=0.15)
    assert slower.verdict == "slower" and slower.ratio == pytest.approx(0.7, abs=0.01)
    assert slower.basis == "Mann–Whitney U (exact)" and slower.p_value <= 0.01
    assert decide_speed([130.0, 131.0, 129.0, 130.4, 129.6], base, margin=0.15).verdict == "faster"
    within = decide_speed([90.0, 90.5, 89.5, 90.2, 89.8], base, margin=0.15)
    assert within.verdict == "no change"  # 10% slower, clearly, but inside the margin
    noisy = decide_speed([40.0, 150.0, 60.0, 120.0, 70.0], base, margin=0.15)
    assert noisy.verdict == "no change" and noisy.ratio < 0.85  # beyond the margin, not the noise
    text = slower.describe()
    for part in ("slower", "70", "baseline 100", "×0.7", "5 vs 5 rounds", "Mann–Whitney"):
        assert part in text


def test_speed_with_few_rounds_says_which_rule_decided():
    one = decide_speed([70.0], [100.0, 101.0, 99.0], margin=0.15)
    assert one.verdict == "slower" and one.p_value <= 0.01 and "prediction interval" in one.basis
    # One round 25% slower, but the baseline's own rounds vary that much: not a verdict.
    noisy = decide_speed([75.0], [100.0, 70.0, 130.0, 90.0, 115.0], margin=0.15)
    assert noisy.verdict == "no change" and noisy.p_value > 0.01
    # The mirror: many rounds against a one-round baseline use the run's spread.
    assert decide_speed([70.0, 71.0, 69.0], [100.0], margin=0.15).verdict == "slower"
    single = decide_speed([80.0], [100.0], margin=0.15)
    assert single.verdict == "slower" and single.p_value is None and "one round each" in single.basis
    assert decide_speed([90.0], [100.0], margin=0.15).verdict == "no change"
    three = decide_speed([70.0, 71.0, 69.5], [100.0, 101.0, 99.0], margin=0.15)
    assert three.verdict == "slower" and three.basis.startswith("Welch's t on log rates")
    flat = decide_speed([70.0, 70.0], [100.0, 100.0], margin=0.15)
    assert flat.verdict == "slower" and "no spread" in flat.basis
    with pytest.raises(ValueError, match="margin must lie in"):
        decide_speed([1.0], [1.0], margin=1.0)


def test_baseline_mean_near_zero_still_gives_a_finite_interval():
    """A ratio to a mean indistinguishable from 0 is unbounded (Fieller); the change becomes a shift."""
    rng = np.random.default_rng(15)
    base, new = rng.normal(0.5, 10.0, 16), rng.normal(-5.0, 10.0, 16)
    d = decide(new, base, alpha=0.01, margin=0.05, metric="r")
    assert np.isfinite(d.ci_low) and np.isfinite(d.ci_high) and d.ci_low < d.delta < d.ci_high
    far = scaled_baseline(np.array([100.0, 102.0, 98.0]), -10.0)
    assert far == pytest.approx(np.array([90.0, 91.8, 88.2]))  # 10 of 100: scaled by 0.9
    near = scaled_baseline(np.array([1.0, -1.0, 0.5]), -10.0)
    assert near == pytest.approx(np.array([-9.0, -11.0, -9.5]))
