"""Markdown tables and the results files of a run folder (``results.json``, ``results.md``).

Numbers are printed as percentages with one decimal, ``mean ± std`` for aggregates over
seeds. Results selected on the test split (the literature-comparison mode) carry a ``†``
on every number and a note under each table.

Example:
    >>> from modgen.evaluate import EvaluationResult
    >>> r = EvaluationResult("digits", zsl={"svm": 0.5}, gzsl={"svm": {"u": 0.4, "s": 0.8, "h": 0.5333}})
    >>> print(results_markdown(r).splitlines()[6])
    | svm | 50.0 |
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modgen.errors import DataError
from modgen.evaluate.protocols import EvaluationResult, aggregate

__all__ = ["TEST_SELECTION_MARK", "results_markdown", "comparison_markdown", "write_results", "read_results"]

#: Put after every number selected on the test split.
TEST_SELECTION_MARK = "†"

_TEST_NOTE = (
    f"{TEST_SELECTION_MARK} Hyper-parameters selected on the test split (literature-comparison mode); "
    "not an unbiased estimate."
)


def _as_summary(result: EvaluationResult | Mapping[str, Any]) -> dict[str, Any]:
    """Either input as an aggregate-shaped dict (a single result: std 0, one seed)."""
    if isinstance(result, EvaluationResult):
        agg = aggregate([result])
        agg["single"] = True
        return agg
    if isinstance(result, Mapping) and "n_seeds" in result and "zsl" in result:
        return dict(result)
    raise DataError(
        "results_markdown: expected an EvaluationResult or the dict returned by aggregate(), "
        f"got {type(result).__name__}"
    )


def _fmt(stat: Mapping[str, float], single: bool, mark: str) -> str:
    mean = 100.0 * stat["mean"]
    if single:
        return f"{mean:.1f}{mark}"
    return f"{mean:.1f} ± {100.0 * stat['std']:.1f}{mark}"


def _title(s: Mapping[str, Any]) -> str:
    what = f"{s['name']} on {s['dataset']}" if s.get("name") else str(s["dataset"])
    seeds = "" if s.get("single") else f", mean ± std over {s['n_seeds']} seeds"
    return f"{what}{seeds}"


def results_markdown(result: EvaluationResult | Mapping[str, Any]) -> str:
    """Markdown tables of one result or of an :func:`~modgen.evaluate.aggregate` summary.

    Three tables: ZSL per-class top-1, GZSL ``U``/``S``/``H`` and retrieval precision@k, in
    percent. Selection on the test split is marked on every number.

    Raises:
        DataError: ``result`` is neither an :class:`EvaluationResult` nor an aggregate dict.

    Example:
        >>> from modgen.evaluate import EvaluationResult, aggregate
        >>> runs = [EvaluationResult("digits", seed=s, zsl={"svm": v}) for s, v in ((0, 0.5), (1, 0.7))]
        >>> [line for line in results_markdown(aggregate(runs)).splitlines() if line.startswith("| svm")]
        ['| svm | 60.0 ± 14.1 |']
    """
    s = _as_summary(result)
    single = bool(s.get("single"))
    mark = TEST_SELECTION_MARK if s.get("selected_on") == "test" else ""
    lines = [f"# Results: {_title(s)}", ""]
    lines += ["## ZSL (per-class mean top-1, %)", "", "| classifier | top-1 |", "|---|---:|"]
    lines += [f"| {c} | {_fmt(v, single, mark)} |" for c, v in s["zsl"].items()]
    if mark:
        lines += ["", _TEST_NOTE]
    if s.get("gzsl"):
        lines += [
            "",
            f"## GZSL (per-class mean top-1, %; seen-class features: {s.get('gzsl_seen', '?')})",
            "",
        ]
        lines += ["| classifier | U | S | H |", "|---|---:|---:|---:|"]
        for c, v in s["gzsl"].items():
            lines.append(f"| {c} | " + " | ".join(_fmt(v[m], single, mark) for m in ("u", "s", "h")) + " |")
        if mark:
            lines += ["", _TEST_NOTE]
    if s.get("retrieval"):
        lines += ["", "## Zero-shot retrieval (precision@k averaged over unseen classes, %)", ""]
        lines += ["| k | precision@k |", "|---:|---:|"]
        # retrieval uses no hyper-parameter selection, so it carries no mark
        lines += [f"| {k} | {_fmt(v, single, '')} |" for k, v in s["retrieval"].items()]
    return "\n".join(lines) + "\n"


def comparison_markdown(named: Mapping[str, EvaluationResult | Mapping[str, Any]]) -> str:
    """Side-by-side tables of several evaluations (e.g. recipes), one row per name and classifier.

    Args:
        named: ``{label: result or aggregate}`` in display order.

    Example:
        >>> from modgen.evaluate import EvaluationResult
        >>> a = EvaluationResult("digits", zsl={"svm": 0.5})
        >>> b = EvaluationResult("digits", zsl={"svm": 0.6})
        >>> print(comparison_markdown({"amaz": a, "zsml": b}).splitlines()[6])
        | amaz | svm | 50.0 |
    """
    summaries = {label: _as_summary(r) for label, r in named.items()}
    if not summaries:
        raise DataError("comparison_markdown: nothing to compare")
    marked = any(s.get("selected_on") == "test" for s in summaries.values())
    lines = [
        "# Comparison",
        "",
        "## ZSL (per-class mean top-1, %)",
        "",
        "| run | classifier | top-1 |",
        "|---|---|---:|",
    ]
    for label, s in summaries.items():
        mark = TEST_SELECTION_MARK if s.get("selected_on") == "test" else ""
        lines += [f"| {label} | {c} | {_fmt(v, bool(s.get('single')), mark)} |" for c, v in s["zsl"].items()]
    if any(s.get("gzsl") for s in summaries.values()):
        lines += ["", "## GZSL (per-class mean top-1, %)", "", "| run | classifier | U | S | H |"]
        lines.append("|---|---|---:|---:|---:|")
        for label, s in summaries.items():
            mark = TEST_SELECTION_MARK if s.get("selected_on") == "test" else ""
            for c, v in s.get("gzsl", {}).items():
                cells = " | ".join(_fmt(v[m], bool(s.get("single")), mark) for m in ("u", "s", "h"))
                lines.append(f"| {label} | {c} | {cells} |")
    if any(s.get("retrieval") for s in summaries.values()):
        lines += [
            "",
            "## Zero-shot retrieval (precision@k, %)",
            "",
            "| run | k | precision@k |",
            "|---|---:|---:|",
        ]
        for label, s in summaries.items():
            lines += [
                f"| {label} | {k} | {_fmt(v, bool(s.get('single')), '')} |" for k, v in s["retrieval"].items()
            ]
    if marked:
        lines += ["", _TEST_NOTE]
    return "\n".join(lines) + "\n"


def write_results(
    run_dir: str | Path, results: EvaluationResult | Sequence[EvaluationResult], *, stem: str = "results"
) -> dict[str, Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` into ``run_dir``.

    The JSON holds ``{"aggregate": ..., "runs": [result.to_dict(), ...]}``; the Markdown the
    tables of the single result, or of the aggregate when there are several.

    Args:
        run_dir: the run folder (created if missing).
        results: one result or the results of several seeds.
        stem: the file names' stem.

    Returns:
        ``{"json": path, "markdown": path}``.

    Raises:
        DataError: ``results`` is empty or not aggregatable.

    Example:
        >>> import tempfile
        >>> from modgen.evaluate import EvaluationResult
        >>> paths = write_results(tempfile.mkdtemp(), EvaluationResult("digits", zsl={"svm": 0.5}))
        >>> sorted(p.name for p in paths.values())
        ['results.json', 'results.md']
    """
    runs = [results] if isinstance(results, EvaluationResult) else list(results)
    summary = aggregate(runs)
    out = Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    payload = {"aggregate": summary, "runs": [r.to_dict() for r in runs]}
    json_path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    md_path.write_text(results_markdown(runs[0] if len(runs) == 1 else summary), encoding="utf-8")
    return {"json": json_path, "markdown": md_path}


def read_results(path: str | Path) -> list[EvaluationResult]:
    """The results stored by :func:`write_results` (a ``results.json`` file or its folder).

    Raises:
        DataError: the file is missing, not JSON, or not in :func:`write_results`' format.

    Example:
        >>> import tempfile
        >>> from modgen.evaluate import EvaluationResult
        >>> folder = tempfile.mkdtemp()
        >>> _ = write_results(folder, EvaluationResult("digits", zsl={"svm": 0.5}))
        >>> read_results(folder)[0].zsl
        {'svm': 0.5}
    """
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    try:
        payload = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise DataError(f"{p}: no results file; run the evaluation first (it writes results.json)") from err
    except json.JSONDecodeError as err:
        raise DataError(f"{p}: not valid JSON: {err}") from err
    if not isinstance(payload, Mapping) or not isinstance(payload.get("runs"), list):
        raise DataError(f"{p}: expected a JSON object with a 'runs' list (as written by write_results)")
    try:
        return [EvaluationResult.from_dict(r) for r in payload["runs"]]
    except (DataError, TypeError) as err:
        raise DataError(f"{p}: a run is malformed: {err}") from err
