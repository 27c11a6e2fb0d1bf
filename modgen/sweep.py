"""Sharded sweeps: a grid of independent runs that any scheduler can fan out, and one table.

A grid file (TOML) names the axes; every combination is one run (a *point*)::

    recipes = ["amaz", "zsml"]                  # registered recipes (required)
    datasets = ["digits"]                       # digits, fashion-mnist, AWA1/AWA2/CUB/SUN/APY
    classifiers = ["softmax", "weighted-softmax"]  # evaluated in every run, one table row each
    seeds = [0, 1, 2]                           # trainer.seed; the table averages over them
    sigma = [1.0]                               # evaluation.sigma_test (the Fig. 7 axis)
    samples = [100]                             # evaluation.zsl_samples (the Fig. 8 axis)
    set = ["trainer.episodes=200"]              # fixed --set overrides of every run
    data_root = "/data/xlsa17"                  # folder holding AWA2/, CUB/, ... (xlsa17 only)

The points are ``recipes x datasets x seeds x sigma x samples``; the classifiers are not an
axis of *runs* but of the *table*: one trained generator feeds every final classifier (they are
all trained on the same synthetic features), so each run evaluates them all. Leaving
``classifiers``, ``sigma`` or ``samples`` out keeps the recipe's own values.

**Ids.** Each point's id is a hash of its fully resolved :class:`~modgen.config.RecipeSpec`
(with ``trainer.device`` and ``data.root``, which depend on the machine, left out): the same
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
    DIR/sweep-results.json/.md    ``modgen sweep collect DIR``: mean ± std over seeds

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

import hashlib
import itertools
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import evolve, field, frozen

from modgen.errors import ConfigError, DataError, ModgenError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:
    import typer

    from modgen.config import RecipeSpec
    from modgen.evaluate.protocols import EvaluationResult
    from modgen.plugins import Registries

__all__ = [
    "GRID_KEYS",
    "SweepGrid",
    "SweepPoint",
    "SweepReport",
    "load_grid",
    "grid_from_dict",
    "spec_id",
    "expand_grid",
    "parse_shard",
    "shard_points",
    "is_finished",
    "run_sweep",
    "collect_sweep",
    "sweep_markdown",
    "write_collected",
    "register_sweep_commands",
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

#: Data sets of the xlsa17 release; their files live in ``data_root/<NAME>``.
_XLSA17 = ("AWA1", "AWA2", "CUB", "SUN", "APY")

_ID_LEN = 12


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
    if not p.is_file():
        raise ConfigError(f"grid file {str(p)!r} does not exist; write a TOML file with recipes = [...] etc.")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
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


def _identity(spec: RecipeSpec) -> RecipeSpec:
    # the device and the data's location depend on the machine, not on what is computed
    return evolve(spec, trainer=evolve(spec.trainer, device="auto"), data=evolve(spec.data, root=""))


def spec_id(spec: RecipeSpec) -> str:
    """A stable id of ``spec``: the first 12 hex digits of the SHA-256 of its TOML.

    ``trainer.device`` and ``data.root`` are left out, so the id does not depend on the machine.

    Example:
        >>> from modgen.recipes import amaz
        >>> spec_id(amaz()) == spec_id(amaz()), len(spec_id(amaz()))
        (True, 12)
    """
    from modgen.config import spec_to_toml

    text = spec_to_toml(_identity(spec))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:_ID_LEN]


def _training_spec(spec: RecipeSpec) -> RecipeSpec:
    from modgen.config import EvalConfig

    return evolve(spec, evaluation=EvalConfig())


def _train_id(spec: RecipeSpec) -> str:
    return spec_id(_training_spec(spec))


def expand_grid(grid: SweepGrid, registries: Registries) -> list[SweepPoint]:
    """Every point of ``grid``, resolved and sorted by id.

    Raises:
        UnknownComponentError: an unknown recipe or classifier (the message lists the names).
        ConfigError: an invalid override, an xlsa17 data set without ``data_root``, or two
            points with the same spec.
    """
    from modgen.train.cli import resolve_train_spec

    for name in grid.classifiers:
        registries.final_classifier.get(name)
    points: dict[str, SweepPoint] = {}
    sigmas: Sequence[float | None] = grid.sigma or (None,)
    samples: Sequence[int | None] = grid.samples or (None,)
    for recipe, dataset, seed, sigma, n in itertools.product(
        grid.recipes, grid.datasets, grid.seeds, sigmas, samples
    ):
        root: Path | None = None
        if dataset.upper() in _XLSA17:
            if not grid.data_root:
                raise ConfigError(
                    f"{grid.source}: datasets lists {dataset!r}, an xlsa17 data set, but the grid has no "
                    f'data_root; add data_root = "/path/to/xlsa17" (the folder holding {dataset.upper()}/)'
                )
            root = Path(grid.data_root) / dataset.upper()
        spec = resolve_train_spec(
            registries, recipe, data=root, dataset=dataset, seed=seed, overrides=list(grid.overrides)
        )
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
            group=spec_id(evolve(spec, trainer=evolve(spec.trainer, seed=0))),
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


def _shard_of(points: Sequence[SweepPoint], count: int) -> dict[str, int]:
    train_ids = sorted({p.train_id for p in points})
    return {t: j % count for j, t in enumerate(train_ids)}


def shard_points(points: Sequence[SweepPoint], index: int, count: int) -> list[SweepPoint]:
    """The points shard ``index`` of ``count`` runs: round-robin over the sorted training ids.

    Raises:
        ConfigError: ``index`` is not in ``[0, count)``.
    """
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"shard {index}/{count}: expected 0 <= index < count")
    owner = _shard_of(points, count)
    return [p for p in points if owner[p.train_id] == index]


# ----------------------------------------------------------------------------------------------
# running


@frozen
class SweepReport:
    """What :func:`run_sweep` did: point ids run, skipped (already finished) and failed."""

    ran: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()


def _atomic_write(path: Path, text: str) -> None:
    from modgen.train.run import atomic_write_text

    atomic_write_text(path, text)


def is_finished(out: str | os.PathLike[str], point: SweepPoint | str) -> bool:
    """Whether ``point`` (or a point id) has its ``runs/<id>/results.json`` in sweep folder ``out``."""
    pid = point if isinstance(point, str) else point.id
    return (Path(out) / "runs" / pid / "results.json").is_file()


def _write_results_atomically(run_dir: Path, result: EvaluationResult) -> None:
    from modgen.report import write_results

    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=run_dir, prefix=".results-"))
    try:
        paths = write_results(tmp, result)
        os.replace(paths["markdown"], run_dir / "results.md")
        # results.json marks the point finished, so it is moved last
        os.replace(paths["json"], run_dir / "results.json")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_plan(out: Path, grid_text: str | None, points: Sequence[SweepPoint], count: int) -> None:
    owner = _shard_of(points, count)
    plan = {
        "shards": count,
        "points": [{**p.to_dict(), "shard": owner[p.train_id]} for p in points],
    }
    _atomic_write(out / "plan.json", json.dumps(plan, indent=2) + "\n")
    if grid_text is not None:
        _atomic_write(out / "grid.toml", grid_text)


def run_sweep(
    points: Sequence[SweepPoint],
    registries: Registries,
    out: str | os.PathLike[str],
    *,
    device: str | None = None,
    log: Callable[[str], None] | None = None,
) -> SweepReport:
    """Train and evaluate ``points`` (one shard's share) into the sweep folder ``out``.

    Finished points are skipped. Each model is trained once for all its points (resumed from
    its checkpoint if a previous attempt was killed), then every point is evaluated with its
    own seed and evaluation settings. A point that fails (a diverged run, a missing data file)
    gets ``runs/<id>/error.json`` and the others go on.

    Args:
        points: the points to run (e.g. :func:`shard_points` of :func:`expand_grid`).
        registries: component registries.
        out: the sweep folder.
        device: ``trainer.device`` for every run (``None``: each spec's own).
        log: called with one line per point.

    Returns:
        A :class:`SweepReport`.

    Raises:
        ConfigError: called inside a torchrun job (``WORLD_SIZE > 1``): a sweep runs one
            process per shard.
    """
    from modgen.config import spec_to_toml
    from modgen.data import load_dataset
    from modgen.distributed import read_env
    from modgen.evaluate import evaluate
    from modgen.train.loop import load_run, train
    from modgen.train.run import RunDir

    if read_env().world_size > 1:
        raise ConfigError(
            "modgen sweep run is one process per shard, but WORLD_SIZE > 1 (started by torchrun?); "
            "start shards with --shard i/n instead (e.g. a Slurm job array)"
        )
    root = Path(out)
    say = log or (lambda _line: None)
    groups: dict[str, list[SweepPoint]] = {}
    for p in sorted(points, key=lambda q: q.id):
        groups.setdefault(p.train_id, []).append(p)
    datasets: dict[Any, Any] = {}
    ran: list[str] = []
    skipped: list[str] = []
    failed: list[str] = []
    for train_id in sorted(groups):
        members = groups[train_id]
        pending = []
        for p in members:
            if is_finished(root, p):
                skipped.append(p.id)
                say(f"skip {p.id} ({p.recipe} {p.dataset} seed {p.seed}): finished")
            else:
                pending.append(p)
        if not pending:
            continue
        # the training spec leaves evaluation out (as the training id does), so it is the same
        # for every point of the group and across restarts, even of a grid grown meanwhile
        train_spec = _training_spec(members[0].spec)
        if device is not None:
            train_spec = evolve(train_spec, trainer=evolve(train_spec.trainer, device=device))
        for p in pending:
            run_dir = root / "runs" / p.id
            run_dir.mkdir(parents=True, exist_ok=True)
            _atomic_write(run_dir / "point.json", json.dumps(p.to_dict(), indent=2) + "\n")
            _atomic_write(run_dir / "config.toml", spec_to_toml(p.spec))
            (run_dir / "error.json").unlink(missing_ok=True)
        current: SweepPoint | None = None
        try:
            key = repr(train_spec.data)
            if key not in datasets:
                datasets[key] = load_dataset(registries, train_spec.data)
            data = datasets[key]
            model = RunDir(root / "models" / train_id)
            t0 = time.perf_counter()
            if model.summary.is_file() and model.checkpoint.is_file():
                outcome = load_run(model.root, registries, device=train_spec.trainer.device, data=data)
            else:
                resume = model.checkpoint.is_file() and model.config.is_file()
                outcome = train(train_spec, registries, data=data, out=model.root, resume=resume)
            trained = time.perf_counter() - t0
            for p in pending:
                current = p
                result = evaluate(
                    outcome.assembly,
                    outcome.data,
                    p.spec.evaluation,
                    registries,
                    device=outcome.device,
                    seed=p.seed,
                    name=p.spec.name,
                )
                _write_results_atomically(root / "runs" / p.id, result)
                ran.append(p.id)
                best = max(result.zsl.values()) if result.zsl else float("nan")
                say(
                    f"done {p.id} ({p.recipe} {p.dataset} seed {p.seed} sigma {p.sigma:g} samples {p.samples}): "
                    f"best ZSL top-1 {100 * best:.1f} (model {train_id}, {trained:.1f} s)"
                )
        except ModgenError as err:
            rest = pending[pending.index(current) :] if current is not None else pending
            for p in rest:
                _atomic_write(
                    root / "runs" / p.id / "error.json",
                    json.dumps({"error": type(err).__name__, "message": str(err)}, indent=2) + "\n",
                )
                failed.append(p.id)
                say(f"FAILED {p.id} ({p.recipe} {p.dataset} seed {p.seed}): {err}")
    return SweepReport(ran=tuple(ran), skipped=tuple(skipped), failed=tuple(failed))


# ----------------------------------------------------------------------------------------------
# collecting


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: cannot read it as JSON ({err}); delete the run folder to redo it") from err


def collect_sweep(out: str | os.PathLike[str]) -> dict[str, Any]:
    """Merge every finished point of sweep folder ``out`` into rows of mean ± std over seeds.

    Points are grouped by their ``group`` hash (same spec but the seed); each group gives one
    row per classifier with :func:`~modgen.evaluate.aggregate`'s mean and sample std.

    Returns:
        ``{"rows": [{"recipe", "dataset", "sigma", "samples", "classifier", "n_seeds",
        "seeds", "zsl": {"mean", "std"}, "gzsl": {"u"|"s"|"h": {"mean", "std"}} or {},
        "selected_on", "group", "runs"}], "finished", "unfinished", "failed", "missing"}``:
        the point ids started but without results, those with an ``error.json``, and those in
        ``plan.json`` never started.

    Raises:
        DataError: ``out`` has no ``runs`` folder, or a results file is unreadable.
    """
    from modgen.evaluate import aggregate
    from modgen.report import read_results

    root = Path(out)
    runs = root / "runs"
    if not runs.is_dir():
        raise DataError(f"{str(root)!r} is not a sweep folder: no runs/ inside; run `modgen sweep run` first")
    by_group: dict[str, list[tuple[dict[str, Any], EvaluationResult]]] = {}
    finished: list[str] = []
    unfinished: list[str] = []
    failed: list[str] = []
    for run_dir in sorted(d for d in runs.iterdir() if d.is_dir() and not d.name.startswith(".")):
        point_file = run_dir / "point.json"
        if not point_file.is_file():
            continue
        point = _read_json(point_file)
        if not (run_dir / "results.json").is_file():
            (failed if (run_dir / "error.json").is_file() else unfinished).append(run_dir.name)
            continue
        result = read_results(run_dir)[0]
        by_group.setdefault(point["group"], []).append((point, result))
        finished.append(run_dir.name)
    planned: list[str] = []
    if (root / "plan.json").is_file():
        planned = [p["id"] for p in _read_json(root / "plan.json").get("points", [])]
    seen = set(finished) | set(unfinished) | set(failed)
    rows: list[dict[str, Any]] = []
    for group, members in by_group.items():
        members.sort(key=lambda m: m[0]["seed"])
        point = members[0][0]
        agg = aggregate([r for _, r in members])
        for clf, stat in agg["zsl"].items():
            rows.append(
                {
                    "recipe": point["recipe"],
                    "dataset": point["dataset"],
                    "sigma": point["sigma"],
                    "samples": point["samples"],
                    "classifier": clf,
                    "n_seeds": agg["n_seeds"],
                    "seeds": [m[0]["seed"] for m in members],
                    "zsl": stat,
                    "gzsl": agg["gzsl"].get(clf, {}),
                    "selected_on": agg["selected_on"],
                    "group": group,
                    "runs": [m[0]["id"] for m in members],
                }
            )
    rows.sort(
        key=lambda r: (r["recipe"], r["dataset"], r["sigma"], r["samples"], r["group"], r["classifier"])
    )
    return {
        "rows": rows,
        "finished": finished,
        "unfinished": unfinished,
        "failed": failed,
        "missing": [p for p in planned if p not in seen],
    }


def _pm(stat: Mapping[str, float] | None, n: int, mark: str) -> str:
    if not stat:
        return "-"
    if n == 1:
        return f"{100 * stat['mean']:.1f}{mark}"
    return f"{100 * stat['mean']:.1f} ± {100 * stat['std']:.1f}{mark}"


def sweep_markdown(summary: Mapping[str, Any]) -> str:
    """A Markdown table of :func:`collect_sweep`'s rows (percent, mean ± std over seeds).

    A ``config`` column (the group hash) appears when two rows would otherwise look the same
    (points that differ in an override other than the grid axes).

    Example:
        >>> row = {"recipe": "amaz", "dataset": "digits", "sigma": 1.0, "samples": 100,
        ...        "classifier": "svm", "n_seeds": 2, "seeds": [0, 1], "group": "g",
        ...        "zsl": {"mean": 0.5, "std": 0.1}, "gzsl": {}, "selected_on": "val", "runs": []}
        >>> print(sweep_markdown({"rows": [row]}).splitlines()[4])
        | amaz | digits | 1 | 100 | svm | 2 | 50.0 ± 10.0 | - | - | - |
    """
    from modgen.report.tables import TEST_SELECTION_MARK

    rows = list(summary.get("rows", []))
    labels = [(r["recipe"], r["dataset"], r["sigma"], r["samples"], r["classifier"]) for r in rows]
    ambiguous = len(set(labels)) < len(labels)
    head = ["recipe", "dataset", "sigma", "samples", "classifier"]
    head += ["config"] if ambiguous else []
    head += ["seeds", "ZSL top-1", "GZSL U", "GZSL S", "GZSL H"]
    lines = ["# Sweep results (%, mean ± std over seeds)", ""]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join("---" if i < 5 + ambiguous else "---:" for i in range(len(head))) + "|")
    marked = False
    for r in rows:
        mark = TEST_SELECTION_MARK if r.get("selected_on") == "test" else ""
        marked = marked or bool(mark)
        n = int(r["n_seeds"])
        cells = [r["recipe"], r["dataset"], f"{r['sigma']:g}", str(r["samples"]), r["classifier"]]
        cells += [r["group"]] if ambiguous else []
        cells += [str(n), _pm(r["zsl"], n, mark)]
        cells += [_pm(r["gzsl"].get(m) if r["gzsl"] else None, n, mark) for m in ("u", "s", "h")]
        lines.append("| " + " | ".join(cells) + " |")
    notes = []
    if marked:
        notes.append(f"{TEST_SELECTION_MARK} selected on the test split (literature-comparison mode).")
    for key, what in (
        ("unfinished", "started but unfinished"),
        ("failed", "failed"),
        ("missing", "not started"),
    ):
        ids = summary.get(key) or []
        if ids:
            notes.append(
                f"{len(ids)} point(s) {what}: {', '.join(ids[:10])}{' ...' if len(ids) > 10 else ''}"
            )
    if notes:
        lines += [""] + notes
    return "\n".join(lines) + "\n"


def write_collected(out: str | os.PathLike[str]) -> dict[str, Path]:
    """Collect sweep folder ``out`` into ``sweep-results.json`` and ``sweep-results.md`` there.

    Returns:
        ``{"json": path, "markdown": path}``.

    Raises:
        DataError: as :func:`collect_sweep`.
    """
    root = Path(out)
    summary = collect_sweep(root)
    json_path, md_path = root / "sweep-results.json", root / "sweep-results.md"
    _atomic_write(json_path, json.dumps(summary, indent=2) + "\n")
    _atomic_write(md_path, sweep_markdown(summary))
    return {"json": json_path, "markdown": md_path}


# ----------------------------------------------------------------------------------------------
# command line


def register_sweep_commands(app: typer.Typer, registries: Callable[[], Registries]) -> None:
    """Add ``run`` and ``collect`` to the ``modgen sweep`` group ``app``."""
    import typer
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)

    @app.command("run")
    def sweep_run_cmd(
        grid: Path = typer.Argument(..., help="A grid TOML file (recipes, datasets, seeds, sigma, ...)."),
        shard: str = typer.Option("0/1", "--shard", help="Run only share i of n (0 <= i < n), e.g. 2/8."),
        out: Path | None = typer.Option(None, "--out", help="The sweep folder (default sweeps/<grid name>)."),
        device: str | None = typer.Option(None, "--device", help="auto, cpu, cuda or cuda:N for every run."),
        dry_run: bool = typer.Option(False, "--dry-run", help="List this shard's points; run nothing."),
    ) -> None:
        """Run this shard's points of a grid; finished points are skipped (safe to restart)."""
        index, count = parse_shard(shard)
        spec = load_grid(grid)
        regs = registries()
        points = expand_grid(spec, regs)
        mine = shard_points(points, index, count)
        root = out if out is not None else Path("sweeps") / Path(grid).stem
        done = sum(is_finished(root, p) for p in mine)
        console.print(
            f"[bold]modgen sweep[/] {grid}: {len(points)} points, shard {index}/{count} has {len(mine)} "
            f"({done} finished) -> {root}"
        )
        if dry_run:
            for p in mine:
                state = "finished" if is_finished(root, p) else "to run"
                console.print(
                    f"{p.id}  {p.recipe} {p.dataset} seed={p.seed} sigma={p.sigma:g} samples={p.samples}  "
                    f"model={p.train_id}  {state}",
                    markup=False,
                )
            return
        root.mkdir(parents=True, exist_ok=True)
        _write_plan(root, Path(grid).read_text(encoding="utf-8"), points, count)
        report = run_sweep(
            mine, regs, root, device=device, log=lambda line: console.print(line, markup=False)
        )
        console.print(
            f"shard {index}/{count}: {len(report.ran)} run, {len(report.skipped)} skipped (finished), "
            f"{len(report.failed)} failed"
        )
        if report.failed:
            raise ModgenError(
                f"{len(report.failed)} point(s) failed: {', '.join(report.failed)}; see "
                f"{root}/runs/<id>/error.json. Fix the cause and run the same command again."
            )

    @app.command("collect")
    def sweep_collect_cmd(
        folder: Path = typer.Argument(..., help="A sweep folder (the --out of modgen sweep run)."),
    ) -> None:
        """Merge every finished run of a sweep into one table (mean ± std over seeds)."""
        paths = write_collected(folder)
        console.print(paths["markdown"].read_text(encoding="utf-8"), markup=False)
        console.print(f"written to {paths['markdown']} and {paths['json']}")
