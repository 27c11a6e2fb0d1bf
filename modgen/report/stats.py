"""Statistics for comparing recipes: paired differences over seeds with their interval.

Two recipes run with the same seeds see the same tasks and noise (paired random streams, see
:func:`modgen.train.base.stream_seeds`), so their difference is judged seed by seed: the mean
of the per-seed differences and its two-sided Student-t interval. A difference counts when the
interval excludes zero.

Example:
    >>> d = paired_difference([70.0, 65.0, 68.0, 69.0], [60.0, 58.0, 59.0, 61.0])
    >>> round(d.mean, 2), d.n, d.excludes_zero
    (8.5, 4, True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from attrs import frozen

from modgen.errors import DataError

__all__ = ["PairedDifference", "paired_difference"]


@frozen
class PairedDifference:
    """``mean(a_i - b_i)`` over ``n`` paired seeds, with its ``level`` confidence interval.

    Attributes:
        mean, std: mean and sample standard deviation of the per-seed differences.
        low, high: the two-sided Student-t interval of the mean.
        n: the number of pairs.
        level: the interval's confidence level.
    """

    mean: float
    std: float
    low: float
    high: float
    n: int
    level: float = 0.95

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies entirely above or below zero."""
        return bool(self.low > 0 or self.high < 0)

    def __str__(self) -> str:
        pct = int(round(100 * self.level))
        return f"{self.mean:+.1f} [{self.low:+.1f}, {self.high:+.1f}] ({pct}% CI, n={self.n})"


def paired_difference(a: Sequence[float], b: Sequence[float], *, level: float = 0.95) -> PairedDifference:
    """The paired difference ``a - b`` over seeds (``a[i]`` and ``b[i]`` share seed ``i``).

    Raises:
        DataError: the sequences differ in length or hold fewer than 2 pairs.
    """
    from scipy import stats

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise DataError(f"paired_difference: {x.size} and {y.size} values; pairs need the same seeds")
    if x.size < 2:
        raise DataError(f"paired_difference: needs at least 2 paired seeds, got {x.size}")
    d = x - y
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, d.size - 1)) * sd / np.sqrt(d.size)
    return PairedDifference(mean, sd, mean - half, mean + half, int(d.size), level)
