"""Sharded sweeps: grids of runs any scheduler can fan out (:mod:`~modgen.sweeps.grid`), run one
shard at a time (:mod:`~modgen.sweeps.runner`), collected into one table
(:mod:`~modgen.sweeps.collect`).

Example:
    >>> from modgen.plugins import get_registries
    >>> grid = grid_from_dict({"recipes": ["amaz", "zsml"], "seeds": [0, 1, 2]})
    >>> points = expand_grid(grid, get_registries(entry_points=False))
    >>> len(points), sum(len(shard_points(points, i, 3)) for i in range(3))
    (6, 6)
"""

from __future__ import annotations

from modgen.sweeps.collect import RunGroup, collect_runs, collect_sweep, settings_of, write_collected
from modgen.sweeps.grid import (
    GRID_KEYS,
    SweepGrid,
    SweepPoint,
    expand_grid,
    grid_from_dict,
    load_grid,
    parse_shard,
    shard_points,
)
from modgen.sweeps.runner import SweepReport, is_finished, run_sweep, write_plan

__all__ = [
    "GRID_KEYS",
    "RunGroup",
    "SweepGrid",
    "SweepPoint",
    "SweepReport",
    "collect_runs",
    "collect_sweep",
    "expand_grid",
    "grid_from_dict",
    "is_finished",
    "load_grid",
    "parse_shard",
    "run_sweep",
    "settings_of",
    "shard_points",
    "write_collected",
    "write_plan",
]
