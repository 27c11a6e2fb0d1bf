"""Tables of results: one Markdown/CSV renderer for a run, a comparison of runs and a sweep.

Rendering only: the files they go into (``results.json``/``.md``) belong to :mod:`modgen.rundir`.

Every number is a percentage with one decimal (the mean-gap measures: a ratio with two),
``mean ± std``; results chosen on the test split (the literature-comparison mode) carry a ``†``
on every number they produced and a note under the table. A result's warnings (unseen collapse,
seen classes not reproduced: :func:`modgen.evaluate.collapse_warnings`) head its report, and a
comparison gets a ``warnings`` column whenever a group has any.

Example:
    >>> print(markdown_table(["classifier", "ZSL"], [["svm", "50.0"]]))
    | classifier | ZSL |
    |---|---:|
    | svm | 50.0 |
    <BLANKLINE>
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from modgen.errors import DataError
from modgen.evaluate.protocols import EvaluationResult, aggregate

if TYPE_CHECKING:
    from rich.table import Table

    from modgen.assembly import Assembly

__all__ = [
    "TEST_SELECTION_MARK",
    "METRICS",
    "markdown_table",
    "csv_table",
    "format_stat",
    "results_markdown",
    "comparison_rows",
    "warning_counts",
    "assembly_table",
]

#: Put after every number selected on the test split.
TEST_SELECTION_MARK = "†"

_TEST_NOTE = (
    f"{TEST_SELECTION_MARK} Hyper-parameters selected on the test split (literature-comparison mode); "
    "not an unbiased estimate."
)

#: The metrics a comparison can show, with how to read each from an aggregate.
METRICS: dict[str, str] = {
    "zsl": "ZSL per-class top-1 (%)",
    "gzsl_u": "GZSL U (%)",
    "gzsl_s": "GZSL S (%)",
    "gzsl_h": "GZSL H (%)",
    "ncm_cosine_unseen": "nearest synthetic class mean, cosine, unseen (%)",
    "ncm_euclidean_unseen": "nearest synthetic class mean, Euclidean, unseen (%)",
    "ncm_cosine_seen": "nearest synthetic class mean, cosine, seen (%)",
    "ncm_euclidean_seen": "nearest synthetic class mean, Euclidean, seen (%)",
    "ncm_cosine_seen_real": "nearest real (trainval) class mean, cosine, seen (%): the reference",
    "mean_gap_unseen": "synthetic-to-real class-mean gap, unseen (ratio)",
    "mean_gap_seen": "synthetic-to-real class-mean gap, seen (ratio)",
}


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1) -> str:
    """A Markdown table; the first ``left`` columns are left-aligned, the others right-aligned."""
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---" if i < left else "---:" for i in range(len(header))) + "|")
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def csv_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """The same table as CSV."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def format_stat(stat: Mapping[str, float] | None, n: int, mark: str = "", *, digits: int = 1) -> str:
    """``mean ± std`` (just ``mean`` for one value) followed by ``mark``; ``-`` when missing.

    Example:
        >>> format_stat({"mean": 61.25, "std": 3.0}, 5)
        '61.2 ± 3.0'
    """
    if not stat or stat.get("mean") is None:
        return "-"
    if n <= 1:
        return f"{stat['mean']:.{digits}f}{mark}"
    return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}{mark}"


def _single(result: EvaluationResult) -> dict[str, Any]:
    """One result as an aggregate whose ``std`` is the spread over its evaluation seeds."""
    agg = aggregate([result])
    for c, v in agg["zsl"].items():
        v["std"] = result.zsl_std.get(c, 0.0)
    for c, g in agg["gzsl"].items():
        for m in g:
            g[m]["std"] = result.gzsl_std.get(c, {}).get(m, 0.0)
    for m, v in agg["quality"].items():
        v["std"] = result.quality_std.get(m, 0.0)
    agg["spread"] = result.eval_seeds
    agg["selection"] = result.selection
    agg["warnings"] = list(result.warnings)
    return agg


def _summary(result: EvaluationResult | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(result, EvaluationResult):
        return _single(result)
    if isinstance(result, Mapping) and "n_seeds" in result and "zsl" in result:
        return {**result, "spread": int(result["n_seeds"])}
    raise DataError(
        "results_markdown: expected an EvaluationResult or the dict returned by aggregate(), "
        f"got {type(result).__name__}"
    )


def results_markdown(result: EvaluationResult | Mapping[str, Any]) -> str:
    """The Markdown report of one result or of an :func:`~modgen.evaluate.aggregate` summary.

    Tables: ZSL and GZSL per classifier, the classifier-free measures, and the closed-form floor
    when it was run. For one result the ± is the spread over its evaluation seeds; for an
    aggregate it is the spread over training seeds.

    Example:
        >>> r = EvaluationResult("digits", zsl={"svm": 50.0}, gzsl={"svm": {"u": 40.0, "s": 80.0, "h": 53.3}})
        >>> "| svm | 50.0 | 40.0 | 80.0 | 53.3 |" in results_markdown(r)
        True
    """
    s = _summary(result)
    n = int(s["spread"])
    mark = TEST_SELECTION_MARK if s.get("selected_on") == "test" else ""
    what = f"{s['name']} on {s['dataset']}" if s.get("name") else str(s["dataset"])
    over = (
        f"mean ± std over {s['n_seeds']} training seeds (each the mean of {s['eval_seeds']} evaluation seeds)"
        if "selection" not in s
        else f"mean ± std over {s['eval_seeds']} evaluation seeds"
    )
    lines = [
        f"# Results: {what}",
        "",
        f"Percent; {over}; classifier settings selected on: {s['selected_on']}.",
        "",
    ]
    for warning in s.get("warnings") or []:
        lines += [f"**Warning:** {warning}.", ""]
    rows = []
    for c, v in s["zsl"].items():
        g = s["gzsl"].get(c, {})
        rows.append([c, format_stat(v, n, mark), *(format_stat(g.get(m), n, mark) for m in ("u", "s", "h"))])
    lines.append(markdown_table(["classifier", "ZSL top-1", "GZSL U", "GZSL S", "GZSL H"], rows))
    lines.append(f"GZSL seen-class features: {s.get('gzsl_seen', '?')}.")
    if mark:
        lines += ["", _TEST_NOTE]
    if s.get("quality"):
        lines += ["", "## Synthetic features without a classifier", ""]
        q_rows = [
            [
                METRICS.get(m, m.replace("retrieval@", "retrieval precision@") + " (%)"),
                format_stat(v, n, digits=2 if m.startswith("mean_gap") else 1),
            ]
            for m, v in s["quality"].items()
        ]
        lines.append(markdown_table(["measure", "value"], q_rows))
    if s.get("floor"):
        lines += ["", "## Closed-form floor on the same split", ""]
        f_rows = [
            [_floor_name(name, v), format_stat(v.get("zsl"), n), format_stat(v.get("gzsl_h"), n)]
            for name, v in s["floor"].items()
        ]
        lines.append(markdown_table(["method", "ZSL top-1", "GZSL H"], f_rows))
    return "\n".join(lines).rstrip() + "\n"


def _floor_name(name: str, floor: Mapping[str, Any]) -> str:
    """A floor method's name, flagged when a parameter was chosen on an end of its grid."""
    edge = floor.get("edge") or []
    return f"{name} (chosen on a grid edge: {', '.join(edge)})" if edge else name


def _metric(agg: Mapping[str, Any], clf: str, metric: str) -> Mapping[str, float] | None:
    if metric == "zsl":
        return agg["zsl"].get(clf)
    if metric.startswith("gzsl_"):
        return agg["gzsl"].get(clf, {}).get(metric[5:])
    return agg.get("quality", {}).get(metric)


def comparison_rows(
    groups: Mapping[str, tuple[Mapping[str, Any], Sequence[EvaluationResult]]],
    *,
    metrics: Sequence[str] = ("zsl", "gzsl_h"),
) -> tuple[list[str], list[list[str]], list[list[Any]]]:
    """Side-by-side rows of several groups of runs (a group: the seeds of one setting).

    Args:
        groups: ``{label: (settings, results)}``; ``settings`` are the group's resolved
            settings (recipe, dataset, overrides...). Settings whose values differ between
            groups become columns, so unlike runs are never shown side by side unmarked.
        metrics: keys of :data:`METRICS` (classifier-free ones ``ncm_*``, ``mean_gap_*`` and
            ``retrieval@k`` appear once per group, not per classifier).

    Returns:
        ``(header, text_rows, raw_rows)``: the header, the rows formatted for Markdown, and the
        same rows with numbers (mean and std columns) for CSV/JSON.

    Example:
        >>> a = EvaluationResult("digits", zsl={"svm": 50.0})
        >>> b = EvaluationResult("digits", zsl={"svm": 60.0})
        >>> header, rows, _ = comparison_rows({"A": ({"recipe": "amaz"}, [a]), "B": ({"recipe": "zsml"}, [b])},
        ...                                   metrics=["zsl"])
        >>> header, rows[1]
        (['run', 'recipe', 'classifier', 'seeds', 'zsl'], ['B', 'zsml', 'svm', '1', '60.0'])
    """
    if not groups:
        raise DataError("comparison: nothing to compare")
    keys = sorted({k for settings, _ in groups.values() for k in settings})
    differing = [
        k for k in keys if len({json.dumps(s.get(k), sort_keys=True) for s, _ in groups.values()}) > 1
    ]
    warned = {label: warning_counts(results) for label, (_, results) in groups.items()}
    flag = ["warnings"] if any(warned.values()) else []
    header = ["run", *differing, *flag, "classifier", "seeds", *metrics]
    text: list[list[str]] = []
    raw: list[list[Any]] = []
    for label, (settings, results) in groups.items():
        agg = aggregate(list(results))
        n = int(agg["n_seeds"])
        mark = TEST_SELECTION_MARK if agg["selected_on"] == "test" else ""
        cells = [str(settings.get(k, "")) for k in differing]
        if flag:
            cells.append("; ".join(f"{kind} {count}/{n} seeds" for kind, count in warned[label].items()))
        for clf in agg["zsl"]:
            stats = [_metric(agg, clf, m) for m in metrics]
            text.append(
                [label, *cells, clf, str(n)]
                + [
                    format_stat(
                        st,
                        n,
                        "" if m.startswith(("ncm", "mean_gap", "retrieval")) else mark,
                        digits=2 if m.startswith("mean_gap") else 1,
                    )
                    for st, m in zip(stats, metrics, strict=True)
                ]
            )
            raw.append(
                [label, *cells, clf, n]
                + [None if st is None else st["mean"] for st in stats]
                + [None if st is None else st["std"] for st in stats]
            )
    return header, text, raw


def warning_counts(results: Sequence[EvaluationResult]) -> dict[str, int]:
    """How many of ``results`` carry each kind of warning (the text before its first colon).

    Example:
        >>> rs = [EvaluationResult("digits", warnings=["unseen collapse: 30.0%"]), EvaluationResult("digits")]
        >>> warning_counts(rs)
        {'unseen collapse': 1}
    """
    counts: dict[str, int] = {}
    for r in results:
        for kind in dict.fromkeys(w.split(":", 1)[0] for w in r.warnings):
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def assembly_table(assembly: Assembly) -> Table:
    """A rich table of an assembly's components, shapes, parameter groups and counts.

    Example:
        >>> from modgen.assembly import AWA2_SHAPES, build_assembly
        >>> from modgen.plugins import get_registries
        >>> from modgen.recipes import amaz
        >>> asm = build_assembly(amaz(), get_registries(entry_points=False), device="meta", **AWA2_SHAPES)
        >>> assembly_table(asm).row_count
        7
    """
    from rich.table import Table

    from modgen.assembly import ASSEMBLY_KINDS, group_of

    a, d, z, c = assembly.attr_dim, assembly.feature_dim, assembly.noise_dim, assembly.num_classes
    counts = assembly.parameter_counts()
    prefix = f"Assembly {assembly.recipe!r}" if assembly.recipe else "Assembly"
    table = Table(title=f"{prefix}: A={a}, D={d}, Z={z}, C={c}")
    for col in ("kind", "component", "class", "shapes", "group", "parameters"):
        table.add_column(col, justify="right" if col == "parameters" else "left")
    dims = getattr(assembly.generator, "modulated_dims", None) or []
    shapes = {
        "generator": f"z ({z}) + a ({a}) -> x ({d})",
        "modulator": f"attrs (N, {a}) -> {len(dims)} x (w, b)",
        "critic": f"x ({d}) + a ({a}) -> score",
        "aux_classifier": f"x ({d}) -> logits ({c})",
        "attribute_decoder": f"x ({d}) -> a' ({a})",
        "quality_weighter": f"a, a' ({a}) -> weight",
    }
    notes = []
    for kind in ASSEMBLY_KINDS:
        obj = getattr(assembly, kind)
        extra = obj.extra_repr() if hasattr(obj, "extra_repr") else ""
        table.add_row(
            kind,
            assembly.names.get(kind, "?"),
            type(obj).__name__,
            extra if kind == "modulator" and not counts.get(kind) and extra else shapes[kind],
            group_of(kind),
            f"{counts.get(kind, 0):,}",
        )
        if assembly.params.get(kind):
            notes.append(f"{kind}: " + ", ".join(f"{p}={v}" for p, v in assembly.params[kind].items()))
        if kind == "modulator" and extra and counts.get(kind):
            notes.append(f"modulator: {extra}")
    table.caption = "\n".join(notes) or None
    table.add_row("total", "", "", "", "", f"{sum(counts.values()):,}", style="bold")
    return table
