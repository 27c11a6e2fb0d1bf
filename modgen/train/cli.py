"""CLI commands for training and using a run: ``train``, ``evaluate``, ``synthesize``,
``retrieve`` and ``sweep synthesis``. Mounted by :mod:`modgen.cli`."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from attrs import evolve
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from modgen.errors import ConfigError, DataError

if TYPE_CHECKING:
    from modgen.config import RecipeSpec
    from modgen.evaluate.protocols import EvaluationResult
    from modgen.plugins import Registries

__all__ = ["register_commands", "resolve_train_spec", "XLSA17_NAMES"]

XLSA17_NAMES = ("AWA1", "AWA2", "CUB", "SUN", "APY")


def resolve_train_spec(
    registries: Registries,
    recipe: str,
    *,
    config: Path | None = None,
    data: Path | None = None,
    dataset: str | None = None,
    episodes: int | None = None,
    seed: int | None = None,
    device: str | None = None,
    overrides: list[str] | None = None,
) -> RecipeSpec:
    """The spec ``modgen train`` runs: recipe (or a config file), data-set preset, flags, ``--set``.

    Without ``data`` and ``dataset`` it trains on the embedded ``digits`` data. With ``data``
    (an xlsa17 folder) the data set is ``dataset`` or, when that is omitted, the folder's name.
    """
    from modgen.cli import resolve_recipe
    from modgen.config import apply_overrides, spec_from_toml

    if data is not None and dataset is None:
        guess = Path(data).name.upper()
        if guess not in XLSA17_NAMES:
            raise ConfigError(
                f"--data {str(data)!r}: cannot tell which data set this is; add --dataset "
                f"({', '.join(XLSA17_NAMES)}, or a registered dataset name)"
            )
        dataset = guess
    dataset = dataset or "digits"
    if config is not None:
        if not Path(config).is_file():
            raise ConfigError(f"--config {str(config)!r}: no such file")
        spec = spec_from_toml(Path(config).read_text(encoding="utf-8"), source=str(config))
    else:
        spec = resolve_recipe(registries, recipe, dataset=dataset)
    flags: list[str] = []
    if data is not None:
        spec = evolve(spec, data=evolve(spec.data, root=str(data)))
    if episodes is not None:
        flags.append(f"trainer.episodes={episodes}")
    if seed is not None:
        flags.append(f"trainer.seed={seed}")
    if device is not None:
        flags.append(f'trainer.device="{device}"')
    return apply_overrides(spec, [*flags, *(overrides or [])])


def _progress_bar(console: Console) -> tuple[Progress, Callable[[int, int, dict[str, float]], None]]:
    progress = Progress(
        TextColumn("[bold]episode {task.completed}/{task.total}"),
        BarColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[losses]}"),
        console=console,
        transient=False,
    )
    state: dict[str, Any] = {}

    def update(episode: int, total: int, rec: dict[str, float]) -> None:
        if "task" not in state:
            state["task"] = progress.add_task("train", total=total, rate="", losses="")
        spe = rec.get("seconds_per_episode", 0.0)
        losses = " ".join(
            f"{k.split('/', 1)[1]}={rec[k]:.3g}"
            for k in ("loss/d", "loss/adv", "loss/ad", "loss/cls")
            if k in rec
        )
        progress.update(
            state["task"],
            completed=episode,
            rate=f"{1 / spe:.1f} ep/s" if spe > 0 else "",
            losses=losses,
        )

    return progress, update


def _results_table(result: EvaluationResult) -> Table:
    table = Table(
        title=f"{result.name} on {result.dataset} (seed {result.seed}, selected on {result.selected_on})",
        title_justify="left",
        show_edge=False,
    )
    for col in ("classifier", "ZSL top-1", "GZSL U", "GZSL S", "GZSL H"):
        table.add_column(col, justify="right" if col != "classifier" else "left")
    for clf, acc in result.zsl.items():
        g = result.gzsl.get(clf, {})
        table.add_row(
            clf,
            f"{100 * acc:.1f}",
            *(f"{100 * g[k]:.1f}" if k in g else "-" for k in ("u", "s", "h")),
        )
    return table


def _evaluate_and_report(outcome: Any, registries: Registries, console: Console, *, seed: int) -> Any:
    from modgen.evaluate import evaluate
    from modgen.report import plot_losses, write_results

    result = evaluate(
        outcome.assembly,
        outcome.data,
        outcome.spec.evaluation,
        registries,
        device=outcome.device,
        seed=seed,
        name=outcome.spec.name,
    )
    write_results(outcome.run.root, result)
    if outcome.run.metrics.exists():
        plot_losses(outcome.run.metrics, outcome.run.plots / "losses.png")
    console.print(_results_table(result))
    if outcome.spec.evaluation.retrieval_k:
        console.print(
            "retrieval " + ", ".join(f"AP@{k} {100 * v:.1f}" for k, v in sorted(result.retrieval.items()))
        )
    return result


def register_commands(app: typer.Typer, registries: Callable[[], Registries]) -> None:
    """Add the training and run commands to ``app``."""
    console = Console(highlight=False, soft_wrap=True)

    @app.command("train")
    def train_cmd(
        recipe: str = typer.Option(
            "amaz", "--recipe", "-r", help="A registered recipe (modgen list recipe)."
        ),
        config: Path | None = typer.Option(None, "--config", help="A recipe TOML file instead of --recipe."),
        data: Path | None = typer.Option(
            None, "--data", help="Folder of an xlsa17 data set (res101.mat, att_splits.mat)."
        ),
        dataset: str | None = typer.Option(
            None, "--dataset", help="digits, fashion-mnist, or AWA1/AWA2/CUB/SUN/APY with --data."
        ),
        episodes: int | None = typer.Option(None, "--episodes", help="Override trainer.episodes."),
        seed: int | None = typer.Option(None, "--seed", help="Override trainer.seed."),
        seeds: int = typer.Option(
            1, "--seeds", help="Train and evaluate this many seeds (seed, seed+1, ...)."
        ),
        device: str | None = typer.Option(None, "--device", help="auto, cpu, cuda or cuda:N."),
        out: Path | None = typer.Option(
            None, "--out", help="Run folder (default runs/<recipe>-<data>-seed<S>)."
        ),
        set_: list[str] = typer.Option([], "--set", help="Override any key: --set trainer.episodes=200."),
        resume: Path | None = typer.Option(None, "--resume", help="Continue the run in this folder."),
        no_eval: bool = typer.Option(
            False, "--no-eval", help="Train only; evaluate later with modgen evaluate."
        ),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
        threads: int = typer.Option(
            1,
            "--threads",
            help="CPU threads for torch; 0 keeps torch's default. The embedded data sets' networks run "
            "fastest on 1 (measured 19x faster than torch's default on 2 cores); use more for "
            "paper-width networks on a CPU.",
        ),
    ) -> None:
        """Train a recipe (default: amaz on the embedded digits data), then evaluate it."""
        if threads < 0:
            raise ConfigError(f"--threads: expected 0 (torch's default) or a positive integer, got {threads}")
        if threads:
            import torch

            torch.set_num_threads(threads)
        from modgen.config import apply_overrides, spec_from_toml
        from modgen.evaluate import aggregate
        from modgen.report import write_results
        from modgen.train.loop import train
        from modgen.train.run import RunDir

        regs = registries()
        if resume is not None:
            run = RunDir(resume)
            if not run.config.is_file():
                raise ConfigError(f"--resume {str(resume)!r}: not a run folder (no config.toml)")
            spec = spec_from_toml(run.config.read_text(encoding="utf-8"), source=str(run.config))
            flags = [f"trainer.episodes={episodes}"] if episodes is not None else []
            flags += [f'trainer.device="{device}"'] if device is not None else []
            spec = apply_overrides(spec, flags + list(set_))
            targets = [(spec, run.root)]
        else:
            spec = resolve_train_spec(
                regs,
                recipe,
                config=config,
                data=data,
                dataset=dataset,
                episodes=episodes,
                seed=seed,
                device=device,
                overrides=list(set_),
            )
            base = spec.trainer.seed
            targets = []
            for i in range(seeds):
                s = evolve(spec, trainer=evolve(spec.trainer, seed=base + i))
                name = f"{s.name}-{s.data.name or s.data.dataset}"
                root = out if out is not None else Path("runs") / name
                targets.append((s, (root / f"seed{base + i}") if seeds > 1 or out is None else root))
        results = []
        t0 = time.perf_counter()
        for s, root in targets:
            console.print(
                f"[bold]modgen train[/] recipe={s.name} data={s.data.name or s.data.dataset} "
                f"episodes={s.trainer.episodes} seed={s.trainer.seed} -> {root}"
            )
            if quiet:
                outcome = train(s, regs, out=root, resume=resume is not None)
            else:
                bar, update = _progress_bar(console)
                with bar:
                    outcome = train(s, regs, out=root, resume=resume is not None, progress=update)
            if outcome.rank != 0:
                continue  # under torchrun, rank 0 alone reports, evaluates and writes results
            console.print(
                f"trained {outcome.episodes} episodes in {outcome.seconds:.1f} s on {outcome.device} "
                f"({(outcome.episodes) / max(outcome.seconds, 1e-9):.1f} episodes/s)"
            )
            if not no_eval:
                results.append(_evaluate_and_report(outcome, regs, console, seed=s.trainer.seed))
        if len(results) > 1:
            root = out if out is not None else targets[0][1].parent
            write_results(root, results)
            agg = aggregate(results)
            console.print(f"mean +- std over {len(results)} seeds written to {root / 'results.md'}")
            del agg
        console.print(f"done in {time.perf_counter() - t0:.1f} s")

    @app.command("evaluate")
    def evaluate_cmd(
        run: Path = typer.Argument(..., help="A run folder."),
        seeds: int = typer.Option(1, "--seeds", help="Evaluate with this many synthesis seeds."),
        device: str = typer.Option("auto", "--device"),
        set_: list[str] = typer.Option(
            [], "--set", help="Override evaluation keys: --set evaluation.gzsl_seen=real."
        ),
    ) -> None:
        """Evaluate a trained run again (ZSL, GZSL, retrieval) and rewrite its results."""
        from modgen.config import apply_overrides
        from modgen.evaluate import evaluate
        from modgen.report import write_results
        from modgen.train.loop import load_run

        regs = registries()
        outcome = load_run(run, regs, device=device)
        spec = apply_overrides(outcome.spec, list(set_))
        results = []
        for i in range(seeds):
            r = evaluate(
                outcome.assembly,
                outcome.data,
                spec.evaluation,
                regs,
                device=outcome.device,
                seed=spec.trainer.seed + i,
                name=spec.name,
            )
            console.print(_results_table(r))
            results.append(r)
        paths = write_results(run, results)
        console.print(f"results written to {paths['markdown']}")

    @app.command("synthesize")
    def synthesize_cmd(
        run: Path = typer.Argument(..., help="A run folder."),
        classes: str = typer.Option(
            "unseen", "--classes", help="'unseen', 'seen', 'all' or class names, comma-separated."
        ),
        n: int = typer.Option(100, "--n", help="Features per class."),
        sigma: float | None = typer.Option(
            None, "--sigma", help="Noise std (default evaluation.sigma_test)."
        ),
        seed: int = typer.Option(0, "--seed"),
        out: Path | None = typer.Option(None, "--out", help="Output .npz (default RUN/synthetic.npz)."),
        device: str = typer.Option("auto", "--device"),
    ) -> None:
        """Synthesise features for classes and save them as .npz (features, labels, class_names)."""
        import numpy as np
        import torch

        from modgen.evaluate import synthesize
        from modgen.train.loop import load_run

        outcome = load_run(run, registries(), device=device)
        d = outcome.data
        ids = _class_ids(d, classes)
        gen = torch.Generator(device=outcome.device).manual_seed(seed)
        attrs = torch.as_tensor(d.semantics[ids], device=outcome.device)
        s = synthesize(
            outcome.assembly,
            attrs,
            n,
            sigma=outcome.spec.evaluation.sigma_test if sigma is None else sigma,
            generator=gen,
        )
        target = out if out is not None else Path(run) / "synthetic.npz"
        np.savez_compressed(
            target,
            features=s.features.cpu().numpy(),
            labels=np.asarray(ids)[s.labels.cpu().numpy()],
            class_names=np.asarray([d.class_names[i] for i in ids]),
        )
        console.print(f"{len(ids)} classes x {n} features -> {target}")

    @app.command("retrieve")
    def retrieve_cmd(
        run: Path = typer.Argument(..., help="A run folder."),
        k: list[int] = typer.Option([5, 10], "--k", help="Retrieve the top-k real unseen samples."),
        n: int = typer.Option(100, "--n", help="Synthetic features averaged per class."),
        seed: int = typer.Option(0, "--seed"),
        device: str = typer.Option("auto", "--device"),
    ) -> None:
        """Zero-shot retrieval (Section III-D): AP@k of class means of synthetic features."""
        import numpy as np
        import torch

        from modgen.evaluate import synthesize
        from modgen.evaluate.metrics import retrieval_average_precision
        from modgen.train.loop import load_run

        outcome = load_run(run, registries(), device=device)
        d = outcome.data
        ids = np.asarray(d.unseen_classes)
        gen = torch.Generator(device=outcome.device).manual_seed(seed)
        s = synthesize(
            outcome.assembly,
            torch.as_tensor(d.semantics[ids], device=outcome.device),
            n,
            sigma=outcome.spec.evaluation.sigma_test,
            generator=gen,
        )
        means = s.features.reshape(len(ids), n, -1).mean(1).cpu().numpy()
        db = d.features[d.test_unseen]
        for kk in k:
            ap = retrieval_average_precision(means, ids, db, d.labels[d.test_unseen], kk)
            console.print(f"AP@{kk}: {100 * ap:.1f}")

    sweep_app = typer.Typer(
        help="Sweeps: synthesis settings of one run; grids of runs.", no_args_is_help=True
    )

    @sweep_app.command("synthesis")
    def sweep_synthesis_cmd(
        run: Path = typer.Argument(..., help="A run folder."),
        param: str = typer.Option("samples", "--param", help="samples or sigma."),
        values: str = typer.Option("10,50,100,200", "--values", help="Comma-separated values."),
        classifier: str = typer.Option("weighted-softmax", "--classifier"),
        seeds: int = typer.Option(1, "--seeds"),
        device: str = typer.Option("auto", "--device"),
    ) -> None:
        """ZSL accuracy against the number of synthetic samples or sigma (Figs. 7-8)."""
        import json

        import numpy as np

        from modgen.evaluate import sweep_synthesis
        from modgen.report import plot_sweep
        from modgen.train.loop import load_run

        if param not in ("samples", "sigma"):
            raise ConfigError(f"--param: expected samples or sigma, got {param!r}")
        try:
            vals = [int(v) if param == "samples" else float(v) for v in values.split(",") if v.strip()]
        except ValueError as err:
            raise ConfigError(f"--values {values!r}: expected comma-separated numbers") from err
        regs = registries()
        outcome = load_run(run, regs, device=device)
        curves = [
            sweep_synthesis(
                outcome.assembly,
                outcome.data,
                outcome.spec.evaluation,
                regs,
                param=param,
                values=vals,
                classifier=classifier,
                device=outcome.device,
                seed=seed,
            )
            for seed in range(seeds)
        ]
        acc = np.array([[a for _, a in c] for c in curves])
        mean, std = acc.mean(0), acc.std(0)
        png = plot_sweep(
            vals,
            mean,
            std,
            "synthetic samples per class" if param == "samples" else "sigma",
            Path(run) / "plots" / f"sweep-{param}.png",
        )
        (Path(run) / f"sweep-{param}.json").write_text(
            json.dumps(
                {
                    "param": param,
                    "values": vals,
                    "mean": mean.tolist(),
                    "std": std.tolist(),
                    "classifier": classifier,
                    "seeds": seeds,
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
        for v, m, s in zip(vals, mean, std, strict=True):
            console.print(f"{param}={v}: ZSL top-1 {100 * m:.1f} +- {100 * s:.1f}")
        console.print(f"plot: {png}")

    try:
        from modgen.sweep import register_sweep_commands
    except ImportError:
        register_sweep_commands = None
    if register_sweep_commands is not None:
        register_sweep_commands(sweep_app, registries)
    app.add_typer(sweep_app, name="sweep")


def _class_ids(data: Any, classes: str) -> list[int]:
    import numpy as np

    if classes == "unseen":
        return [int(c) for c in data.unseen_classes]
    if classes == "seen":
        return [int(c) for c in data.seen_classes]
    if classes == "all":
        return [int(c) for c in np.union1d(data.seen_classes, data.unseen_classes)]
    names = [c.strip() for c in classes.split(",") if c.strip()]
    lookup = {n: i for i, n in enumerate(data.class_names)}
    missing = [n for n in names if n not in lookup]
    if missing:
        raise DataError(
            f"--classes: unknown class {missing[0]!r} in {data.name}; classes are {', '.join(data.class_names)}"
        )
    return [lookup[n] for n in names]
