"""``modgen data features``: images to an xlsa17-layout folder through a backbone."""

from __future__ import annotations

import logging
import shlex
import time
from pathlib import Path
from typing import Any

import typer

from modgen.cli.toolkit import console, err_console, get_state
from modgen.errors import ConfigError

__all__ = ["features_command"]

log = logging.getLogger("modgen")


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _params(items: list[str]) -> dict[str, Any]:
    from modgen.config import parse_override

    out: dict[str, Any] = {}
    for item in items:
        parts, value = parse_override(item)
        if len(parts) != 1:
            raise ConfigError(f"--param {item!r}: expected key=value with a plain key, e.g. dim=16")
        out[parts[0]] = value
    return out


class _Bar:
    """A rich progress bar on stderr, or a log line every 10 s when quiet or not a terminal."""

    def __init__(self, ctx: typer.Context) -> None:
        stream = err_console()
        self.rich = not getattr(get_state(ctx), "quiet", False) and stream.is_terminal
        self.last = 0.0
        self.task: Any = None
        if self.rich:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress: Any = Progress(
                TextColumn("features"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=stream,
            )

    def __enter__(self) -> _Bar:
        if self.rich:
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.rich:
            self.progress.__exit__(*exc)

    def __call__(self, done: int, total: int) -> None:
        if self.rich:
            if self.task is None:
                self.task = self.progress.add_task("features", total=total)
            self.progress.update(self.task, completed=done)
            return
        now = time.monotonic()
        if done == total or now - self.last > 10:
            self.last = now
            log.info("features: %d/%d images", done, total)


def features_command(
    ctx: typer.Context,
    source: Path = typer.Argument(
        ..., help="An image folder (one sub-folder per class) or an .npz of arrays."
    ),
    out: Path = typer.Argument(..., help="The xlsa17-layout folder to create (must not exist, or be empty)."),
    attributes: Path | None = typer.Option(
        None,
        "--attributes",
        "-a",
        metavar="CSV",
        help="Class attributes: a header, then 'class,value,...' rows.",
    ),
    unseen: str = typer.Option("", "--unseen", metavar="NAMES", help="The unseen classes, comma-separated."),
    val: str = typer.Option(
        "",
        "--val",
        metavar="NAMES",
        help="Validation classes (seen, held out for model selection), comma-separated.",
    ),
    split: Path | None = typer.Option(
        None,
        "--split",
        metavar="FILE",
        help="'class,role' lines (role train, val or unseen) instead of --unseen/--val.",
    ),
    backbone: str = typer.Option(
        "efficientnet-lite0",
        "--backbone",
        metavar="NAME",
        help="A registered backbone (modgen list backbone).",
    ),
    weights: Path | None = typer.Option(
        None,
        "--weights",
        metavar="PATH",
        help="A local weights file (default: the backbone's installed package).",
    ),
    sha256: str | None = typer.Option(
        None, "--sha256", metavar="HEX", help="The sha256 the --weights file must have."
    ),
    param: list[str] = typer.Option(
        [], "--param", "-p", metavar="KEY=VALUE", help="A backbone parameter (repeatable)."
    ),
    image_size: int | None = typer.Option(
        None,
        "--image-size",
        min=8,
        metavar="N",
        help="Square input side (default: the backbone's training size).",
    ),
    batch_size: int = typer.Option(64, "--batch-size", min=1, metavar="N", help="Images per forward pass."),
    test_seen: float = typer.Option(
        0.2,
        "--test-seen-fraction",
        min=0.0,
        max=0.99,
        metavar="X",
        help="Share of each seen class's images in test_seen.",
    ),
    seed: int = typer.Option(0, "--seed", min=0, metavar="N", help="Seed of the trainval/test_seen draw."),
    threads: int = typer.Option(
        0, "--threads", min=0, metavar="N", help="CPU threads for torch (0: every core, up to 16)."
    ),
    device: str = typer.Option("cpu", "--device", metavar="NAME", help="cpu, cuda, cuda:N or auto."),
) -> None:
    """Turn images into an xlsa17-layout folder (res101.mat + att_splits.mat) through a backbone."""
    from modgen.data.images import make_xlsa17_from_images
    from modgen.runtime import SMALL_NETWORK_PARAMS, apply_threads, resolve_device

    params = _params(param)
    for key, value in (("weights", weights), ("sha256", sha256)):
        if value is not None:
            if key in params:
                raise ConfigError(f"--param {key}=...: use --{key} instead")
            params[key] = str(value)
    dev = resolve_device(device, key="--device")
    used = apply_threads(threads, dev, SMALL_NETWORK_PARAMS)  # a CNN over images: every core by default
    with _Bar(ctx) as bar:
        build = make_xlsa17_from_images(
            source,
            out,
            attributes=attributes,
            unseen=_names(unseen),
            val=_names(val),
            split_file=split,
            backbone=backbone,
            backbone_params=params,
            image_size=image_size,
            batch_size=batch_size,
            test_seen_fraction=test_seen,
            seed=seed,
            device=str(dev),
            registries=get_state(ctx).registries,
            progress=bar,
        )
    info = build.info
    split_info, samples = info["split"], info["samples"]
    console().print(
        f"Wrote {build.folder}: {samples['total']} images, {info['feature_dim']}-d {backbone} features "
        f"({info['preprocessing']['image_size']} px, {info['extraction']['seconds']:.0f} s on {used} thread(s)); "
        f"classes: {len(split_info['train'])} train, {len(split_info['val'])} val, {len(split_info['unseen'])} unseen."
    )
    console().print(f"Train on it: modgen train --recipe amaz --data {shlex.quote(str(build.folder))}")
