"""What a finished run is used for afterwards: synthetic features (:func:`synthesize_run`),
retrieval (:func:`retrieve_run`), synthesis curves (:func:`synthesis_curve`) and a t-SNE plot
(:func:`tsne_run`). Each opens the run once and sets the threads for its networks."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modgen.errors import ConfigError, DataError
from modgen.pipeline._stages import open_run
from modgen.rundir import RunDir, check_writable_folder, os_error, write_json

if TYPE_CHECKING:
    import torch

    from modgen.data.zsldata import ZSLData
    from modgen.evaluate.synthesis import SyntheticFeatures
    from modgen.registry import Registries
    from modgen.train.loop import TrainOutcome

__all__ = [
    "class_ids",
    "synthesize_features",
    "synthesize_run",
    "retrieve_run",
    "synthesis_curve",
    "tsne_run",
]


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


def _run_synthesis_options(outcome: TrainOutcome, attributes: Any) -> dict[str, Any]:
    """The synthesis task of the run's evaluation settings (``task_size``, ``modulation_task``)
    for classes of these attributes."""
    from modgen.evaluate.sets import DEFAULT_TASK_SIZE, modulation_tasks

    evaluation = outcome.spec.evaluation
    tasks = modulation_tasks(outcome.data, attributes, evaluation.modulation_task, evaluation.task_size)
    options: dict[str, Any] = {"replicate": evaluation.task_size or DEFAULT_TASK_SIZE}
    return options if tasks is None else {**options, "task_attributes": tasks}


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
        **_run_synthesis_options(outcome, semantics.cpu()),
    )


def synthesize_features(
    run: str | os.PathLike[str] | TrainOutcome | Any,
    semantics: Any,
    n: int = 100,
    *,
    sigma: float | None = None,
    seed: int = 0,
    generator: torch.Generator | None = None,
    registries: Registries | None = None,
    device: str = "auto",
    batch_norm: str | None = None,
    **options: Any,
) -> SyntheticFeatures:
    """Features from a trained generator for classes given by their semantics (``modgen.synthesize``).

    ``run`` is a run folder, a loaded run (:func:`load_run`'s result) or a bare
    :class:`~modgen.assembly.Assembly`; ``semantics`` says which classes:

    * ``(C, A)`` numbers: an attribute vector per class, any class, seen by the run or not;
    * ``(C,)`` integers: class ids of the run's data (rows of ``data.semantics``);
    * a string: ``"unseen"``, ``"seen"``, ``"all"`` or comma-separated class names of the run's data.

    Class ids and names need the run's data, so not a bare assembly. The generation is the
    evaluation's (:func:`modgen.evaluate.synthesis.synthesize`, each class its own task), with the
    run's ``evaluation.sigma_test`` and ``evaluation.synthesis_bn`` unless ``sigma`` or
    ``batch_norm`` is given, and a loaded run's synthesis task (``evaluation.task_size``,
    ``evaluation.modulation_task``) unless ``options`` say otherwise.

    Args:
        run: a run folder, a loaded run, or an assembly.
        semantics: attribute vectors, class ids or a class selection (above).
        n: features per class.
        sigma: the noise's standard deviation (default: the run's ``evaluation.sigma_test``, 1.0
            for a bare assembly).
        seed: seeds the noise when no ``generator`` is given.
        generator: the source of the noise (default: a ``torch.Generator`` seeded by ``seed``).
        registries: where a run folder's components are looked up (default: built-ins and
            installed plugins).
        device: where a run folder's networks are loaded (``auto``: CUDA when available).
        batch_norm: ``"running"`` or ``"batch"`` (default: the run's ``evaluation.synthesis_bn``).
        **options: ``replicate``, ``chunk_classes``, ``context_tasks``, ``task_attributes`` of
            :func:`modgen.evaluate.synthesis.synthesize`.

    Returns:
        :class:`~modgen.evaluate.synthesis.SyntheticFeatures`: ``features (C * n, D)``,
        ``labels (C * n,)`` (the class ids when the classes were given by id or name, else the
        row of ``semantics``) and ``reconstructed`` (``AD(x_hat)``).

    Raises:
        ShapeError: ``semantics`` is not ``(C, A)`` or ``(C,)`` integers.
        DataError: a class id or name the run's data does not have.
        ConfigError: class ids or names given with a bare assembly.
        CheckpointError: ``run`` is not a run folder.

    Example:
        >>> import modgen, torch
        >>> from modgen.assembly import build_assembly
        >>> from modgen.recipes import zsml
        >>> asm = build_assembly(zsml(), modgen.get_registries(entry_points=False), attr_dim=4,
        ...                      feature_dim=6, num_classes=3, seed=0)
        >>> made = modgen.synthesize(asm, torch.eye(2, 4), 3)
        >>> made.features.shape, made.labels.tolist()
        (torch.Size([6, 6]), [0, 0, 0, 1, 1, 1])
        >>> run = modgen.load_run("runs/mine")            # doctest: +SKIP
        >>> modgen.synthesize(run, "unseen", 100).labels  # doctest: +SKIP
    """
    import numpy as np
    import torch

    from modgen.errors import ShapeError
    from modgen.evaluate.synthesis import synthesize

    if isinstance(run, (str, os.PathLike)):
        from modgen.pipeline._stages import load_run

        run = load_run(run, registries, device=device)
    outcome = run if hasattr(run, "assembly") and hasattr(run, "data") else None
    assembly: Any = outcome.assembly if outcome is not None else run
    data = outcome.data if outcome is not None else None
    ids: list[int] | None = None
    if isinstance(semantics, str):
        if data is None:
            raise ConfigError(
                f"synthesize: classes {semantics!r} need the run's data; pass a run folder or a loaded run, "
                "or the classes' attribute vectors (C, A)"
            )
        ids = class_ids(data, semantics)
    else:
        values = semantics.detach().cpu().numpy() if hasattr(semantics, "detach") else np.asarray(semantics)
        if values.ndim == 1 and values.dtype.kind in "iu":
            if data is None:
                raise ConfigError(
                    "synthesize: class ids need the run's data; pass a run folder or a loaded run, "
                    "or the classes' attribute vectors (C, A)"
                )
            bad = [int(c) for c in values if not 0 <= int(c) < len(data.class_names)]
            if bad:
                raise DataError(
                    f"synthesize: class id {bad[0]} is not a class of {data.name} "
                    f"(ids 0..{len(data.class_names) - 1})"
                )
            ids = [int(c) for c in values]
        elif values.ndim != 2:
            raise ShapeError(
                f"synthesize: semantics must be attribute vectors (C, A) or class ids (C,), got shape {values.shape}"
            )
    attributes = semantics if ids is None else data.semantics[ids]  # type: ignore[union-attr]
    params = next(iter(assembly.parameters()), None)
    where = params.device if params is not None else torch.device("cpu")
    evaluation = outcome.spec.evaluation if outcome is not None else None
    if outcome is not None and not options.get("context_tasks"):
        options = {**_run_synthesis_options(outcome, np.asarray(attributes, dtype=np.float32)), **options}
    made = synthesize(
        assembly,
        torch.as_tensor(np.asarray(attributes) if ids is not None else attributes),
        n,
        sigma=sigma if sigma is not None else (evaluation.sigma_test if evaluation is not None else 1.0),
        generator=generator if generator is not None else torch.Generator(device=where).manual_seed(seed),
        batch_norm=batch_norm or (evaluation.synthesis_bn if evaluation is not None else "running"),
        **options,
    )
    if ids is None:
        return made
    return made._replace(labels=torch.as_tensor(ids, device=made.labels.device)[made.labels])


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
