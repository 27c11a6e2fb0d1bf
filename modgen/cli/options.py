"""The options the commands share, declared once (typer ``Annotated`` aliases)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modgen.cli import completion

__all__ = [
    "RunFolder",
    "Device",
    "NoiseSeed",
    "Overrides",
    "Loggers",
    "Recipe",
    "ConfigFile",
    "Dataset",
    "DataFolder",
    "DataName",
    "Preset",
    "Episodes",
    "Seed",
    "Seeds",
    "Threads",
    "RunThreads",
    "OutFolder",
    "Resume",
    "Overwrite",
    "NoEval",
    "Classes",
    "PerClass",
]

SEED_MAX = 2**63 - 1

RunFolder = Annotated[Path, typer.Argument(metavar="RUN", help="A run folder.")]
Device = Annotated[str, typer.Option("--device", metavar="DEVICE", help="auto, cpu, cuda or cuda:N.")]
NoiseSeed = Annotated[
    int, typer.Option("--seed", min=0, max=SEED_MAX, metavar="N", help="Seed of the noise.")
]
Overrides = Annotated[
    list[str],
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override a setting, KEY=VALUE (repeatable), e.g. --set trainer.episodes=200.",
        autocompletion=completion.complete_set,
    ),
]
Loggers = Annotated[
    list[str],
    typer.Option(
        "--logger",
        metavar="NAME",
        help="Also log to NAME (repeatable): tensorboard, mlflow or a plugin's logger (run.loggers).",
        autocompletion=completion.complete_logger,
    ),
]
Recipe = Annotated[
    str,
    typer.Option(
        "--recipe",
        "-r",
        metavar="NAME",
        help="A registered recipe (modgen list recipe).",
        autocompletion=completion.complete_recipe,
    ),
]
ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="A recipe TOML file (modgen recipe show) instead of --recipe (not both).",
    ),
]
Dataset = Annotated[
    str | None,
    typer.Option(
        "--dataset",
        metavar="NAME",
        help="digits, fashion-mnist, a registered data set, or AWA1/AWA2/CUB/SUN/APY with --data.",
        autocompletion=completion.complete_dataset,
    ),
]
DataFolder = Annotated[
    Path | None,
    typer.Option(
        "--data",
        metavar="DIR",
        help="A data folder; alone, any xlsa17-layout folder (res101.mat, att_splits.mat).",
    ),
]
DataName = Annotated[
    str | None,
    typer.Option("--name", metavar="NAME", help="The data set's name in reports (default: the folder's)."),
]
Preset = Annotated[
    str | None,
    typer.Option(
        "--preset",
        metavar="NAME",
        help="A preset (modgen list preset); default: the data set's own.",
        autocompletion=completion.complete_preset,
    ),
]
Episodes = Annotated[
    int | None, typer.Option("--episodes", min=1, metavar="N", help="Training episodes (trainer.episodes).")
]
Seed = Annotated[
    int | None, typer.Option("--seed", min=0, max=SEED_MAX, metavar="N", help="The run's seed (run.seed).")
]
Seeds = Annotated[
    int,
    typer.Option("--seeds", min=1, metavar="N", help="Train and evaluate this many seeds: seed, seed+1, ..."),
]
Threads = Annotated[
    int | None,
    typer.Option(
        "--threads", min=0, metavar="N", help="CPU threads for torch; 0: modgen's policy (run.threads)."
    ),
]
RunThreads = Annotated[
    int | None,
    typer.Option(
        "--threads",
        min=0,
        metavar="N",
        help="CPU threads for torch (default: the run's; 0: modgen's policy).",
    ),
]
OutFolder = Annotated[
    Path | None,
    typer.Option("--out", metavar="DIR", help="Run folder (default runs/<recipe>-<data>-<id>/seed<S>)."),
]
Resume = Annotated[
    Path | None,
    typer.Option("--resume", metavar="RUN", help="Continue the run in this folder from its last checkpoint."),
]
Overwrite = Annotated[
    bool, typer.Option("--overwrite", help="Replace the run in --out (its files are deleted first).")
]
NoEval = Annotated[bool, typer.Option("--no-eval", help="Train only; evaluate later with modgen evaluate.")]
Classes = Annotated[
    str,
    typer.Option(
        "--classes", metavar="CLASSES", help="'unseen', 'seen', 'all' or class names, comma-separated."
    ),
]
PerClass = Annotated[int, typer.Option("--n", min=1, metavar="N", help="Features per class.")]
