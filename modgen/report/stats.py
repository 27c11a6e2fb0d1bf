"""Statistics for comparing recipes: paired differences over seeds, their interval, their power.

Two recipes run with the same seeds see the same tasks and noise (paired random streams, see
:func:`modgen.train.base.stream_seeds`), so their difference is judged seed by seed: the mean
of the per-seed differences and its two-sided Student-t interval. A difference counts when the
interval excludes zero.

Beside the interval, every comparison carries what it could have seen:

* **The minimum detectable effect** (:func:`minimum_detectable_effect`): the true difference a
  two-sided paired t-test at ``alpha`` (0.05) detects with probability ``power`` (80%), given
  the standard error and degrees of freedom observed. It is solved exactly on scipy's
  noncentral t distribution (no normal approximation), with the *observed* paired SD put in
  for the true one, so it is itself an estimate.
* **Equivalence** by two one-sided tests (TOST, Schuirmann 1987) at a stated margin ``m``: the
  difference is declared within ``±m`` when both one-sided tests reject at ``alpha``, which is
  the same as the ``1 - 2 alpha`` (90%) interval lying inside ``(-m, m)``.
* **A verdict** (:meth:`PairedDifference.verdict`): ``"difference"`` when the 95% interval
  excludes zero, ``"equivalent within ±m"`` when TOST holds, otherwise ``"inconclusive at MDE
  x"``: no effect was seen, and none smaller than ``x`` could have been.

For designs of several class splits, each with several seeds (split x seed),
:func:`hierarchical_difference` blocks the paired differences by split and resamples at both
levels, so its interval includes the variation between splits.

Example:
    >>> d = paired_difference([70.0, 65.0, 68.0, 69.0], [60.0, 58.0, 59.0, 61.0])
    >>> round(d.mean, 2), d.n, d.excludes_zero
    (8.5, 4, True)
    >>> d.verdict(3.0)
    'difference'
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np
from attrs import frozen

from modgen.errors import DataError

__all__ = [
    "PairedDifference",
    "paired_difference",
    "hierarchical_difference",
    "minimum_detectable_effect",
    "tost_p_value",
    "DEFAULT_MARGIN",
    "DEFAULT_POWER",
    "DEFAULT_RESAMPLES",
]

#: The equivalence margin (points) used when none is given: the paper's effect sizes are 2-5.
DEFAULT_MARGIN = 3.0
#: The power the minimum detectable effect is stated at.
DEFAULT_POWER = 0.8
#: Bootstrap resamples of :func:`hierarchical_difference`.
DEFAULT_RESAMPLES = 10_000


@frozen
class PairedDifference:
    """``mean(a_i - b_i)`` over ``n`` paired seeds, with its ``level`` confidence interval.

    Attributes:
        mean, std: mean and sample standard deviation of the per-seed differences.
        low, high: the two-sided ``level`` interval of the mean.
        n: the number of pairs (over all splits).
        level: the interval's confidence level.
        splits: the number of class splits the pairs come from.
        se: the standard error of ``mean`` (Student-t: ``std / sqrt(n)``; bootstrap: the
            standard deviation of the resampled means).
        df: the degrees of freedom of the t distributions of the MDE and of TOST
            (``n - 1`` for one split, ``splits - 1`` for several).
        equivalence_low, equivalence_high: the ``1 - 2 * (1 - level) / 2`` interval TOST reads
            (90% for a 95% ``level``), the same kind as ``low``/``high``.
        method: ``"student-t"`` or ``"hierarchical bootstrap"``.
    """

    mean: float
    std: float
    low: float
    high: float
    n: int
    level: float = 0.95
    splits: int = 1
    se: float = math.nan
    df: int = 0
    equivalence_low: float = math.nan
    equivalence_high: float = math.nan
    method: str = "student-t"

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies entirely above or below zero."""
        return bool(self.low > 0 or self.high < 0)

    @property
    def alpha(self) -> float:
        """The two-sided test level of the interval: ``1 - level``."""
        return 1.0 - self.level

    def mde(self, power: float = DEFAULT_POWER) -> float:
        """The minimum detectable effect at ``power`` (:func:`minimum_detectable_effect`)."""
        return minimum_detectable_effect(self.se, self.df, alpha=self.alpha, power=power)

    def equivalent(self, margin: float = DEFAULT_MARGIN) -> bool:
        """TOST at ``alpha``: whether the equivalence interval lies inside ``(-margin, margin)``
        (both one-sided tests reject at ``alpha``).

        Raises:
            DataError: ``margin`` is not positive.
        """
        if not margin > 0:
            raise DataError(f"equivalence margin must be > 0, got {margin!r}")
        return bool(-margin < self.equivalence_low and self.equivalence_high < margin)

    def verdict(self, margin: float = DEFAULT_MARGIN, power: float = DEFAULT_POWER) -> str:
        """``"difference"``, ``"equivalent within ±m"`` or ``"inconclusive at MDE x"`` (module doc).

        Example:
            >>> paired_difference([0.1, -0.2, 0.0, 0.1, -0.1], [0.0] * 5).verdict(3.0)
            'equivalent within ±3'
        """
        if self.excludes_zero:
            return "difference"
        if self.equivalent(margin):
            return f"equivalent within ±{margin:g}"
        return f"inconclusive at MDE {self.mde(power):.1f}"

    def __str__(self) -> str:
        pct = int(round(100 * self.level))
        return f"{self.mean:+.1f} [{self.low:+.1f}, {self.high:+.1f}] ({pct}% CI, n={self.n})"


def _t_quantile(q: float, df: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(q, df))


def minimum_detectable_effect(
    se: float, df: int, *, alpha: float = 0.05, power: float = DEFAULT_POWER
) -> float:
    """The smallest true difference a two-sided t-test at ``alpha`` detects with ``power``.

    With ``T ~ t(df)`` under no difference and ``T' ~ nct(df, delta / se)`` under a difference
    ``delta``, the test rejects when ``|T| > t_{1 - alpha/2}``; the MDE is the ``delta`` at which
    ``P(|T'| > t_{1 - alpha/2}) = power``, solved with scipy's noncentral t (exact, not the
    normal approximation ``(z_{1-alpha/2} + z_power) * se``, which it approaches for large
    ``df``). For a paired design ``se = sd / sqrt(n)`` and ``df = n - 1``.

    Args:
        se: the standard error of the mean difference.
        df: its degrees of freedom (>= 1).
        alpha: the two-sided test level.
        power: the probability of detection.

    Returns:
        The MDE in the units of ``se`` (``0`` when ``se`` is 0; ``nan`` when ``se`` is nan).

    Raises:
        DataError: ``df < 1``, or ``alpha`` or ``power`` outside ``(0, 1)``.

    Example:
        >>> round(minimum_detectable_effect(1 / 10**0.5, 9), 3)  # n = 10, sd = 1: Cohen's d
        0.996
    """
    from scipy import optimize, stats

    if isinstance(df, bool) or not isinstance(df, (int, np.integer)) or df < 1:
        raise DataError(f"minimum_detectable_effect: df must be an integer >= 1, got {df!r}")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise DataError(f"minimum_detectable_effect: alpha={alpha!r} and power={power!r} must be in (0, 1)")
    if math.isnan(se):
        return math.nan
    if se <= 0:
        return 0.0
    crit = _t_quantile(1 - alpha / 2, int(df))

    def gap(nc: float) -> float:
        # the lower tail vanishes for a large noncentrality, where scipy may return nan for it
        lower = float(np.nan_to_num(stats.nct.cdf(-crit, df, nc)))
        return float(stats.nct.sf(crit, df, nc)) + lower - power

    high = crit + float(stats.norm.ppf(power)) + 1.0
    while gap(high) < 0:
        high *= 2
    return float(optimize.brentq(gap, 0.0, high, xtol=1e-10)) * float(se)


def tost_p_value(mean: float, se: float, df: int, margin: float) -> float:
    """The TOST p-value of ``|difference| < margin``: the larger of the two one-sided p-values.

    ``p_low = P(T > (mean + margin) / se)`` tests ``difference <= -margin``, ``p_high =
    P(T < (mean - margin) / se)`` tests ``difference >= margin``, ``T ~ t(df)``. Equivalence at
    ``alpha`` (``p < alpha``) is the same as the ``1 - 2 alpha`` t interval inside ``(-m, m)``.

    Example:
        >>> round(tost_p_value(0.5, 1.0, 9, 3.0), 4)  # t.cdf(-2.5, 9)
        0.0169
    """
    from scipy import stats

    if se <= 0:
        return 0.0 if abs(mean) < margin else 1.0
    p_low = float(stats.t.sf((mean + margin) / se, df))
    p_high = float(stats.t.cdf((mean - margin) / se, df))
    return max(p_low, p_high)


def paired_difference(a: Sequence[float], b: Sequence[float], *, level: float = 0.95) -> PairedDifference:
    """The paired difference ``a - b`` over seeds (``a[i]`` and ``b[i]`` share seed ``i``).

    The ``level`` Student-t interval; ``se = std / sqrt(n)``, ``df = n - 1``.

    Raises:
        DataError: the sequences differ in length or hold fewer than 2 pairs.
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise DataError(f"paired_difference: {x.size} and {y.size} values; pairs need the same seeds")
    if x.size < 2:
        raise DataError(f"paired_difference: needs at least 2 paired seeds, got {x.size}")
    d = x - y
    mean, sd, df = float(d.mean()), float(d.std(ddof=1)), int(d.size - 1)
    se = sd / math.sqrt(d.size)
    alpha = 1.0 - level
    half = _t_quantile(1 - alpha / 2, df) * se
    half_eq = _t_quantile(1 - alpha, df) * se
    return PairedDifference(
        mean, sd, mean - half, mean + half, int(d.size), level, 1, se, df, mean - half_eq, mean + half_eq
    )


def hierarchical_difference(
    a: Sequence[float],
    b: Sequence[float],
    splits: Sequence[Hashable],
    *,
    level: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> PairedDifference:
    """The paired difference ``a - b`` of a (split x seed) design, by a two-level bootstrap.

    ``a[i]`` and ``b[i]`` share a seed and the class split ``splits[i]``. The estimate is the
    mean over splits of each split's mean paired difference (every split weighs the same). Its
    interval is a **hierarchical (two-level) percentile bootstrap** (Davison & Hinkley 1997,
    section 3.8): each of ``resamples`` replicates draws the splits with replacement, then,
    within each drawn split, that split's seeds with replacement, and takes the mean of the
    drawn splits' means. The variation between splits thus enters the interval, which a seed
    interval pooled over splits would leave out. ``low``/``high`` are the replicates'
    ``level`` percentile interval, ``equivalence_low``/``_high`` their ``1 - 2 (1 - level)``
    interval (for TOST), ``se`` their standard deviation and ``df = splits - 1`` (``n - 1`` with
    one split, where this reduces to the plain bootstrap of the mean, a little narrower than the
    t interval for few seeds). Deterministic for a ``seed``.

    Args:
        a, b: the paired values.
        splits: the split of each pair (any hashable labels).
        level: the interval's confidence level.
        resamples: bootstrap replicates.
        seed: the bootstrap's seed (a ``numpy.random.Generator`` is made from it).

    Raises:
        DataError: lengths differ, or a split holds fewer than 1 pair, or there are fewer than 2
            pairs in all.

    Example:
        >>> d = hierarchical_difference([3, 4, 5, 1, 2, 2], [0] * 6, [0, 0, 0, 1, 1, 1], seed=0)
        >>> round(d.mean, 3), d.splits, d.n, d.df
        (2.833, 2, 6, 1)
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    labels = list(splits)
    if x.shape != y.shape or x.ndim != 1 or len(labels) != x.size:
        raise DataError(
            f"hierarchical_difference: {x.size} and {y.size} values with {len(labels)} split labels; "
            "every pair needs one split label"
        )
    if x.size < 2:
        raise DataError(f"hierarchical_difference: needs at least 2 pairs, got {x.size}")
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 100:
        raise DataError(f"hierarchical_difference: resamples must be an integer >= 100, got {resamples!r}")
    d = x - y
    groups = [d[[i for i, s in enumerate(labels) if s == key]] for key in dict.fromkeys(labels)]
    S = len(groups)
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, S, size=(resamples, S))
    # resampled means of every split at every (replicate, slot), then the drawn split's
    means = np.empty((S, resamples, S))
    for g, values in enumerate(groups):
        means[g] = values[rng.integers(0, values.size, size=(resamples, S, values.size))].mean(-1)
    boot = np.take_along_axis(means, drawn[None], axis=0)[0].mean(-1)
    alpha = 1.0 - level
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    eq_low, eq_high = np.quantile(boot, [alpha, 1 - alpha])
    mean = float(np.mean([g.mean() for g in groups]))
    return PairedDifference(
        mean=mean,
        std=float(d.std(ddof=1)),
        low=float(low),
        high=float(high),
        n=int(d.size),
        level=level,
        splits=S,
        se=float(boot.std(ddof=1)),
        df=S - 1 if S > 1 else int(d.size - 1),
        equivalence_low=float(eq_low),
        equivalence_high=float(eq_high),
        method="hierarchical bootstrap",
    )
