"""Collecting a sweep (or any set of run folders) into groups of seeds and one comparison table.

:func:`collect_runs` finds finished runs under the given paths — run folders (``results.json``
beside ``config.toml``), multi-seed folders (``seed*/``), sweep folders (``runs/<id>/``) — and
groups them by what they compute apart from the seed; :func:`modgen.report.comparison_rows`
turns the groups into a table whose columns show every setting that differs between them.

Example:
    >>> groups = collect_runs(["runs"])  # doctest: +SKIP
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modgen.errors import DataError
from modgen.rundir import write_json

if TYPE_CHECKING:
    from modgen.config import RecipeSpec
    from modgen.evaluate.protocols import EvaluationResult

__all__ = ["RunGroup", "collect_runs", "collect_sweep", "write_collected", "settings_of"]


class RunGroup:
    """The finished runs of one setting (all seeds): its settings and results."""

    def __init__(self, label: str, settings: dict[str, Any]) -> None:
        self.label = label
        self.settings = settings
        self.results: list[EvaluationResult] = []
        self.folders: list[Path] = []


def settings_of(spec: RecipeSpec) -> dict[str, Any]:
    """A spec as flat ``key: value`` settings (what a comparison shows when they differ).

    Example:
        >>> from modgen.recipes import amaz
        >>> settings_of(amaz())["modulator.gate"]
        'sigmoid'
    """
    from modgen.config import spec_to_dict

    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        elif not isinstance(value, dict):
            flat[prefix.replace(".params.", ".")] = value

    data = spec_to_dict(spec)
    for key in ("description", "paper"):
        data.pop(key, None)
    for key in ("seed", "device", "threads", "log_every", "checkpoint_every"):
        data["run"].pop(key, None)
    data["data"].pop("root", None)
    walk("", data)
    flat["recipe"] = flat.pop("name")
    return flat


def _run_folders(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    found: list[Path] = []
    for raw in paths:
        matches = sorted(glob.glob(str(raw))) or [str(raw)]
        for match in matches:
            p = Path(match)
            if not p.exists():
                raise DataError(f"{str(p)!r}: no such run or sweep folder")
            found += sorted(
                {r.parent for r in p.rglob("results.json") if (r.parent / "config.toml").is_file()}
            )
            if (p / "results.json").is_file() and (p / "config.toml").is_file():
                found.append(p)
    unique = sorted(set(found))
    return [f for f in unique if "evaluations" not in f.parts]


def collect_runs(paths: Sequence[str | os.PathLike[str]]) -> dict[str, RunGroup]:
    """Every finished run under ``paths`` (globs welcome), grouped by setting (seeds together).

    Raises:
        DataError: a path does not exist, or nothing finished lies under it.
    """
    from modgen.pipeline import read_spec, spec_id
    from modgen.rundir import read_results

    groups: dict[str, RunGroup] = {}
    for folder in _run_folders(paths):
        spec = read_spec(folder / "config.toml")
        from attrs import evolve

        key = spec_id(evolve(spec, run=evolve(spec.run, seed=0)))
        if key not in groups:
            groups[key] = RunGroup(f"{spec.name}-{spec.data.label}-{key[:8]}", settings_of(spec))
        results = read_results(folder)
        if len(results) != 1:
            continue  # a multi-seed summary folder; its seeds are collected one by one
        groups[key].results.append(results[0])
        groups[key].folders.append(folder)
    groups = {k: g for k, g in groups.items() if g.results}
    if not groups:
        raise DataError(
            f"no finished runs under {', '.join(map(str, paths))} (a finished run holds results.json and config.toml)"
        )
    return groups


def collect_sweep(out: str | os.PathLike[str]) -> dict[str, Any]:
    """Merge every finished point of sweep folder ``out``: groups, and unfinished/failed/missing ids.

    Raises:
        DataError: ``out`` has no ``runs`` folder, or a results file is unreadable.
    """
    root = Path(out)
    runs = root / "runs"
    if not runs.is_dir():
        raise DataError(f"{str(root)!r} is not a sweep folder: no runs/ inside; run `modgen sweep run` first")
    finished, unfinished, failed = [], [], []
    for d in sorted(p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if (d / "results.json").is_file():
            finished.append(d.name)
        elif (d / "error.json").is_file():
            failed.append(d.name)
        elif (d / "point.json").is_file():
            unfinished.append(d.name)
    planned: list[str] = []
    if (root / "plan.json").is_file():
        try:
            planned = [
                p["id"] for p in json.loads((root / "plan.json").read_text(encoding="utf-8"))["points"]
            ]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise DataError(
                f"{root / 'plan.json'}: unreadable ({err}); delete it and run the shards again"
            ) from err
    seen = set(finished) | set(unfinished) | set(failed)
    groups = collect_runs([runs]) if finished else {}
    return {
        "groups": groups,
        "finished": finished,
        "unfinished": unfinished,
        "failed": failed,
        "missing": [p for p in planned if p not in seen],
    }


def write_collected(
    out: str | os.PathLike[str], *, metrics: Sequence[str] = ("zsl", "gzsl_u", "gzsl_s", "gzsl_h")
) -> dict[str, Path]:
    """Collect sweep folder ``out`` into ``sweep-results.json`` and ``sweep-results.md`` there.

    Raises:
        DataError: as :func:`collect_sweep`.
    """
    from modgen.report import comparison_rows, markdown_table

    root = Path(out)
    summary = collect_sweep(root)
    groups = summary["groups"]
    lines = ["# Sweep results (%, mean ± std over seeds)", ""]
    rows: list[dict[str, Any]] = []
    if groups:
        header, text, raw = comparison_rows(
            {g.label: (g.settings, g.results) for g in groups.values()}, metrics=list(metrics)
        )
        lines.append(markdown_table(header, text, left=len(header) - len(metrics) - 1))
        rows = [dict(zip([*header, *(f"{m}_std" for m in metrics)], r, strict=True)) for r in raw]
    for key, what in (
        ("unfinished", "started but unfinished"),
        ("failed", "failed"),
        ("missing", "not started"),
    ):
        ids = summary[key]
        if ids:
            lines.append(
                f"{len(ids)} point(s) {what}: {', '.join(ids[:10])}{' ...' if len(ids) > 10 else ''}"
            )
    json_path, md_path = root / "sweep-results.json", root / "sweep-results.md"
    write_json(
        json_path, {"rows": rows, **{k: summary[k] for k in ("finished", "unfinished", "failed", "missing")}}
    )
    from modgen.rundir import atomic_write_text

    atomic_write_text(md_path, "\n".join(lines).rstrip() + "\n")
    return {"json": json_path, "markdown": md_path}
