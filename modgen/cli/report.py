"""``modgen compare`` (runs side by side) and ``modgen plot`` (the paper's figures of a run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from modgen.cli import options as opt
from modgen.cli.toolkit import ModgenGroup, console, err_console, get_state

__all__ = ["register"]

FORMATS = ("markdown", "csv", "json")


def register(app: typer.Typer) -> None:
    """Add ``compare`` and the ``plot`` group to ``app``."""
    app.command("compare")(compare_cmd)
    plot_app = typer.Typer(cls=ModgenGroup, help="The paper's figures of a run.", no_args_is_help=True)
    plot_app.command("losses")(plot_losses_cmd)
    plot_app.command("tsne")(plot_tsne_cmd)
    app.add_typer(plot_app, name="plot")


def compare_cmd(
    paths: list[str] = typer.Argument(
        ..., metavar="RUN_OR_SWEEP...", help="Run, multi-seed or sweep folders (globs welcome)."
    ),
    metric: list[str] = typer.Option(
        ["zsl", "gzsl_h"],
        "--metric",
        "-m",
        metavar="NAME",
        help="Metrics to show (repeatable): zsl, gzsl_u, gzsl_s, gzsl_h, ncm_cosine_unseen, ncm_euclidean_unseen, "
        "ncm_cosine_seen, ncm_euclidean_seen, ncm_cosine_seen_real, mean_gap_unseen, mean_gap_seen, retrieval@K.",
    ),
    classifier: list[str] = typer.Option(
        [], "--classifier", "-c", metavar="NAME", help="Only these classifiers (repeatable)."
    ),
    fmt: str = typer.Option("markdown", "--format", "-f", metavar="FORMAT", help="markdown, csv or json."),
    out: Path | None = typer.Option(
        None, "--out", metavar="FILE", help="Write the table here instead of printing it."
    ),
    plot: Path | None = typer.Option(
        None, "--plot", metavar="PNG", help="Also write a bar plot of the first metric."
    ),
    paired: bool = typer.Option(
        False, "--paired", help="With two settings: their paired difference over shared seeds."
    ),
) -> None:
    """Side-by-side table of runs: mean ± std over seeds, with the settings that differ as columns."""
    from modgen.errors import ConfigError
    from modgen.report import comparison_rows, csv_table, markdown_table
    from modgen.report.tables import METRICS
    from modgen.rundir import atomic_write_text
    from modgen.sweeps import collect_runs

    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    for m in metric:
        if m not in METRICS and not (m.startswith("retrieval@") and m[10:].isdigit()):
            raise ConfigError(f"--metric {m!r}: unknown; choose from {', '.join(METRICS)} or retrieval@K")
    groups = collect_runs(paths)
    named = {g.label: (g.settings, g.results) for g in groups.values()}
    header, text, raw = comparison_rows(named, metrics=metric)
    if classifier:
        ci = header.index("classifier")
        keep = [i for i, row in enumerate(text) if row[ci] in classifier]
        if not keep:
            raise ConfigError(f"--classifier: none of {', '.join(classifier)} was evaluated in these runs")
        text, raw = [text[i] for i in keep], [raw[i] for i in keep]
    if fmt == "markdown":
        body = markdown_table(header, text, left=len(header) - len(metric) - 1)
    elif fmt == "csv":
        body = csv_table([*header, *(f"{m}_std" for m in metric)], raw)
    else:
        keys = [*header, *(f"{m}_std" for m in metric)]
        body = json.dumps([dict(zip(keys, r, strict=True)) for r in raw], indent=2) + "\n"
    if out is not None:
        atomic_write_text(out, body)
        err_console().print(f"table written to {out}")
    else:
        console().print(body, end="")
    if "warnings" in header:
        err_console().print(
            "warning: some runs' synthetic features collapsed or do not reproduce the seen classes "
            "(the warnings column; each run's results.md says which and by how much)"
        )
    if paired:
        _print_paired(groups, metric[0], classifier)
    if plot is not None:
        from modgen.report.plots import plot_comparison

        mi = len(header) - len(metric)
        png = plot_comparison(
            _bar_labels(header, raw),
            [r[mi] if r[mi] is not None else 0.0 for r in raw],
            [r[mi + len(metric)] or 0.0 for r in raw],
            METRICS.get(metric[0], metric[0]),
            plot,
        )
        err_console().print(f"plot: {png}")


def _bar_labels(header: list[str], raw: list[list[Any]]) -> list[list[str]]:
    """Each row's label parts for the bar plot: the recipe name where recipes differ, else the one
    or two settings that differ (``key=value``), else the run's name; then the classifier.
    plot_comparison moves the parts every bar shares (one classifier) into the title."""
    end = header.index("classifier")
    settings = [i for i in range(1, end) if header[i] != "warnings"]
    by_name = [i for i in settings if header[i] == "recipe"]
    if by_name:
        chosen = [[str(r[by_name[0]])] for r in raw]
    elif 0 < len(settings) <= 2:
        chosen = [[f"{header[i]}={r[i]}" for i in settings] for r in raw]
    else:
        chosen = [[str(r[0])] for r in raw]
    parts = [[*c, str(r[end])] for c, r in zip(chosen, raw, strict=True)]
    if len({tuple(p) for p in parts}) < len(parts):  # not enough to tell the bars apart
        parts = [[str(r[0]), *p] for p, r in zip(parts, raw, strict=True)]
    return parts


def plot_losses_cmd(
    run_dir: Path = typer.Argument(..., metavar="RUN", help="A run folder."),
    out: Path | None = typer.Option(None, "--out", metavar="PNG", help="Default RUN/plots/losses.png."),
) -> None:
    """Every loss part against the episode (Fig. 9)."""
    from modgen.report import plot_losses
    from modgen.rundir import RunDir

    run = RunDir(run_dir)
    png = plot_losses(run.metrics, out if out is not None else run.plots / "losses.png")
    err_console().print(f"plot: {png}")


def plot_tsne_cmd(
    ctx: typer.Context,
    run_dir: Path = typer.Argument(..., metavar="RUN", help="A run folder."),
    classes: str = typer.Option(
        "unseen",
        "--classes",
        metavar="CLASSES",
        help="'unseen', 'seen', 'all' or class names, comma-separated.",
    ),
    n: int = typer.Option(100, "--n", min=1, metavar="N", help="Synthetic features per class."),
    real: int = typer.Option(
        100, "--real", min=0, metavar="N", help="Real test features per class beside them (0: none)."
    ),
    seed: int = typer.Option(
        0, "--seed", min=0, metavar="N", help="Seed of the noise, the subsample and t-SNE."
    ),
    out: Path | None = typer.Option(
        None, "--out", metavar="PNG", help="Default RUN/plots/tsne-<classes>.png."
    ),
    device: opt.Device = "auto",
    threads: opt.RunThreads = None,
) -> None:
    """t-SNE of real and synthetic features per class (Fig. 6)."""
    from modgen.pipeline import tsne_run

    png = tsne_run(
        run_dir,
        get_state(ctx).registries,
        classes=classes,
        n=n,
        real=real,
        seed=seed,
        out=out,
        device=device,
        threads=threads,
    )
    err_console().print(f"plot: {png}")


def _print_paired(groups: dict, metric: str, classifiers: list[str]) -> None:
    from modgen.errors import ConfigError
    from modgen.report.stats import paired_difference

    if len(groups) != 2:
        raise ConfigError(f"--paired compares exactly two settings, found {len(groups)}")
    a, b = groups.values()
    seeds = sorted({r.seed for r in a.results} & {r.seed for r in b.results})
    if len(seeds) < 2:
        raise ConfigError("--paired needs at least 2 seeds run by both settings")

    def value(result: object, clf: str) -> float:
        if metric == "zsl":
            return result.zsl[clf]  # type: ignore[attr-defined]
        if metric.startswith("gzsl_"):
            return result.gzsl[clf][metric[5:]]  # type: ignore[attr-defined]
        return result.quality[metric]  # type: ignore[attr-defined]

    by_a = {r.seed: r for r in a.results}
    by_b = {r.seed: r for r in b.results}
    clfs = [c for c in a.results[0].zsl if not classifiers or c in classifiers]
    for clf in clfs if not metric.startswith(("ncm", "mean_gap", "retrieval")) else clfs[:1]:
        d = paired_difference([value(by_a[s], clf) for s in seeds], [value(by_b[s], clf) for s in seeds])
        what = metric if metric.startswith(("ncm", "mean_gap", "retrieval")) else f"{metric} ({clf})"
        console().print(f"{a.label} - {b.label}, {what}: {d}")
