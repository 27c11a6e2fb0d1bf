"""``modgen train``, ``evaluate``, ``synthesize``, ``retrieve``: thin commands over the pipeline.

Each command turns its flags into one pipeline call (``train``: :func:`~modgen.pipeline.resolve_spec`
or :func:`~modgen.pipeline.resume_spec`, then :func:`~modgen.pipeline.run_spec`) and prints what
it returns.
"""

from __future__ import annotations

import logging
import shlex
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from modgen.cli import options as opt
from modgen.cli.errors import set_resume_hint
from modgen.cli.toolkit import console, err_console, get_state

__all__ = ["register"]

log = logging.getLogger("modgen")


def _progress(ctx: typer.Context) -> tuple[Any, Any]:
    """A rich progress bar on stderr for training (none when quiet or not a terminal)."""
    state = get_state(ctx)
    stream = err_console()
    if getattr(state, "quiet", False) or not stream.is_terminal:
        last = {"t": 0.0}

        def plain(episode: int, total: int, rec: dict[str, float]) -> None:
            now = time.monotonic()
            if episode == total or now - last["t"] > 10:
                last["t"] = now
                log.info(
                    "episode %d/%d (%.1f episodes/s)",
                    episode,
                    total,
                    1 / max(rec["seconds_per_episode"], 1e-9),
                )

        return _Null(), plain
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("episode {task.completed}/{task.total}"),
        BarColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[losses]}"),
        console=stream,
        transient=False,
    )
    tasks: dict[str, Any] = {}

    def update(episode: int, total: int, rec: dict[str, float]) -> None:
        if "task" not in tasks:
            tasks["task"] = progress.add_task("train", total=total, rate="", losses="")
        spe = rec.get("seconds_per_episode", 0.0)
        losses = " ".join(
            f"{k.split('/', 1)[1]}={rec[k]:.3g}"
            for k in ("loss/d", "loss/adv", "loss/ad", "loss/cls")
            if k in rec
        )
        progress.update(
            tasks["task"], completed=episode, rate=f"{1 / spe:.1f} ep/s" if spe > 0 else "", losses=losses
        )

    return progress, update


class _Null:
    def __enter__(self) -> _Null:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def _say(line: str) -> None:
    log.info(line)


def _results_table(result: Any) -> Any:
    from rich.table import Table

    n = result.eval_seeds
    table = Table(
        title=f"{result.name} on {result.dataset} (%, mean ± std over {n} evaluation seeds; "
        f"classifier settings selected on: {result.selected_on})",
        title_justify="left",
        show_edge=False,
    )
    for col in ("classifier", "ZSL top-1", "GZSL U", "GZSL S", "GZSL H"):
        table.add_column(col, justify="left" if col == "classifier" else "right")
    from modgen.report import format_stat

    for clf, acc in result.zsl.items():
        g, gs = result.gzsl.get(clf, {}), result.gzsl_std.get(clf, {})
        table.add_row(
            clf,
            format_stat({"mean": acc, "std": result.zsl_std.get(clf, 0.0)}, n),
            *(
                format_stat({"mean": g[m], "std": gs.get(m, 0.0)}, n) if m in g else "-"
                for m in ("u", "s", "h")
            ),
        )
    return table


def _print_result(result: Any) -> None:
    out = console()
    out.print(_results_table(result))
    q = result.quality
    if q:
        out.print(
            "without a classifier: nearest synthetic class mean (cosine) "
            f"unseen {q['ncm_cosine_unseen']:.1f}, seen {q['ncm_cosine_seen']:.1f}"
            + (f" (real class means {q['ncm_cosine_seen_real']:.1f})" if "ncm_cosine_seen_real" in q else "")
            + "; class-mean gap unseen "
            f"{q['mean_gap_unseen']:.2f}; "
            + ", ".join(
                f"{k.replace('retrieval@', 'AP@')} {v:.1f}"
                for k, v in q.items()
                if k.startswith("retrieval@")
            )
        )
    for name, f in result.floor.items():
        edge = f", chosen on a grid edge: {', '.join(f['edge'])}" if f.get("edge") else ""
        out.print(
            f"closed-form floor {name}: ZSL {f['zsl']:.1f}, GZSL H {f.get('gzsl_h', float('nan')):.1f}{edge}"
        )
    for warning in result.warnings:
        out.print(f"warning: {warning}", style="bold yellow")


def register(app: typer.Typer) -> None:
    """Add ``train``, ``evaluate``, ``synthesize`` and ``retrieve`` to ``app``."""
    app.command("train")(train_cmd)
    app.command("evaluate")(evaluate_cmd)
    app.command("synthesize")(synthesize_cmd)
    app.command("retrieve")(retrieve_cmd)


def train_cmd(
    ctx: typer.Context,
    recipe: opt.Recipe = "amaz",
    config: opt.ConfigFile = None,
    dataset: opt.Dataset = None,
    data: opt.DataFolder = None,
    name: opt.DataName = None,
    preset: opt.Preset = None,
    episodes: opt.Episodes = None,
    seed: opt.Seed = None,
    seeds: opt.Seeds = 1,
    device: Annotated[
        str | None, typer.Option("--device", metavar="DEVICE", help="auto, cpu, cuda or cuda:N (run.device).")
    ] = None,
    threads: opt.Threads = None,
    out: opt.OutFolder = None,
    set_: opt.Overrides = [],  # noqa: B006 - typer reads the default, never mutates it
    resume: opt.Resume = None,
    overwrite: opt.Overwrite = False,
    no_eval: opt.NoEval = False,
    logger: opt.Loggers = [],  # noqa: B006 - typer reads the default, never mutates it
) -> None:
    """Train a recipe (default: amaz on the embedded digits data), then evaluate it."""
    from modgen.pipeline import resolve_spec, resume_spec

    regs = get_state(ctx).registries
    if resume is not None:
        _refuse_changes(
            {
                "--recipe": _given(ctx, "recipe"),
                "--config": config,
                "--dataset": dataset,
                "--data": data,
                "--name": name,
                "--preset": preset,
                "--seed": seed,
                "--set": set_,
                "--out": out,
                "--overwrite": overwrite,
                "--seeds": seeds != 1,
            }
        )
        spec = resume_spec(regs, resume, episodes=episodes, device=device, threads=threads)
    else:
        if config is not None and _given(ctx, "recipe"):
            from modgen.errors import ConfigError

            raise ConfigError(
                f"--config {str(config)!r} is a whole recipe, so --recipe {recipe!r} cannot be combined with it; "
                "drop one of them (to change the file's settings use --set)"
            )
        spec = resolve_spec(
            regs,
            recipe,
            config=config,
            dataset=dataset,
            data=data,
            name=name,
            preset=preset,
            overrides=set_,
            episodes=episodes,
            seed=seed,
            device=device,
            threads=threads,
        )
    if logger:
        spec = _with_loggers(spec, logger, get_state(ctx).registries)
    _train(
        ctx,
        spec,
        resume if resume is not None else out,
        seeds=seeds,
        resume=resume is not None,
        overwrite=overwrite,
        evaluate=not no_eval,
    )


def _with_loggers(spec: Any, names: list[str], registries: Any) -> Any:
    """``spec`` with the ``--logger`` names added to ``run.loggers`` (checked like the rest)."""
    from attrs import evolve

    from modgen.pipeline import validate_spec

    return validate_spec(evolve(spec, run=evolve(spec.run, loggers=(*spec.run.loggers, *names))), registries)


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether the user gave option ``name`` (typer may vendor click: compare the source by name)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name != "DEFAULT"


def _refuse_changes(flags: dict[str, Any]) -> None:
    """With ``--resume``, a flag that chooses a spec or a folder is an error (the run has its own)."""
    from modgen.errors import ConfigError

    given = [flag for flag, value in flags.items() if value]
    if given:
        raise ConfigError(
            f"--resume continues a run with its own settings; {given[0]} cannot change them (only "
            "--episodes, --device and --threads can); start a new run instead"
        )


def _train(
    ctx: typer.Context,
    spec: Any,
    out: Path | None,
    *,
    seeds: int,
    resume: bool,
    overwrite: bool,
    evaluate: bool,
) -> None:
    """Run the spec through the pipeline (:func:`modgen.pipeline.run_spec`), with progress, and print
    the results."""
    from modgen.pipeline import run_folder, run_spec
    from modgen.rundir import RunDir

    target = run_folder(spec, out, seeds=seeds)
    shown = target if seeds == 1 else target / "seed<S>"
    set_resume_hint(
        f"modgen train --resume {shlex.quote(str(shown))}",
        None if seeds > 1 else RunDir(target).checkpoint,
    )
    err_console().print(
        f"modgen train: recipe={spec.name} data={spec.data.label} episodes={spec.trainer.params.get('episodes')} "
        f"seed={spec.run.seed}{f' seeds={seeds}' if seeds > 1 else ''} -> {target}"
    )
    t0 = time.perf_counter()
    progress, update = _progress(ctx)
    with progress:
        results = run_spec(
            spec,
            get_state(ctx).registries,
            seeds=seeds,
            out=out,
            resume=resume,
            overwrite=overwrite,
            evaluate=evaluate,
            progress=update,
            log=_say,
        )
    set_resume_hint(None)
    for r in results:
        if r.reused:
            err_console().print(
                f"{r.run.root}: already done (trained and evaluated with these settings); its results are "
                "below. To train it again add --overwrite; to add a seed, --seed N (one more) or --seeds N."
            )
        if r.result is not None:
            _print_result(r.result)
    if seeds > 1 and any(r.result is not None for r in results):
        done = "in" if all(r.reused for r in results) else "written to"
        err_console().print(f"mean ± std over {seeds} seeds {done} {target / 'results.md'}")
    err_console().print(f"done in {time.perf_counter() - t0:.1f} s; run folder: {target}")


def evaluate_cmd(
    ctx: typer.Context,
    run_dir: opt.RunFolder,
    set_: Annotated[
        list[str],
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Override evaluation.* settings, e.g. --set evaluation.gzsl_seen=real.",
        ),
    ] = [],  # noqa: B006 - typer reads the default, never mutates it
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="DIR", help="Write the evaluation here (default RUN/evaluations/<id>)."
        ),
    ] = None,
    device: opt.Device = "auto",
    threads: opt.Threads = None,
) -> None:
    """Evaluate a trained run again into a new evaluation record (the run's own results stay)."""
    from modgen.pipeline import evaluate_run

    result, folder = evaluate_run(
        run_dir, get_state(ctx).registries, overrides=set_, out=out, device=device, threads=threads, log=_say
    )
    _print_result(result)
    err_console().print(f"results written to {folder / 'results.md'}")


def synthesize_cmd(
    ctx: typer.Context,
    run_dir: opt.RunFolder,
    classes: opt.Classes = "unseen",
    n: opt.PerClass = 100,
    sigma: Annotated[
        float | None,
        typer.Option("--sigma", min=0.0, metavar="SIGMA", help="Noise std (default evaluation.sigma_test)."),
    ] = None,
    seed: opt.NoiseSeed = 0,
    out: Annotated[
        Path | None, typer.Option("--out", metavar="FILE", help="Output .npz (default RUN/synthetic.npz).")
    ] = None,
    device: opt.Device = "auto",
    threads: opt.Threads = None,
) -> None:
    """Synthesise features for classes and save them as .npz (features, labels, class_names)."""
    from modgen.pipeline import synthesize_run

    target, count = synthesize_run(
        run_dir,
        get_state(ctx).registries,
        classes=classes,
        n=n,
        sigma=sigma,
        seed=seed,
        out=out,
        device=device,
        threads=threads,
    )
    err_console().print(f"{count} classes x {n} features -> {target}")


def retrieve_cmd(
    ctx: typer.Context,
    run_dir: opt.RunFolder,
    k: Annotated[
        list[int],
        typer.Option("--k", min=1, metavar="K", help="Retrieve the top-k real unseen samples (repeatable)."),
    ] = [5, 10],  # noqa: B006 - typer reads the default, never mutates it
    n: Annotated[
        int, typer.Option("--n", min=1, metavar="N", help="Synthetic features averaged per class.")
    ] = 100,
    seed: opt.NoiseSeed = 0,
    device: opt.Device = "auto",
    threads: opt.Threads = None,
) -> None:
    """Zero-shot retrieval (Section III-D): precision@k of synthetic class means, averaged over classes."""
    from modgen.pipeline import retrieve_run

    for kk, ap in retrieve_run(
        run_dir, get_state(ctx).registries, k=k, n=n, seed=seed, device=device, threads=threads
    ).items():
        console().print(f"AP@{kk}: {ap:.1f}")
