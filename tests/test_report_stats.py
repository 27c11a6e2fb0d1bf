"""modgen.report.stats: the minimum detectable effect, TOST verdicts and the hierarchical bootstrap,
each against a known answer (a textbook value, a simulation, a hand computation, the t interval)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from modgen.errors import DataError
from modgen.report.stats import (
    hierarchical_difference,
    minimum_detectable_effect,
    paired_difference,
    tost_p_value,
)


def test_mde_matches_the_textbook_paired_t_value() -> None:
    # Cohen's d_z of a paired t-test, n = 10, two-sided alpha 0.05, power 0.8: 0.9959 (G*Power);
    # with sd = 1 the MDE is d_z itself.
    assert minimum_detectable_effect(1 / math.sqrt(10), 9) == pytest.approx(0.9959, abs=5e-4)


def test_mde_approaches_the_normal_approximation_for_many_seeds() -> None:
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)  # 2.8016
    assert minimum_detectable_effect(1.0, 100_000) == pytest.approx(z, abs=1e-3)
    assert minimum_detectable_effect(1.0, 9) > z  # few seeds: the t tails make it larger


def test_mde_is_detected_80_percent_of_the_time_in_a_simulation() -> None:
    n, sd, reps = 8, 15.0, 20_000
    delta = minimum_detectable_effect(sd / math.sqrt(n), n - 1)
    d = np.random.default_rng(0).normal(delta, sd, size=(reps, n))
    t = d.mean(1) / (d.std(1, ddof=1) / math.sqrt(n))
    detected = np.mean(np.abs(t) > stats.t.ppf(0.975, n - 1))
    assert detected == pytest.approx(0.80, abs=0.01)


def test_mde_of_a_paired_difference_uses_its_sd_and_n() -> None:
    d = paired_difference([1.0, 3.0, 2.0, 6.0, 4.0], [0.0] * 5)
    assert d.se == pytest.approx(d.std / math.sqrt(5))
    assert d.df == 4
    assert d.mde() == pytest.approx(minimum_detectable_effect(d.std / math.sqrt(5), 4))
    assert minimum_detectable_effect(0.0, 4) == 0.0


def test_mde_rejects_a_bad_df_and_power() -> None:
    with pytest.raises(DataError, match="df must be an integer >= 1"):
        minimum_detectable_effect(1.0, 0)
    with pytest.raises(DataError, match="must be in \\(0, 1\\)"):
        minimum_detectable_effect(1.0, 5, power=1.0)


def test_tost_p_value_by_hand() -> None:
    # mean 0.5, se 1, df 9, margin 3: t_low = 3.5, t_high = -2.5; p = max(sf(3.5), cdf(-2.5))
    assert tost_p_value(0.5, 1.0, 9, 3.0) == pytest.approx(stats.t.cdf(-2.5, 9))
    assert 0.01 < tost_p_value(0.5, 1.0, 9, 3.0) < 0.025  # t table: t_.975,9 = 2.262, t_.99,9 = 2.821


def test_tost_agrees_with_the_90_percent_interval() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        n = int(rng.integers(3, 12))
        a = rng.normal(rng.normal(0, 1.5), rng.uniform(0.5, 3), n)
        d = paired_difference(a, np.zeros(n))
        p = tost_p_value(d.mean, d.se, d.df, 3.0)
        assert d.equivalent(3.0) == (p < 0.05)


def test_the_three_verdicts() -> None:
    assert paired_difference([5.0, 6.0, 7.0, 6.0], [0.0] * 4).verdict(3.0) == "difference"
    assert paired_difference([0.2, -0.1, 0.1, 0.0, -0.2], [0.0] * 5).verdict(3.0) == "equivalent within ±3"
    noisy = paired_difference([10.0, -12.0, 8.0, -5.0], [0.0] * 4)
    assert noisy.verdict(3.0) == f"inconclusive at MDE {noisy.mde():.1f}"
    assert noisy.verdict(50.0) == "equivalent within ±50"
    with pytest.raises(DataError, match="margin must be > 0"):
        noisy.verdict(0.0)


def test_hierarchical_bootstrap_with_one_split_is_close_to_the_t_interval() -> None:
    a = np.random.default_rng(1).normal(2.0, 4.0, 30)
    t = paired_difference(a, np.zeros(30))
    boot = hierarchical_difference(a, np.zeros(30), [0] * 30, seed=0)
    assert boot.mean == pytest.approx(t.mean)
    assert boot.splits == 1 and boot.df == 29
    assert boot.low == pytest.approx(t.low, abs=0.15 * (t.high - t.low))
    assert boot.high == pytest.approx(t.high, abs=0.15 * (t.high - t.low))
    assert boot.se == pytest.approx(t.se, rel=0.1)


def test_hierarchical_bootstrap_includes_the_variation_between_splits() -> None:
    rng = np.random.default_rng(2)
    offsets = [-6.0, 0.0, 6.0, 2.0, -3.0]  # splits disagree far more than seeds do
    d = np.concatenate([rng.normal(o, 0.5, 6) for o in offsets])
    labels = np.repeat(np.arange(5), 6)
    pooled = paired_difference(d, np.zeros(d.size))
    blocked = hierarchical_difference(d, np.zeros(d.size), labels, seed=0)
    assert blocked.splits == 5 and blocked.df == 4 and blocked.n == 30
    assert blocked.high - blocked.low > 1.5 * (pooled.high - pooled.low)
    assert blocked.mde() > pooled.mde()


def test_hierarchical_bootstrap_is_deterministic_for_a_seed() -> None:
    args = ([1.0, 2.0, 4.0, 3.0, 0.0, 1.0], [0.0] * 6, ["s0", "s0", "s0", "s1", "s1", "s1"])
    assert hierarchical_difference(*args, seed=4) == hierarchical_difference(*args, seed=4)
    assert hierarchical_difference(*args, seed=4) != hierarchical_difference(*args, seed=5)


def test_hierarchical_bootstrap_weighs_splits_equally() -> None:
    d = hierarchical_difference([1.0, 1.0, 1.0, 1.0, 5.0], [0.0] * 5, [0, 0, 0, 0, 1], seed=0)
    assert d.mean == pytest.approx(3.0)


def test_hierarchical_bootstrap_rejects_bad_input() -> None:
    with pytest.raises(DataError, match="every pair needs one split label"):
        hierarchical_difference([1.0, 2.0], [0.0, 0.0], [0])
    with pytest.raises(DataError, match="at least 2 pairs"):
        hierarchical_difference([1.0], [0.0], [0])
