"""Plots write PNG files; their inputs are checked."""

from __future__ import annotations

import json

import numpy as np
import pytest

from modgen.errors import ConfigError, DataError, ShapeError
from modgen.report import plot_losses, plot_sweep, plot_tsne, read_metrics

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def is_png(path) -> bool:
    return path.exists() and path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 1000


def write_metrics(path, n: int = 20) -> None:
    lines = []
    for ep in range(n):
        rec = {"episode": ep * 25, "loss/d": -1.0 / (ep + 1), "loss/adv": 0.5, "loss/attr": 0.1 * ep}
        rec.update({"loss/cls": 2.0 - 0.05 * ep, "loss/ad": 1.0 / (ep + 1), "time": 0.1})
        lines.append(json.dumps(rec))
    lines.insert(5, json.dumps({"event": "checkpoint"}))  # records without losses are skipped
    path.write_text("\n".join(lines) + "\n\n")


def test_plot_losses_writes_png(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    write_metrics(metrics)
    assert len(read_metrics(metrics)) == 21
    out = plot_losses(metrics, tmp_path / "plots" / "losses.png")
    assert is_png(out)
    only = plot_losses(metrics, tmp_path / "d.png", keys=["loss/d"])
    assert is_png(only) and only.stat().st_size < out.stat().st_size


def test_plot_losses_errors(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text('{"episode": 1, "loss/d": 1.0}\n[1, 2]\n')
    with pytest.raises(DataError, match=r"metrics.jsonl:2: expected a JSON object, got list"):
        plot_losses(metrics, tmp_path / "x.png")
    metrics.write_text('{"episode": 1, "loss/d": 1.0}\n{oops\n{"episode": 2, "loss/d": 0.5}\n')
    with pytest.raises(DataError, match=r"metrics.jsonl:2: not valid JSON"):
        plot_losses(metrics, tmp_path / "x.png")
    metrics.write_text('{"loss/d": 1.0}\n')
    with pytest.raises(DataError, match=r"record 1 has losses but no 'episode' key"):
        plot_losses(metrics, tmp_path / "x.png")
    metrics.write_text('{"episode": 1}\n')
    with pytest.raises(DataError, match=r"no loss values to plot"):
        plot_losses(metrics, tmp_path / "x.png")
    with pytest.raises(DataError, match=r"no metrics file"):
        plot_losses(tmp_path / "missing.jsonl", tmp_path / "x.png")


def test_a_torn_last_line_is_dropped_and_evaluation_records_are_left_out(tmp_path):
    """A run killed (or a disk filled) mid-append leaves a torn last line: the file stays readable."""
    metrics = tmp_path / "metrics.jsonl"
    write_metrics(metrics, n=4)
    with metrics.open("a") as fh:
        fh.write('{"kind": "eval", "episode": 80, "zsl/svm": 50.0}\n{"episode": 100, "loss/d": 0.')
    records = read_metrics(metrics)
    assert [r.get("episode") for r in records] == [0, 25, 50, 75, None]  # the eval record is left out
    assert all(r.get("kind", "train") == "train" for r in records)
    assert is_png(plot_losses(metrics, tmp_path / "losses.png"))


def test_plot_tsne_writes_png(tmp_path):
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(c, 0.3, size=(30, 8)) for c in range(3)]).astype(np.float32)
    y = np.repeat([4, 5, 6], 30)
    names = [str(i) for i in range(10)]
    out = plot_tsne(X, y, names, tmp_path / "tsne.png", max_points=60, seed=1, max_iter=250)
    assert is_png(out)
    with pytest.raises(ShapeError, match=r"features \(n, D\) and labels \(n,\) expected"):
        plot_tsne(X, y[:-1], names, tmp_path / "bad.png")


def test_plot_sweep_writes_png(tmp_path):
    out = plot_sweep(
        [10, 50, 100, 200], [0.5, 0.6, 0.65, 0.66], [0.02, 0.02, 0.01, 0.01], "samples", tmp_path / "s.png"
    )
    assert is_png(out)
    multi = plot_sweep(
        [0.5, 1.0, 2.0],
        {"AWA2": [0.6, 0.7, 0.65], "CUB": [0.5, 0.55, 0.5]},
        None,
        "sigma",
        tmp_path / "m.png",
    )
    assert is_png(multi)
    with pytest.raises(ShapeError, match=r"curve 'mean' has 2 points for 3 values"):
        plot_sweep([1, 2, 3], [0.1, 0.2], None, "x", tmp_path / "bad.png")
    with pytest.raises(ConfigError, match=r"expected a .png file name"):
        plot_sweep([1, 2], [0.1, 0.2], None, "x", tmp_path / "bad.jpg")


def _drawn(fig):
    fig.canvas.draw()
    return fig, fig.canvas.get_renderer()


def test_tsne_legend_is_outside_the_axes():
    from modgen.report.plots import tsne_figure

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(120, 2))
    labels = np.repeat(np.arange(6), 20)
    sources = np.tile(["real", "synthetic"], 60)
    fig, renderer = _drawn(tsne_figure(emb, labels, {i: f"class {i}" for i in range(6)}, sources))
    (ax,) = fig.axes
    assert ax.get_legend() is None and len(fig.legends) == 1
    legend = fig.legends[0].get_window_extent(renderer)
    axes = ax.get_window_extent(renderer)
    assert legend.x0 >= axes.x1, (legend, axes)  # beside the points, not over them
    assert fig.bbox.x0 <= legend.x0 and legend.x1 <= fig.bbox.x1 + 1  # and inside the figure
    assert "class 3 (synthetic)" in [t.get_text() for t in fig.legends[0].get_texts()]


def test_comparison_bars_are_labelled_by_name_inside_the_figure():
    from modgen.report.plots import comparison_figure

    names = ["amaz-digits-5d1f2e3a", "zsml-digits-0a9b8c7d", "clswgan-digits-77aa66bb"]
    labels = [[n, f"recipe-{n.split('-')[0]}", "softmax"] for n in names]
    fig, renderer = _drawn(comparison_figure(labels, [40.0, 45.0, 30.0], [1.0, 2.0, 0.5], "ZSL top-1 (%)"))
    (ax,) = fig.axes
    ticks = [t for t in ax.get_yticklabels() if t.get_text()]
    assert [t.get_text() for t in ticks] == [f"{n} / recipe-{n.split('-')[0]}" for n in names]
    for tick in ticks:  # whole, not cut at the figure's edge
        box = tick.get_window_extent(renderer)
        assert fig.bbox.x0 - 1 <= box.x0 and box.x1 <= fig.bbox.x1 + 1, (tick.get_text(), box, fig.bbox)
    assert ax.get_title() == "softmax"  # what every bar shares goes to the title
    assert ax.get_xlabel() == "ZSL top-1 (%)"


def test_loss_titles_are_prose():
    from modgen.report.plots import LOSS_LABELS, losses_figure
    from modgen.train.base import loss_parts

    keys = list(loss_parts(1, {"wasserstein": 1, "gp": 1}, 1, 1, {"adv": 1, "attr": 1, "cls": 1}, 1, 1))
    assert set(keys) <= set(LOSS_LABELS), set(keys) - set(LOSS_LABELS)  # every logged part has a name
    fig = losses_figure({k: ([0, 1], [1.0, 0.5]) for k in [*keys, "loss/plugin_term"]})
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == len(keys) + 1 and "plugin term" in titles
    assert all(t and "/" not in t and "_" not in t.split(" L_")[0] for t in titles), titles
