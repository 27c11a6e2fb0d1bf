"""What a finished run is used for afterwards: synthetic features (:func:`synthesize_run`),
retrieval (:func:`retrieve_run`), synthesis curves (:func:`synthesis_curve`) and a t-SNE plot
(:func:`tsne_run`). Each opens the run once and sets the threads for its networks."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from modgen.errors import ConfigError, DataError
from modgen.pipeline._stages import open_run
from modgen.rundir import RunDir, check_writable_folder, os_error, write_json

if TYPE_CHECKING:
    from modgen.data.zsldata import ZSLData
    from modgen.evaluate.synthesis import SyntheticFeatures
    from modgen.registry import Registries
    from modgen.train.loop import TrainOutcome

__all__ = ["class_ids", "synthesize_run", "retrieve_run", "synthesis_curve", "tsne_run"]


def class_ids(data: ZSLData, classes: str) -> list[int]:
    """Class ids from ``unseen``, ``seen``, ``all`` or comma-separated class names.

    Raises:
        DataError: an unknown class name (the message lists the data set's classes).
    """
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
    if missing or not names:
        raise DataError(
            f"--classes: unknown class {missing[0] if missing else classes!r} in {data.name}; use unseen, seen, all "
            f"or names of: {', '.join(data.class_names[:30])}{' ...' if len(data.class_names) > 30 else ''}"
        )
    return [lookup[n] for n in names]


def _synthesize(
    outcome: TrainOutcome, ids: Sequence[int], n: int, sigma: float, seed: int
) -> SyntheticFeatures:
    """``n`` features for each class of ``ids`` from the run's generator, the noise seeded by ``seed``."""
    import torch

    from modgen.evaluate.synthesis import synthesize

    gen = torch.Generator(device=outcome.device).manual_seed(seed)
    semantics = torch.as_tensor(outcome.data.semantics[list(ids)], device=outcome.device)
    return synthesize(
        outcome.assembly,
        semantics,
        n,
        sigma=sigma,
        generator=gen,
        batch_norm=outcome.spec.evaluation.synthesis_bn,
    )


def synthesize_run(
    path: str | os.PathLike[str],
    registries: Registries,
    *,
    classes: str = "unseen",
    n: int = 100,
    sigma: float | None = None,
    seed: int = 0,
    out: str | os.PathLike[str] | None = None,
    device: str = "auto",
    threads: int | None = None,
) -> tuple[Path, int]:
    """Synthesise ``n`` features per class of a trained run into an ``.npz`` file.

    The file holds ``features (C*n, D)``, ``labels`` (class ids, rows of the data's class
    list), ``class_ids`` and ``class_names`` (both per class), so
    ``plot_tsne(features, labels, dict(zip(class_ids, class_names)), ...)`` works.

    Returns:
        ``(path written, number of classes)``.

    Raises:
        ModgenError: the output cannot be written (its folder is created when missing).
    """
    import math

    import numpy as np

    if sigma is not None and (isinstance(sigma, bool) or not math.isfinite(sigma) or sigma < 0):
        raise ConfigError(
            f"--sigma {sigma!r}: expected a finite number >= 0 (the noise's standard deviation)"
        )
    target = Path(out) if out is not None else RunDir(path).root / "synthetic.npz"
    if target.suffix != ".npz":
        raise ConfigError(f"--out {str(target)!r}: expected a file name ending in .npz")
    if target.is_dir():
        raise os_error(IsADirectoryError(21, "is a folder"), target, "write")
    outcome = open_run(path, registries, device=device, threads=threads)
    check_writable_folder(target.parent, "write", shown=target)
    d = outcome.data
    ids = class_ids(d, classes)
    s = _synthesize(outcome, ids, n, outcome.spec.evaluation.sigma_test if sigma is None else sigma, seed)
    features = s.features.cpu().numpy()
    if not np.isfinite(features).all():
        raise DataError(
            f"{str(path)!r}: the generator produced NaN or infinite features; the run diverged, train it again"
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp.npz")
        np.savez_compressed(
            tmp,
            features=features,
            labels=np.asarray(ids)[s.labels.cpu().numpy()],
            class_ids=np.asarray(ids),
            class_names=np.asarray([d.class_names[i] for i in ids]),
        )
        os.replace(tmp, target)
    except OSError as err:
        raise os_error(err, target, "write") from err
    return target, len(ids)


def retrieve_run(
    path: str | os.PathLike[str],
    registries: Registries,
    *,
    k: Sequence[int] = (5, 10),
    n: int = 100,
    seed: int = 0,
    device: str = "auto",
    threads: int | None = None,
) -> dict[int, float]:
    """Zero-shot retrieval (Section III-D) with a trained run: precision@k (%) by ``k``.

    Raises:
        ConfigError: a ``k`` larger than the number of real unseen test samples.
    """

    from modgen.evaluate.metrics import retrieval_average_precision

    outcome = open_run(path, registries, device=device, threads=threads)
    d = outcome.data
    n_test = int(d.test_unseen.size)
    for kk in k:
        if not 1 <= kk <= n_test:
            raise ConfigError(f"--k {kk}: expected 1 <= k <= {n_test} (the number of unseen test samples)")
    ids = list(d.unseen_classes)
    s = _synthesize(outcome, ids, n, outcome.spec.evaluation.sigma_test, seed)
    means = s.features.reshape(len(ids), n, -1).mean(1).cpu().numpy()
    db, labels = d.features[d.test_unseen], d.labels[d.test_unseen]
    return {int(kk): 100.0 * retrieval_average_precision(means, ids, db, labels, int(kk)) for kk in k}


def synthesis_curve(
    path: str | os.PathLike[str],
    registries: Registries,
    *,
    param: str,
    values: str | Sequence[float],
    classifier: str = "weighted-softmax",
    device: str = "auto",
    threads: int | None = None,
) -> tuple[list[tuple[float, float]], Path]:
    """ZSL top-1 of a trained run against a synthesis setting (Figs. 7-8), saved with a plot.

    Writes ``RUN/sweep-<param>.json`` and ``RUN/plots/sweep-<param>.png``.

    Returns:
        ``([(value, mean), ...], png path)``.

    Raises:
        ConfigError: an unknown ``param`` or values that are not numbers.
    """
    from modgen.evaluate.curves import SWEEP_PARAMS, sweep_synthesis
    from modgen.report import plot_sweep

    if param not in SWEEP_PARAMS:
        raise ConfigError(f"--param: expected {' or '.join(SWEEP_PARAMS)}, got {param!r}")
    if isinstance(values, str):
        try:
            vals = [int(v) if param == "samples" else float(v) for v in values.split(",") if v.strip()]
        except ValueError as err:
            raise ConfigError(f"--values {values!r}: expected comma-separated numbers") from err
    else:
        vals = list(values)
    outcome = open_run(path, registries, device=device, threads=threads)
    points = sweep_synthesis(
        outcome.assembly,
        outcome.data,
        outcome.spec.evaluation,
        registries,
        param=param,
        values=vals,
        classifier=classifier,
        seed=outcome.spec.run.seed,
    )
    run_dir = RunDir(path)
    with run_dir.lock():
        png = plot_sweep(
            [v for v, _, _ in points],
            [m for _, m, _ in points],
            [s for _, _, s in points],
            "synthetic samples per class" if param == "samples" else "sigma",
            run_dir.plots / f"sweep-{param}.png",
        )
        write_json(
            run_dir.root / f"sweep-{param}.json",
            {
                "param": param,
                "values": vals,
                "mean": [m for _, m, _ in points],
                "std": [s for _, _, s in points],
                "classifier": classifier,
                "eval_seeds": outcome.spec.evaluation.seeds,
                "unit": "percent",
            },
        )
    return [(v, m) for v, m, _ in points], png


def tsne_run(
    path: str | os.PathLike[str],
    registries: Registries,
    *,
    classes: str = "unseen",
    n: int = 100,
    real: int = 100,
    seed: int = 0,
    out: str | os.PathLike[str] | None = None,
    device: str = "auto",
    threads: int | None = None,
) -> Path:
    """t-SNE of a run's synthetic features beside real test features of the same classes (Fig. 6).

    Returns:
        The PNG written (default ``RUN/plots/tsne-<classes>.png``).
    """
    import numpy as np

    from modgen.report import plot_tsne

    outcome = open_run(path, registries, device=device, threads=threads)
    d = outcome.data
    ids = class_ids(d, classes)
    s = _synthesize(outcome, ids, n, outcome.spec.evaluation.sigma_test, seed)
    feats = [s.features.cpu().numpy()]
    labels = [np.asarray(ids)[s.labels.cpu().numpy()]]
    sources = [np.full(labels[0].shape, "synthetic")]
    if real:
        rng = np.random.default_rng(seed)
        pool = np.concatenate([d.test_unseen, d.test_seen])
        for c in ids:
            rows = pool[d.labels[pool] == c]
            rows = rng.permutation(rows)[:real]
            feats.append(d.features[rows])
            labels.append(d.labels[rows])
            sources.append(np.full(rows.shape, "real"))
    target = Path(out) if out is not None else RunDir(path).plots / f"tsne-{classes.replace(',', '_')}.png"
    return plot_tsne(
        np.concatenate(feats),
        np.concatenate(labels),
        list(d.class_names),
        target,
        seed=seed,
        sources=np.concatenate(sources),
        title=f"{outcome.spec.name} on {d.name}",
    )
