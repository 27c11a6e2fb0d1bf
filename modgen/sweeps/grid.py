"""Sharded sweeps: a grid of independent runs that any scheduler can fan out, and one table.

A grid file (TOML) names the axes; every combination is one run (a *point*)::

    recipes = ["amaz", "zsml"]                  # registered recipes (required)
    datasets = ["digits"]                       # digits, fashion-mnist, AWA1/AWA2/CUB/SUN/APY
    classifiers = ["softmax", "weighted-softmax"]  # evaluated in every run, one table row each
    seeds = [0, 1, 2]                           # run.seed; the table averages over them
    sigma = [1.0]                               # evaluation.sigma_test (the Fig. 7 axis)
    samples = [100]                             # evaluation.zsl_samples (the Fig. 8 axis)
    set = ["trainer.episodes=200"]              # fixed --set overrides of every run
    data_root = "/data/xlsa17"                  # folder holding AWA2/, CUB/, ... (xlsa17 only)

The points are ``recipes x datasets x seeds x sigma x samples``; the classifiers are not an
axis of *runs* but of the *table*: one trained generator feeds every final classifier (they are
all trained on the same synthetic features), so each run evaluates them all. Leaving
``classifiers``, ``sigma`` or ``samples`` out keeps the recipe's own values.

**Ids.** Each point's id is :func:`modgen.pipeline.spec_id` of its fully resolved spec (the
machine-dependent run settings and ``data.root`` left out): the same
point has the same id on every machine and in every later, larger grid.

**Sharding.** Points that differ only in evaluation settings (``sigma``, ``samples``) share one
trained model (the *training id*: the hash without the evaluation section). The distinct
training ids, sorted, are dealt round-robin to ``n`` shards (``--shard i/n``, ``i`` from 0), and
each point goes with its model, so every point is run by exactly one shard and no model is
trained twice. With a single sigma and sample count, that is round-robin over the sorted point
ids.

**Restarts.** A point whose ``runs/<id>/results.json`` exists is finished and skipped, so a
killed shard started again repeats nothing it had finished; an unfinished model resumes from
its last checkpoint. Results are written to a temporary file and renamed, so ``results.json``
is never half-written.

Layout of a sweep folder::

    DIR/grid.toml                 the grid (copied by every shard)
    DIR/plan.json                 every point id of the grid, with its shard
    DIR/models/<train-id>/        a training run folder (config without evaluation settings,
                                  metrics, checkpoints, summary)
    DIR/runs/<id>/point.json      the point: recipe, dataset, seed, sigma, samples, ids
    DIR/runs/<id>/config.toml     its resolved spec
    DIR/runs/<id>/results.json    its evaluation (results.md alongside); error.json if it failed
    DIR/sweep-results.json/.md    ``modgen sweep collect DIR`` (or ``modgen compare DIR``): mean ± std over seeds

Example:
    >>> from modgen.plugins import get_registries
    >>> grid = grid_from_dict({"recipes": ["amaz", "zsml"], "seeds": [0, 1, 2]})
    >>> points = expand_grid(grid, get_registries(entry_points=False))
    >>> len(points), sorted({p.recipe for p in points})
    (6, ['amaz', 'zsml'])
    >>> sum(len(shard_points(points, i, 3)) for i in range(3))
    6
"""

from __future__ import annotations

import itertools
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import evolve, field, frozen

from modgen.config import read_toml_text
from modgen.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:
    from modgen.config import RecipeSpec
    from modgen.registry import Registries

__all__ = [
    "GRID_KEYS",
    "SweepGrid",
    "SweepPoint",
    "load_grid",
    "grid_from_dict",
    "expand_grid",
    "parse_shard",
    "shard_points",
    "shard_of",
    "training_spec",
]

#: The keys a grid file may hold, with what each expects.
GRID_KEYS: dict[str, str] = {
    "recipes": "a non-empty list of registered recipe names",
    "datasets": "a non-empty list of data set names (digits, fashion-mnist, AWA1, AWA2, CUB, SUN, APY)",
    "classifiers": "a non-empty list of registered final classifiers",
    "seeds": "a non-empty list of integers >= 0",
    "sigma": "a non-empty list of numbers >= 0 (evaluation.sigma_test)",
    "samples": "a non-empty list of integers >= 1 (evaluation.zsl_samples)",
    "set": "a list of key=value overrides, as for --set",
    "data_root": "a folder holding the xlsa17 data sets (AWA2/, CUB/, ...)",
}


# ----------------------------------------------------------------------------------------------
# the grid


@frozen
class SweepGrid:
    """The axes of a sweep (see the module docstring for the file format).

    Attributes:
        recipes: registered recipe names.
        datasets: data set names.
        classifiers: final classifiers every run evaluates (empty: the recipe's own).
        seeds: training seeds.
        sigma: values of ``evaluation.sigma_test`` (empty: the recipe's own).
        samples: values of ``evaluation.zsl_samples`` (empty: the recipe's own).
        overrides: ``key=value`` overrides applied to every run.
        data_root: the folder of the xlsa17 data sets, or ``""``.
        source: where the grid came from (named in errors).
    """

    recipes: tuple[str, ...]
    datasets: tuple[str, ...] = ("digits",)
    classifiers: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0,)
    sigma: tuple[float, ...] = ()
    samples: tuple[int, ...] = ()
    overrides: tuple[str, ...] = ()
    data_root: str = ""
    source: str = field(default="<grid>", eq=False)


def _bad(source: str, key: str, value: Any) -> ConfigError:
    return ConfigError(f"{source}: key {key!r} = {value!r}: expected {GRID_KEYS[key]}")


def _list(source: str, data: Mapping[str, Any], key: str, check: Callable[[Any], bool]) -> tuple[Any, ...]:
    value = data[key]
    if not isinstance(value, list) or not value or not all(check(v) for v in value):
        raise _bad(source, key, value)
    if len(set(value)) != len(value):
        dup = next(v for v in value if value.count(v) > 1)
        raise ConfigError(f"{source}: key {key!r} lists {dup!r} twice; give each value once")
    return tuple(value)


def _is_str(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip())


def _is_int(v: Any, low: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def grid_from_dict(data: Mapping[str, Any], *, source: str = "<grid>") -> SweepGrid:
    """Validate a grid given as a dict (the parsed TOML).

    Raises:
        ConfigError: an unknown key, a missing ``recipes``, or a value of the wrong kind; the
            message names ``source``, the key and the value.

    Example:
        >>> grid_from_dict({"recipes": ["amaz"], "sigma": [0.5, 1]}).sigma
        (0.5, 1.0)
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a TOML table of grid keys, got {data!r}")
    unknown = sorted(set(data) - set(GRID_KEYS))
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r}; a grid has the keys {', '.join(GRID_KEYS)}")
    if "recipes" not in data:
        raise ConfigError(
            f"{source}: missing key 'recipes' ({GRID_KEYS['recipes']}), e.g. recipes = [\"amaz\"]"
        )
    kwargs: dict[str, Any] = {"source": source}
    kwargs["recipes"] = _list(source, data, "recipes", _is_str)
    if "datasets" in data:
        kwargs["datasets"] = _list(source, data, "datasets", _is_str)
    if "classifiers" in data:
        kwargs["classifiers"] = _list(source, data, "classifiers", _is_str)
    if "seeds" in data:
        kwargs["seeds"] = _list(source, data, "seeds", lambda v: _is_int(v, 0))
    if "sigma" in data:
        kwargs["sigma"] = tuple(float(v) for v in _list(source, data, "sigma", _is_num))
    if "samples" in data:
        kwargs["samples"] = _list(source, data, "samples", lambda v: _is_int(v, 1))
    if "set" in data:
        value = data["set"]
        if not isinstance(value, list) or not all(isinstance(v, str) and "=" in v for v in value):
            raise _bad(source, "set", value)
        kwargs["overrides"] = tuple(value)
    if "data_root" in data:
        if not isinstance(data["data_root"], str):
            raise _bad(source, "data_root", data["data_root"])
        kwargs["data_root"] = data["data_root"]
    return SweepGrid(**kwargs)


def load_grid(path: str | os.PathLike[str]) -> SweepGrid:
    """Read a grid TOML file.

    Raises:
        ConfigError: the file is missing or not valid TOML, or a key is invalid (the message
            names the file).
    """
    p = Path(path)
    if not p.exists() and not p.is_symlink():
        raise ConfigError(f"grid file {str(p)!r} does not exist; write a TOML file with recipes = [...] etc.")
    try:
        data = tomllib.loads(read_toml_text(p, "grid file"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{p}: invalid TOML: {err}") from err
    return grid_from_dict(data, source=str(p))


# ----------------------------------------------------------------------------------------------
# points


@frozen
class SweepPoint:
    """One run of a sweep.

    Attributes:
        id: the hash of the resolved spec (the run folder's name).
        train_id: the hash of the spec without its evaluation section (the model's folder).
        group: the hash of the spec with the seed set to 0 (the seeds of one row share it).
        recipe, dataset, seed, sigma, samples: the point's coordinates.
        classifiers: the final classifiers it evaluates.
        spec: the resolved spec it runs.
    """

    id: str
    train_id: str
    group: str
    recipe: str
    dataset: str
    seed: int
    sigma: float
    samples: int
    classifiers: tuple[str, ...]
    spec: RecipeSpec = field(eq=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The point's ids and coordinates (``point.json``)."""
        return {
            "id": self.id,
            "train_id": self.train_id,
            "group": self.group,
            "recipe": self.recipe,
            "dataset": self.dataset,
            "seed": self.seed,
            "sigma": self.sigma,
            "samples": self.samples,
            "classifiers": list(self.classifiers),
        }


def training_spec(spec: RecipeSpec) -> RecipeSpec:
    """``spec`` without its evaluation settings but ``evaluation.checkpoint`` (which fixes the
    training length): what the trained model depends on."""
    from modgen.config import EvalConfig

    return evolve(spec, evaluation=EvalConfig(checkpoint=spec.evaluation.checkpoint))


def _train_id(spec: RecipeSpec) -> str:
    from modgen.pipeline import spec_id

    return spec_id(training_spec(spec))


def expand_grid(grid: SweepGrid, registries: Registries) -> list[SweepPoint]:
    """Every point of ``grid``, resolved and sorted by id.

    Raises:
        UnknownComponentError: an unknown recipe or classifier (the message lists the names).
        ConfigError: an invalid override, an xlsa17 data set without ``data_root``, or two
            points with the same spec.
    """
    from modgen.data.xlsa17 import XLSA17_DATASETS
    from modgen.pipeline import resolve_spec, spec_id

    for name in grid.classifiers:
        registries.final_classifier.get(name)
    points: dict[str, SweepPoint] = {}
    sigmas: Sequence[float | None] = grid.sigma or (None,)
    samples: Sequence[int | None] = grid.samples or (None,)
    for recipe, dataset, seed, sigma, n in itertools.product(
        grid.recipes, grid.datasets, grid.seeds, sigmas, samples
    ):
        root: Path | None = None
        if dataset.upper() in XLSA17_DATASETS:
            if not grid.data_root:
                raise ConfigError(
                    f"{grid.source}: datasets lists {dataset!r}, an xlsa17 data set, but the grid has no "
                    f'data_root; add data_root = "/path/to/xlsa17" (the folder holding {dataset.upper()}/)'
                )
            root = Path(grid.data_root) / dataset.upper()
        spec = resolve_spec(registries, recipe, data=root, dataset=dataset, overrides=list(grid.overrides))
        spec = evolve(spec, run=evolve(spec.run, seed=seed))
        ev = spec.evaluation
        ev = evolve(
            ev,
            classifiers=grid.classifiers or ev.classifiers,
            sigma_test=ev.sigma_test if sigma is None else sigma,
            zsl_samples=ev.zsl_samples if n is None else n,
        )
        spec = evolve(spec, evaluation=ev)
        pid = spec_id(spec)
        if pid in points:
            raise ConfigError(
                f"{grid.source}: two grid points resolve to the same run (recipe {recipe!r}, dataset "
                f"{dataset!r}, seed {seed}); check that the overrides in 'set' do not fix an axis"
            )
        points[pid] = SweepPoint(
            id=pid,
            train_id=_train_id(spec),
            group=spec_id(evolve(spec, run=evolve(spec.run, seed=0))),
            recipe=recipe,
            dataset=dataset,
            seed=seed,
            sigma=ev.sigma_test,
            samples=ev.zsl_samples,
            classifiers=tuple(ev.classifiers),
            spec=spec,
        )
    return [points[k] for k in sorted(points)]


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)`` with ``0 <= i < n``.

    Raises:
        ConfigError: not of the form ``i/n`` or out of range.

    Example:
        >>> parse_shard("2/4")
        (2, 4)
    """
    head, sep, tail = text.partition("/")
    try:
        i, n = int(head), int(tail)
    except ValueError:
        i, n = -1, 0
    if not sep or n < 1 or not 0 <= i < n:
        raise ConfigError(
            f"--shard {text!r}: expected i/n with 0 <= i < n, e.g. --shard 0/4 ... --shard 3/4 "
            "(Slurm: --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT with --array=0-3)"
        )
    return i, n


def shard_of(points: Sequence[SweepPoint], count: int) -> dict[str, int]:
    """The shard of each training id: the sorted ids dealt round-robin to ``count`` shards."""
    train_ids = sorted({p.train_id for p in points})
    return {t: j % count for j, t in enumerate(train_ids)}


def shard_points(points: Sequence[SweepPoint], index: int, count: int) -> list[SweepPoint]:
    """The points shard ``index`` of ``count`` runs: round-robin over the sorted training ids.

    Raises:
        ConfigError: ``index`` is not in ``[0, count)``.
    """
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"shard {index}/{count}: expected 0 <= index < count")
    owner = shard_of(points, count)
    return [p for p in points if owner[p.train_id] == index]
