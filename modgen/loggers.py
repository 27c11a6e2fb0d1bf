"""Run loggers: where a run's hyper-parameters, losses, evaluation metrics and plots go besides its
own files. A plugin kind (``registries.logger``), chosen with ``run.loggers`` (``--logger NAME``).

* ``jsonl`` — the run folder's own ``metrics.jsonl`` and ``results.json``, which the run writes
  whatever else is chosen (always on; listed so the choice reads as the whole set).
* ``tensorboard`` — event files in ``RUN/tensorboard/`` through :mod:`torch.utils.tensorboard`
  (needs the ``tensorboard`` package: ``pip install 'modgen-zsl[tensorboard]'``).
* ``mlflow`` — one MLflow run in a local file store ``RUN/mlruns/``, or at the tracking URI in
  ``MLFLOW_TRACKING_URI`` when that is set (needs ``mlflow``: ``pip install 'modgen-zsl[mlflow]'``).

A logger is a class built as ``cls(folder)`` with the run folder, with the methods of
:class:`RunLogger`. The pipeline (:mod:`modgen.pipeline`) opens the chosen ones when training
starts, on the main process only, and closes them when the run ends.

Example:
    >>> from modgen.registry import Registries
    >>> regs = Registries()
    >>> register_components(regs.scoped("builtin"))
    >>> regs.logger.names()
    ['jsonl', 'mlflow', 'tensorboard']
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from modgen.errors import ConfigError

if TYPE_CHECKING:
    from modgen.registry import PluginRegistries, Registries

__all__ = [
    "RunLogger",
    "JsonlLogger",
    "TensorBoardLogger",
    "MLflowLogger",
    "LoggerSet",
    "open_loggers",
    "flat_params",
    "mlflow_name",
    "register_components",
]


class RunLogger(Protocol):
    """What a logger does; every method is called on the main process only."""

    def log_params(self, params: Mapping[str, Any]) -> None:
        """The resolved spec, flattened to ``section.key`` names (see :func:`flat_params`)."""

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Numbers at ``step`` (the episode): training losses, then the evaluation's measures."""

    def log_artifact(self, path: Path) -> None:
        """A file the run wrote (the plots)."""

    def close(self) -> None:
        """Flush and release; called once, also when the run failed."""


class JsonlLogger:
    """The run folder's own records (``metrics.jsonl``, ``results.json``), always written.

    Its methods do nothing: the run folder writes those files itself (:class:`modgen.rundir.RunDir`),
    for every run, whichever loggers are chosen.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def log_params(self, params: Mapping[str, Any]) -> None:
        pass

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        pass

    def log_artifact(self, path: Path) -> None:
        pass

    def close(self) -> None:
        pass


def _missing(name: str, package: str, err: ImportError) -> ConfigError:
    return ConfigError(
        f"run.loggers: logger {name!r} needs the {package!r} package ({err}); install it with "
        f"pip install 'modgen-zsl[{name}]', or drop {name!r} from --logger / run.loggers"
    )


class TensorBoardLogger:
    """TensorBoard event files in ``RUN/tensorboard/`` (scalars, the spec as text and hparams, the
    plots as images). Read them with ``tensorboard --logdir RUN/tensorboard``."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise _missing("tensorboard", "tensorboard", err) from err
        self.logdir = Path(folder) / "tensorboard"
        self.writer = SummaryWriter(log_dir=str(self.logdir))

    def log_params(self, params: Mapping[str, Any]) -> None:
        table = "\n".join(f"| {k} | {v} |" for k, v in params.items())
        self.writer.add_text("spec", "| parameter | value |\n|---|---|\n" + table)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, global_step=step)

    def log_artifact(self, path: Path) -> None:
        if path.suffix.lower() != ".png":
            return
        import matplotlib.image as mpimg
        import numpy as np

        image = np.asarray(mpimg.imread(path))
        self.writer.add_image(f"plots/{path.stem}", image[..., :3], dataformats="HWC")

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


class MLflowLogger:
    """One MLflow run: the spec as params, the losses and measures as metrics, the plots as
    artifacts. The store is ``MLFLOW_TRACKING_URI`` when set, else a file store in ``RUN/mlruns/``
    (``mlflow ui --backend-store-uri RUN/mlruns``; for it, modgen sets ``MLFLOW_ALLOW_FILE_STORE=true``
    unless the variable is set, as MLflow 3 asks); the experiment is the recipe's name."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError as err:
            raise _missing("mlflow", "mlflow", err) from err
        folder = Path(folder)
        uri = os.environ.get("MLFLOW_TRACKING_URI", "")
        if not uri:
            uri = (folder / "mlruns").resolve().as_uri()
            # MLflow 3 keeps its file store behind this switch; the local store is what we ask for
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=uri)
        self.uri = uri
        self.folder = folder
        self.run_id: str | None = None

    def _run(self, experiment: str) -> str:
        if self.run_id is None:
            found = self.client.get_experiment_by_name(experiment)
            exp_id = found.experiment_id if found is not None else self.client.create_experiment(experiment)
            self.run_id = self.client.create_run(exp_id, run_name=self.folder.name).info.run_id
        return self.run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        run_id = self._run(str(params.get("name", "modgen")))
        for key, value in params.items():
            self.client.log_param(run_id, mlflow_name(key), str(value)[:6000])

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        run_id = self._run("modgen")
        for key, value in metrics.items():
            self.client.log_metric(run_id, mlflow_name(key), float(value), step=step)

    def log_artifact(self, path: Path) -> None:
        self.client.log_artifact(self._run("modgen"), str(path), artifact_path="plots")

    def close(self) -> None:
        if self.run_id is not None:
            self.client.set_terminated(self.run_id)


def mlflow_name(key: str) -> str:
    """``key`` as MLflow accepts it: characters other than letters, digits, ``_ - . : /`` and spaces
    become ``_`` (``quality/retrieval@5`` -> ``quality/retrieval_5``).

    Example:
        >>> mlflow_name("quality/retrieval@5")
        'quality/retrieval_5'
    """
    return re.sub(r"[^\w\-. :/]", "_", key)


def flat_params(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested spec dict as ``{"generator.params.hidden_dim": 4096, ...}`` (lists kept whole).

    Example:
        >>> flat_params({"run": {"seed": 0}, "name": "amaz"})
        {'run.seed': 0, 'name': 'amaz'}
    """
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_params(value, name + "."))
        else:
            out[name] = value
    return out


class LoggerSet:
    """The loggers of one run, called together; a logger's failure is re-raised after the others
    were called (a broken tracker never hides the run's own files, which are already written)."""

    def __init__(self, loggers: Mapping[str, RunLogger]) -> None:
        self.loggers = dict(loggers)

    def _each(self, method: str, *args: Any) -> None:
        errors: list[BaseException] = []
        for logger in self.loggers.values():
            try:
                getattr(logger, method)(*args)
            except Exception as err:  # noqa: BLE001 - call every logger, then raise the first error
                errors.append(err)
        if errors:
            raise errors[0]

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._each("log_params", params)

    def log_metrics(self, metrics: Mapping[str, Any], step: int) -> None:
        numbers = {
            k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)
        }
        numbers.pop("episode", None)
        if numbers:
            self._each("log_metrics", numbers, step)

    def log_artifacts(self, paths: Iterable[Path]) -> None:
        for path in paths:
            self._each("log_artifact", path)

    def close(self) -> None:
        self._each("close")


def open_loggers(names: Iterable[str], registries: Registries, folder: str | os.PathLike[str]) -> LoggerSet:
    """Build the loggers ``names`` (registered in ``registries.logger``) for the run ``folder``.

    Raises:
        UnknownComponentError: a name that is not registered (the message lists the names).
        ConfigError: a logger whose package is not installed.
    """
    return LoggerSet({name: registries.logger.get(name)(folder) for name in names})


def register_components(registries: PluginRegistries) -> None:
    """Register the ``jsonl``, ``tensorboard`` and ``mlflow`` loggers (called by :mod:`modgen.builtin`)."""
    registries.logger.register("jsonl", JsonlLogger)
    registries.logger.register("tensorboard", TensorBoardLogger)
    registries.logger.register("mlflow", MLflowLogger)
