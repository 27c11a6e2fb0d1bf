"""``modgen data``: inspect data sets, make semi-synthetic ones, turn images into features."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from modgen.cli.data_features import features_command
from modgen.cli.toolkit import ModgenGroup, console, err_console, get_state
from modgen.errors import ConfigError

__all__ = ["register", "info_tables"]

data_app = typer.Typer(
    cls=ModgenGroup,
    no_args_is_help=True,
    help="Inspect data sets, make semi-synthetic ones, and turn images into features.",
)
data_app.command("features")(features_command)


def register(app: typer.Typer) -> None:
    """Mount ``modgen data`` on ``app``."""
    app.add_typer(data_app, name="data")


_MAX_NAMES = 30


def _parse_options(items: list[str]) -> dict[str, Any]:
    from modgen.config import parse_override

    out: dict[str, Any] = {}
    for item in items:
        parts, value = parse_override(item)
        if len(parts) != 1:
            raise ConfigError(f"--option {item!r}: expected key=value with a plain key, e.g. pca=32")
        out[parts[0]] = value
    return out


def _names(names: list[str], show_all: bool) -> str:
    if show_all or len(names) <= _MAX_NAMES:
        return ", ".join(names) or "-"
    return ", ".join(names[:_MAX_NAMES]) + f", ... (+{len(names) - _MAX_NAMES} more; --all-classes)"


def info_tables(summary: dict[str, Any], *, all_classes: bool = False) -> list[Table]:
    """Rich tables of a :meth:`ZSLData.summary`: overview, splits, classes, preprocessing."""
    overview = Table(title=f"Data set {summary['name']}", show_header=False)
    overview.add_column("field", style="bold")
    overview.add_column("value")
    for key in ("source", "samples", "feature_dim", "attr_dim", "num_classes"):
        overview.add_row(key, str(summary[key]))

    splits = Table(title="Splits")
    for col in ("split", "samples", "classes"):
        splits.add_column(col, justify="left" if col == "split" else "right")
    for name, sizes in summary["splits"].items():
        splits.add_row(name, str(sizes["samples"]), str(sizes["classes"]))

    classes = Table(title="Classes")
    classes.add_column("kind", style="bold")
    classes.add_column("count", justify="right")
    classes.add_column("names")
    for kind in ("seen_classes", "unseen_classes", "val_classes"):
        names = summary[kind]
        classes.add_row(kind.removesuffix("_classes"), str(len(names)), _names(names, all_classes))

    prep = Table(title="Preprocessing", show_header=False)
    prep.add_column("step", style="bold")
    prep.add_column("value")
    for key, value in summary["preprocessing"].items():
        prep.add_row(str(key), str(value))
    return [overview, splits, classes, prep]


@data_app.command("info")
def info(
    ctx: typer.Context,
    target: str = typer.Argument(
        ..., help="A registered data set (digits, fashion-mnist, ...) or an xlsa17 folder."
    ),
    dataset: str = typer.Option(
        "", "--dataset", "-d", metavar="NAME", help="The xlsa17 data set name (AWA2, CUB, ...)."
    ),
    root: str = typer.Option("", "--root", metavar="DIR", help="Folder of a registered data set's files."),
    semantics: str = typer.Option("att", metavar="NAME", help="att, original_att or sent (xlsa17)."),
    validation: bool = typer.Option(False, "--validation", help="Show the validation view."),
    option: list[str] = typer.Option(
        [], "--option", "-o", metavar="KEY=VALUE", help="Loader option key=value (repeatable)."
    ),
    all_classes: bool = typer.Option(False, "--all-classes", help="List every class name."),
) -> None:
    """Show a data set's classes, splits, sizes, dimensions and preprocessing."""
    from attrs import evolve

    from modgen.config import spec_from_dict, spec_to_dict
    from modgen.data import load_dataset
    from modgen.pipeline import resolve_spec

    registries = get_state(ctx).registries
    if target in registries.dataset:
        spec = resolve_spec(registries, dataset=target, data=root or None, name=dataset or None)
    elif Path(target).expanduser().is_dir():
        spec = resolve_spec(registries, data=target, name=dataset or None)
    else:
        raise ConfigError(
            f"{target!r} is neither a registered data set ({', '.join(registries.dataset.names())}) nor a folder"
        )
    section = evolve(spec.data, semantics=semantics, validation=validation, options=_parse_options(option))
    section = spec_from_dict(type(section), spec_to_dict(section))
    data = load_dataset(registries, section)
    out = console()
    for table in info_tables(data.summary(), all_classes=all_classes):
        out.print(table)


@data_app.command("make-semisynthetic")
def make_semisynthetic_command(
    att_splits: Path = typer.Argument(..., help="A real xlsa17 att_splits.mat (or its folder)."),
    out: Path = typer.Argument(..., help="Folder to write res101.mat and a copy of att_splits.mat into."),
    feature_dim: int = typer.Option(2048, "--feature-dim", metavar="D", help="Feature width D."),
    seed: int = typer.Option(0, "--seed", metavar="N", help="Seed of every random choice."),
    samples: str = typer.Option(
        "real", "--samples", metavar="real|N", help="'real' split sizes, or a per-class cap per split."
    ),
    noise: float = typer.Option(
        0.5, "--noise", metavar="X", help="Within-class noise relative to the class-mean spread."
    ),
    image_files: bool = typer.Option(True, help="Write the image_files cell array (slow for large sets)."),
) -> None:
    """Write a semi-synthetic res101.mat beside a copy of ATT_SPLITS (never for accuracy claims)."""
    from modgen.data.semisynthetic import make_semisynthetic

    if samples != "real" and not samples.isdigit():
        raise ConfigError(f"--samples: expected 'real' or a positive integer, got {samples!r}")
    path = make_semisynthetic(
        att_splits,
        out,
        feature_dim=feature_dim,
        samples=samples if samples == "real" else int(samples),
        seed=seed,
        noise=noise,
        image_files=image_files,
    )
    err_console().print(
        f"Wrote {path} (semi-synthetic: for shapes and speed only, never for accuracy claims). "
        f"Train on it with: modgen train --data {shlex.quote(str(out))} --name {shlex.quote(out.name)}"
    )
