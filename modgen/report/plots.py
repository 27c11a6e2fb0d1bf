"""PNG plots of a run: loss curves (Fig. 9), t-SNE of synthetic features (Fig. 6), and
accuracy against a synthesis setting (Figs. 7-8).

Figures are built with :class:`matplotlib.figure.Figure` and its Agg canvas directly, never
through ``pyplot``: no global figure state, no GUI backend, safe in threads and on servers.

Example:
    >>> import tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "sweep.png")
    >>> plot_sweep([10, 50, 100], [0.5, 0.6, 0.62], [0.02, 0.01, 0.01], "samples per class", out).name
    'sweep.png'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modgen.errors import ConfigError, DataError, ShapeError
from modgen.rundir import read_jsonl, record_written

__all__ = [
    "LOSS_LABELS",
    "loss_title",
    "read_metrics",
    "plot_losses",
    "losses_figure",
    "plot_tsne",
    "tsne_figure",
    "plot_sweep",
    "plot_comparison",
    "comparison_figure",
]

#: Panel titles of the loss parts the trainers log (:func:`modgen.train.base.loss_parts`).
LOSS_LABELS: dict[str, str] = {
    "loss/d": "critic L_D",
    "loss/wasserstein": "critic Wasserstein estimate",
    "loss/gp": "critic gradient penalty",
    "loss/adv": "generator adversarial",
    "loss/g": "generator L_G",
    "loss/gc": "generator and classifier L_GC",
    "loss/attr": "attribute loss",
    "loss/cls": "classification L_C",
    "loss/ad": "attribute decoder L_AD",
    "loss/ad_real": "attribute decoder on real features",
    "loss/cls_real": "classifier C on real features",
}


def loss_title(key: str) -> str:
    """The prose title of a logged loss key: :data:`LOSS_LABELS`, else the key in words.

    Example:
        >>> loss_title("loss/ad_real"), loss_title("loss/my_plugin_term")
        ('attribute decoder on real features', 'my plugin term')
    """
    if key in LOSS_LABELS:
        return LOSS_LABELS[key]
    return key.removeprefix("loss/").replace("/", " ").replace("_", " ").strip() or key


def _figure(nrows: int = 1, ncols: int = 1, *, size: tuple[float, float] = (5.0, 4.0)) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _save(fig: Any, out_png: str | Path) -> Path:
    path = Path(out_png)
    if path.suffix.lower() != ".png":
        raise ConfigError(f"plot output {str(path)!r}: expected a .png file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, format="png")
    record_written(path)
    return path


def read_metrics(metrics_jsonl_path: str | Path) -> list[dict[str, Any]]:
    """The training records of a ``metrics.jsonl`` file (evaluation records are left out).

    Raises:
        DataError: the file is missing or a line is not a JSON object.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "metrics.jsonl")
        >>> _ = open(path, "w").write('{"episode": 0, "loss/d": 1.5}\\n\\n{"episode": 25, "loss/d": 0.9}\\n')
        >>> [r["loss/d"] for r in read_metrics(path)]
        [1.5, 0.9]
    """
    path = Path(metrics_jsonl_path)
    if not path.is_file():
        raise DataError(f"{path}: no metrics file; training writes metrics.jsonl into the run folder")
    return [r for r in read_jsonl(path) if r.get("kind", "train") == "train"]


def plot_losses(
    metrics_jsonl_path: str | Path, out_png: str | Path, *, keys: Sequence[str] | None = None
) -> Path:
    """One panel per loss part against the episode (Fig. 9).

    Args:
        metrics_jsonl_path: ``metrics.jsonl``: JSON objects with ``"episode"`` and loss keys
            such as ``"loss/d"``, ``"loss/adv"``, ``"loss/attr"``, ``"loss/cls"``, ``"loss/ad"``.
        out_png: the PNG to write.
        keys: the loss keys to plot (default: every key starting with ``"loss/"``, in order of
            first appearance).

    Returns:
        The written path.

    Raises:
        DataError: no loss values in the file, or a record with losses but no numeric ``"episode"``.

    Example:
        >>> import tempfile, os
        >>> folder = tempfile.mkdtemp()
        >>> path = os.path.join(folder, "metrics.jsonl")
        >>> _ = open(path, "w").write('{"episode": 0, "loss/d": 1.5, "loss/ad": 0.3}\\n'
        ...                           '{"episode": 25, "loss/d": 0.9, "loss/ad": 0.2}\\n')
        >>> plot_losses(path, os.path.join(folder, "losses.png")).name
        'losses.png'
    """
    records = read_metrics(metrics_jsonl_path)
    series: dict[str, tuple[list[float], list[float]]] = {}
    wanted = list(keys) if keys is not None else None
    for no, rec in enumerate(records, start=1):
        losses = {
            k: v
            for k, v in rec.items()
            if (k in wanted if wanted is not None else k.startswith("loss/"))
            and isinstance(v, (int, float))
            and not isinstance(v, bool)
        }
        if not losses:
            continue
        if "episode" not in rec:
            raise DataError(f"{metrics_jsonl_path}: record {no} has losses but no 'episode' key")
        episode = rec["episode"]
        if not isinstance(episode, (int, float)) or isinstance(episode, bool):
            raise DataError(
                f"{metrics_jsonl_path}: training record {no} has episode {episode!r}, expected a number; "
                "fix or delete that line"
            )
        for k, v in losses.items():
            xs, ys = series.setdefault(k, ([], []))
            xs.append(float(episode))
            ys.append(float(v))
    if wanted is not None:
        series = {k: series[k] for k in wanted if k in series}
    if not series:
        raise DataError(
            f"{metrics_jsonl_path}: no loss values to plot (expected keys "
            f"{', '.join(wanted) if wanted else 'starting with loss/'})"
        )
    return _save(losses_figure(series), out_png)


def losses_figure(series: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> Any:
    """The figure of :func:`plot_losses`: one panel per loss key, ``{key: (episodes, values)}``,
    titled in prose (:func:`loss_title`).

    Example:
        >>> fig = losses_figure({"loss/d": ([0, 25], [1.5, 0.9]), "loss/ad_real": ([0, 25], [0.3, 0.2])})
        >>> [ax.get_title() for ax in fig.axes]
        ['critic L_D', 'attribute decoder on real features']
    """
    n = len(series)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, axes = _figure(nrows, ncols, size=(4.0, 3.0))
    for ax, (key, (xs, ys)) in zip(axes.ravel(), series.items(), strict=False):
        ax.plot(xs, ys, linewidth=1.0)
        ax.set_title(loss_title(key))
        ax.set_xlabel("episode")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[n:]:
        fig.delaxes(ax)
    return fig


def plot_tsne(
    features: Any,
    labels: Any,
    class_names: Sequence[str] | Mapping[int, str] | None,
    out_png: str | Path,
    *,
    max_points: int = 5000,
    seed: int = 0,
    perplexity: float = 30.0,
    max_iter: int = 1000,
    title: str = "",
    sources: Any = None,
) -> Path:
    """t-SNE of features coloured by class (Fig. 6), real and synthetic told apart by marker.

    Args:
        features: ``(n, D)`` features (numpy or torch).
        labels: ``(n,)`` integer class labels.
        class_names: names indexed by label (a sequence or a mapping), or ``None``.
        out_png: the PNG to write.
        max_points: at most this many points, drawn uniformly without replacement.
        seed: seeds the subsample and t-SNE.
        perplexity: t-SNE perplexity (lowered to fit small inputs).
        max_iter: t-SNE optimisation steps (at least 250).
        title: the figure title.
        sources: ``(n,)`` a label per point, e.g. ``"real"`` / ``"synthetic"``: each source
            gets its own marker (``o``, ``x``, ``^``, ...); ``None``: one source.

    Returns:
        The written path. A legend is drawn for at most 20 classes (the paper omits it for
        CUB and SUN).

    Raises:
        ShapeError: the shapes disagree or fewer than 3 points are given.

    Example:
        >>> import tempfile, os
        >>> X = np.random.default_rng(0).normal(size=(40, 5))
        >>> out = plot_tsne(X, np.repeat([0, 1], 20), ["cat", "dog"], os.path.join(tempfile.mkdtemp(), "t.png"),
        ...                 max_iter=250)  # doctest: +SKIP
        >>> out.suffix  # doctest: +SKIP
        '.png'
    """
    from sklearn.manifold import TSNE

    X = features.detach().cpu().numpy() if hasattr(features, "detach") else np.asarray(features)
    y = labels.detach().cpu().numpy() if hasattr(labels, "detach") else np.asarray(labels)
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise ShapeError(f"plot_tsne: features (n, D) and labels (n,) expected, got {X.shape} and {y.shape}")
    if X.shape[0] < 3:
        raise ShapeError(f"plot_tsne: need at least 3 points, got {X.shape[0]}")
    src = np.asarray(["" for _ in range(y.shape[0])] if sources is None else sources).astype(str)
    if src.shape != y.shape:
        raise ShapeError(f"plot_tsne: sources must have one label per point ({y.shape[0]}), got {src.shape}")
    names = _class_name_lookup(class_names, y)
    rng = np.random.default_rng(seed)
    if X.shape[0] > max_points:
        keep = np.sort(rng.choice(X.shape[0], size=max_points, replace=False))
        X, y, src = X[keep], y[keep], src[keep]
    perplexity = float(min(perplexity, max(1.0, (X.shape[0] - 1) / 3.0)))
    emb = TSNE(
        n_components=2, perplexity=perplexity, init="pca", random_state=seed, max_iter=max(250, int(max_iter))
    ).fit_transform(X.astype(np.float32))
    return _save(tsne_figure(emb, y, names, src, title=title), out_png)


def tsne_figure(
    embedding: Any, labels: Any, names: Mapping[int, str], sources: Any, *, title: str = ""
) -> Any:
    """The figure of :func:`plot_tsne` from a 2-d embedding: a colour per class, a marker per
    source; the legend (at most 20 classes) sits outside the axes, right of them, never over
    the points.

    Args:
        embedding: ``(n, 2)`` points.
        labels: ``(n,)`` integer class labels.
        names: label -> class name.
        sources: ``(n,)`` a source label per point (``""``: one source).
        title: the axes title.

    Example:
        >>> emb = np.random.default_rng(0).normal(size=(6, 2))
        >>> fig = tsne_figure(emb, np.array([0, 0, 0, 1, 1, 1]), {0: "cat", 1: "dog"}, np.array([""] * 6))
        >>> [t.get_text() for t in fig.legends[0].get_texts()]
        ['cat', 'dog']
    """
    emb, y, src = np.asarray(embedding), np.asarray(labels), np.asarray(sources).astype(str)
    fig, axes = _figure(size=(6.0, 5.0))
    ax = axes[0, 0]
    classes = np.unique(y)
    import matplotlib

    colors = matplotlib.colormaps["tab20" if len(classes) <= 20 else "hsv"]
    markers = dict(zip(sorted(set(src.tolist())), "ox^sv*", strict=False))
    for i, c in enumerate(classes):
        for source, marker in markers.items():
            m = (y == c) & (src == source)
            if not m.any():
                continue
            label = names[int(c)] + (f" ({source})" if source else "")
            ax.scatter(
                emb[m, 0],
                emb[m, 1],
                s=6,
                marker=marker,
                color=colors(i / max(1, len(classes) - 1)),
                label=label,
            )
    if len(classes) <= 20:
        handles, texts = ax.get_legend_handles_labels()
        # "outside": constrained layout makes room for it beside the axes
        fig.legend(
            handles,
            texts,
            loc="outside right upper",
            markerscale=3,
            fontsize="small",
            ncols=math.ceil(len(texts) / 20),
        )
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return fig


def _class_name_lookup(class_names: Any, labels: np.ndarray) -> dict[int, str]:
    """Label -> name; ``class_names`` may be a sequence indexed by label or a mapping.

    Raises:
        ShapeError: a label has no name (e.g. class ids given with names of only some classes).
    """
    out = {}
    for c in np.unique(labels).tolist():
        if class_names is None:
            out[int(c)] = str(c)
            continue
        try:
            out[int(c)] = str(class_names[int(c)])
        except (IndexError, KeyError):
            raise ShapeError(
                f"plot_tsne: label {c} has no class name; pass names indexed by label (a sequence over all "
                "classes, or a mapping {label: name})"
            ) from None
    return out


def plot_comparison(
    labels: Sequence[str | Sequence[str]],
    means: Sequence[float],
    stds: Sequence[float],
    ylabel: str,
    out_png: str | Path,
    *,
    title: str = "",
) -> Path:
    """A bar per compared group with its ± std, e.g. ZSL top-1 of recipes over seeds
    (:func:`comparison_figure`).

    Example:
        >>> import tempfile, os
        >>> plot_comparison(["amaz", "zsml"], [60.0, 65.0], [3.0, 2.0], "ZSL top-1 (%)",
        ...                 os.path.join(tempfile.mkdtemp(), "c.png")).suffix
        '.png'
    """
    return _save(comparison_figure(labels, means, stds, ylabel, title=title), out_png)


def comparison_figure(
    labels: Sequence[str | Sequence[str]],
    means: Sequence[float],
    stds: Sequence[float],
    ylabel: str,
    *,
    title: str = "",
) -> Any:
    """The figure of :func:`plot_comparison`: one horizontal bar per group, its label inside the
    figure however long.

    Args:
        labels: a label per bar, a string or its parts (run, setting, classifier); parts shared
            by every bar move into the title, the rest label the bars (``" / "`` between parts).
        means: the bar lengths.
        stds: the error bars.
        ylabel: what the bars measure (the value axis).
        title: the start of the title.

    Raises:
        ShapeError: labels, means and stds differ in length.

    Example:
        >>> fig = comparison_figure([["amaz", "softmax"], ["zsml", "softmax"]], [60.0, 65.0], [3.0, 2.0],
        ...                         "ZSL top-1 (%)")
        >>> [t.get_text() for t in fig.axes[0].get_yticklabels()], fig.axes[0].get_title()
        (['amaz', 'zsml'], 'softmax')
    """
    if not (len(labels) == len(means) == len(stds)):
        raise ShapeError("plot_comparison: labels, means and stds must have the same length")
    parts = [[label] if isinstance(label, str) else [str(x) for x in label] for label in labels]
    width = max((len(p) for p in parts), default=0)
    shared = [
        i
        for i in range(width)
        if len(parts) > 1 and all(len(p) == width for p in parts) and len({p[i] for p in parts}) == 1
    ]
    names = [" / ".join(x for i, x in enumerate(p) if i not in shared) or " / ".join(p) for p in parts]
    heading = " / ".join(parts[0][i] for i in shared) if shared else ""
    longest = max((len(n) for n in names), default=0)
    fig, axes = _figure(size=(max(5.0, 3.5 + 0.07 * longest), max(2.4, 0.45 * len(names) + 1.4)))
    ax = axes[0, 0]
    ys = np.arange(len(names))
    ax.barh(
        ys,
        np.asarray(means, dtype=float),
        xerr=np.asarray(stds, dtype=float),
        capsize=3,
        color="tab:blue",
        alpha=0.8,
    )
    ax.set_yticks(ys)
    ax.set_yticklabels(names, fontsize="small")
    ax.invert_yaxis()  # the first group on top, as in the table
    ax.set_xlabel(ylabel)
    ax.grid(axis="x", alpha=0.3)
    full = ": ".join(t for t in (title, heading) if t)
    if full:
        ax.set_title(full)
    return fig


def plot_sweep(
    values: Sequence[float],
    mean: Sequence[float] | Mapping[str, Sequence[float]],
    std: Sequence[float] | Mapping[str, Sequence[float]] | None,
    xlabel: str,
    out_png: str | Path,
    *,
    ylabel: str = "per-class top-1 (%)",
    title: str = "",
    percent: bool = False,
) -> Path:
    """Accuracy against a setting, with a ±std band (Figs. 7-8).

    Args:
        values: ``(k,)`` the settings (number of synthetic samples, sigma, ...).
        mean: ``(k,)`` accuracies, or ``{label: (k,)}`` for several curves.
        std: the same shape as ``mean`` (the band), or ``None``.
        xlabel: the x-axis label.
        out_png: the PNG to write.
        ylabel: the y-axis label.
        title: the figure title.
        percent: multiply the values by 100 (fractions in, percent out).

    Returns:
        The written path.

    Raises:
        ShapeError: a curve's length differs from ``values``.

    Example:
        >>> import tempfile, os
        >>> out = os.path.join(tempfile.mkdtemp(), "sigma.png")
        >>> plot_sweep([0.5, 1.0, 2.0], {"AWA2": [60.0, 70.0, 65.0]}, {"AWA2": [2.0, 1.0, 2.0]},
        ...            "sigma", out).name
        'sigma.png'
    """
    xs = np.asarray(values, dtype=np.float64)
    means = dict(mean) if isinstance(mean, Mapping) else {"": mean}
    stds: Mapping[str, Any] = (
        dict(std) if isinstance(std, Mapping) else ({"": std} if std is not None else {})
    )
    scale = 100.0 if percent else 1.0
    fig, axes = _figure(size=(5.0, 3.6))
    ax = axes[0, 0]
    for label, m in means.items():
        ys = np.asarray(m, dtype=np.float64) * scale
        if ys.shape != xs.shape:
            raise ShapeError(
                f"plot_sweep: curve {label or 'mean'!r} has {ys.shape[0]} points for {xs.shape[0]} values"
            )
        ax.plot(xs, ys, marker="o", linewidth=1.5, label=label or None)
        if stds.get(label) is not None:
            sd = np.asarray(stds[label], dtype=np.float64) * scale
            if sd.shape != xs.shape:
                raise ShapeError(
                    f"plot_sweep: std of {label or 'mean'!r} has {sd.shape[0]} points for {xs.shape[0]} values"
                )
            ax.fill_between(xs, ys - sd, ys + sd, alpha=0.25)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if any(means):
        ax.legend()
    if title:
        ax.set_title(title)
    return _save(fig, out_png)
