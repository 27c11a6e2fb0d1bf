"""``modgen sweep``: grids of runs (``run``, ``collect``) and synthesis settings of one run (``synthesis``)."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from modgen.cli import options as opt
from modgen.cli.toolkit import ModgenGroup, console, err_console, get_state

__all__ = ["register"]

log = logging.getLogger("modgen")


def register(app: typer.Typer) -> None:
    """Mount ``modgen sweep`` on ``app``."""
    sweep_app = typer.Typer(
        cls=ModgenGroup, help="Sweeps: grids of runs; synthesis settings of one run.", no_args_is_help=True
    )
    sweep_app.command("run")(sweep_run_cmd)
    sweep_app.command("collect")(sweep_collect_cmd)
    sweep_app.command("synthesis")(sweep_synthesis_cmd)
    app.add_typer(sweep_app, name="sweep")


def sweep_run_cmd(
    ctx: typer.Context,
    grid: Path = typer.Argument(
        ..., metavar="GRID", help="A grid TOML file (recipes, datasets, seeds, sigma, ...)."
    ),
    shard: str = typer.Option(
        "0/1", "--shard", metavar="I/N", help="Run only share i of n (0 <= i < n), e.g. 2/8."
    ),
    out: Path | None = typer.Option(
        None, "--out", metavar="DIR", help="The sweep folder (default sweeps/<grid name>)."
    ),
    threads: int | None = typer.Option(
        None,
        "--threads",
        min=0,
        metavar="N",
        help="CPU threads for torch for every run (0: modgen's policy).",
    ),
    device: str | None = typer.Option(
        None, "--device", metavar="DEVICE", help="auto, cpu, cuda or cuda:N for every run."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="List this shard's points; run nothing."),
) -> None:
    """Run this shard's points of a grid; finished points are skipped (safe to restart)."""
    from modgen.errors import ModgenError
    from modgen.sweeps import (
        expand_grid,
        is_finished,
        load_grid,
        parse_shard,
        run_sweep,
        shard_points,
        write_plan,
    )

    index, count = parse_shard(shard)
    spec = load_grid(grid)
    regs = get_state(ctx).registries
    points = expand_grid(spec, regs)
    mine = shard_points(points, index, count)
    root = out if out is not None else Path("sweeps") / Path(grid).stem
    done = sum(is_finished(root, p) for p in mine)
    err_console().print(
        f"modgen sweep {grid}: {len(points)} points, shard {index}/{count} has {len(mine)} ({done} finished) -> {root}"
    )
    if dry_run:
        for p in mine:
            state = "finished" if is_finished(root, p) else "to run"
            console().print(
                f"{p.id}  {p.recipe} {p.dataset} seed={p.seed} sigma={p.sigma:g} samples={p.samples}  "
                f"model={p.train_id}  {state}"
            )
        return
    root.mkdir(parents=True, exist_ok=True)
    write_plan(root, Path(grid).read_text(encoding="utf-8"), points, count)
    report = run_sweep(mine, regs, root, device=device, threads=threads, log=log.info)
    err_console().print(
        f"shard {index}/{count}: {len(report.ran)} run, {len(report.skipped)} skipped (finished), "
        f"{len(report.failed)} failed"
    )
    if report.failed:
        raise ModgenError(
            f"{len(report.failed)} point(s) failed: {', '.join(report.failed)}; see "
            f"{root}/runs/<id>/error.json. Fix the cause and run the same command again."
        )


def sweep_collect_cmd(
    folder: Path = typer.Argument(..., metavar="DIR", help="A sweep folder (the --out of modgen sweep run)."),
) -> None:
    """Merge every finished run of a sweep into one table (mean ± std over seeds)."""
    from modgen.sweeps import write_collected

    paths = write_collected(folder)
    console().print(paths["markdown"].read_text(encoding="utf-8"))
    err_console().print(f"written to {paths['markdown']} and {paths['json']}")


def sweep_synthesis_cmd(
    ctx: typer.Context,
    run_dir: Path = typer.Argument(..., metavar="RUN", help="A run folder."),
    param: str = typer.Option(
        "samples", "--param", metavar="PARAM", help="samples (Fig. 8) or sigma (Fig. 7)."
    ),
    values: str = typer.Option("10,50,100,200", "--values", metavar="LIST", help="Comma-separated values."),
    classifier: str = typer.Option(
        "weighted-softmax", "--classifier", metavar="NAME", help="A registered final classifier."
    ),
    device: opt.Device = "auto",
    threads: opt.RunThreads = None,
) -> None:
    """ZSL accuracy against the number of synthetic samples or sigma (Figs. 7-8), with a plot."""
    from modgen.pipeline import synthesis_curve

    curve, png = synthesis_curve(
        run_dir,
        get_state(ctx).registries,
        param=param,
        values=values,
        classifier=classifier,
        device=device,
        threads=threads,
    )
    for v, m in curve:
        console().print(f"{param}={v:g}: ZSL top-1 {m:.1f}")
    err_console().print(f"plot: {png}")
