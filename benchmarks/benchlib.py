"""What the benchmark scripts share: the machine's description, timing, memory, FLOPs, data.

Nothing here runs at import time. The scripts in this folder import it as ``benchlib`` (their
own folder is on ``sys.path`` when they run as ``python benchmarks/<script>.py``).

Example:
    >>> info = machine_info("cpu")
    >>> sorted(info)[:3]
    ['cpu_model', 'cpu_threads', 'cuda_device']
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modgen.data.zsldata import ZSLData
from modgen.errors import ConfigError, DataError

__all__ = [
    "DEFAULT_XLSA17",
    "PAPER_SHAPES",
    "GPU_PEAK_TFLOPS",
    "machine_info",
    "git_commit",
    "today",
    "sync",
    "time_calls",
    "median",
    "PeakMemory",
    "count_flops",
    "gpu_peak_tflops",
    "paper_shaped_data",
    "synthetic_zsl_data",
    "write_json",
    "write_doc_block",
    "DEFAULT_DOC_PAGE",
    "resolve_device",
    "SMOKE_EVALUATION",
    "add_doc_flag",
    "add_smoke_flag",
    "commit_for",
    "publish",
]

#: The docs page the benchmark tables are written into.
DEFAULT_DOC_PAGE = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"

#: Evaluation at smoke-test size (``--smoke``: a check that a script runs, not a measurement):
#: one evaluation seed, the SVM only and with few iterations, 5 synthetic samples per class,
#: retrieval at k=1. ``--set`` overrides.
SMOKE_EVALUATION: tuple[str, ...] = (
    "evaluation.seeds=1",
    'evaluation.classifiers=["svm"]',
    "evaluation.zsl_samples=5",
    "evaluation.gzsl_samples=5",
    "evaluation.retrieval_k=[1]",
    "evaluation.classifier_params.svm.max_iter=20",
)

#: Where the xlsa17 split files live in this workplace (absent elsewhere: the scripts fall back).
DEFAULT_XLSA17 = Path(__file__).resolve().parents[2] / "shared" / "data" / "xlsa17"

#: The paper's data shapes (Table I of the paper and the xlsa17 release): semantics file and key,
#: semantic width ``A``, seen and unseen class counts. CUB uses the 1024-d CNN-RNN sentence
#: embeddings (``sent_splits.mat``), as the paper does.
PAPER_SHAPES: dict[str, dict[str, Any]] = {
    "AWA2": {"semantics": "att", "attr_dim": 85, "seen": 40, "unseen": 10},
    "CUB": {"semantics": "sent", "attr_dim": 1024, "seen": 150, "unseen": 50},
    "SUN": {"semantics": "att", "attr_dim": 102, "seen": 645, "unseen": 72},
    "AWA1": {"semantics": "att", "attr_dim": 85, "seen": 40, "unseen": 10},
    "APY": {"semantics": "att", "attr_dim": 64, "seen": 20, "unseen": 12},
}

#: Dense (no sparsity) peak TFLOP/s of known cards from their vendors' data sheets, by a
#: substring of ``torch.cuda.get_device_name()``; the first match wins, so specific names come
#: first. ``fp32``: CUDA cores; ``tf32``/``bf16``: tensor cores.
GPU_PEAK_TFLOPS: list[tuple[str, dict[str, float]]] = [
    ("H100 PCIe", {"fp32": 51.2, "tf32": 378.0, "bf16": 756.0}),
    ("H100 NVL", {"fp32": 60.0, "tf32": 417.5, "bf16": 835.0}),
    ("H100", {"fp32": 66.9, "tf32": 494.7, "bf16": 989.4}),
    ("H200", {"fp32": 66.9, "tf32": 494.7, "bf16": 989.4}),
    ("GH200", {"fp32": 66.9, "tf32": 494.7, "bf16": 989.4}),
    ("A100", {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0}),
    ("L40S", {"fp32": 91.6, "tf32": 183.0, "bf16": 362.0}),
    ("L4", {"fp32": 30.3, "tf32": 60.0, "bf16": 121.0}),
    ("A10G", {"fp32": 31.2, "tf32": 62.5, "bf16": 125.0}),
    ("RTX 4090", {"fp32": 82.6, "tf32": 82.6, "bf16": 165.2}),
]


def resolve_device(name: str) -> torch.device:
    """``auto`` -> ``cuda`` when available else ``cpu``; ``cuda`` without a GPU is an error.

    The benchmarks resolve devices as every modgen command does (:func:`modgen.runtime.resolve_device`).

    Raises:
        ConfigError: ``name`` is not a device name, or asks for CUDA where there is none.
    """
    from modgen.runtime import resolve_device as resolve

    return resolve(name, key="--device")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: str | torch.device) -> dict[str, Any]:
    """The machine a measurement ran on: CPU model and cores, torch, GPU name, load average.

    Args:
        device: the benchmark's device (its GPU is named when it is a CUDA device).

    Returns:
        A JSON-able dict.
    """
    dev = torch.device(device)
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    info: dict[str, Any] = {
        "cpu_model": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cuda_device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
        "load_average": load,
    }
    return info


def git_commit(repo: Path | None = None) -> str:
    """The commit of ``repo`` (default: this repository), with ``+dirty`` when it has changes
    (:func:`modgen.runtime.git_commit`); ``unknown`` outside a git checkout."""
    from modgen.runtime import git_commit as commit

    return commit(repo or Path(__file__).resolve().parents[1]) or "unknown"


def today() -> str:
    """Today's date (UTC) as ``YYYY-MM-DD``."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")


def sync(device: torch.device) -> None:
    """Wait for queued work on ``device`` (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(
    fn: Callable[[], Any], *, repeats: int, warmup: int, device: torch.device
) -> tuple[list[float], list[float]]:
    """Wall and process-CPU seconds of each of ``repeats`` calls of ``fn`` after ``warmup`` calls.

    The device is synchronised after every timed call, so each wall time is one call's latency,
    not an asynchronous launch. The CPU time (``time.process_time``: every thread of this
    process) is robust to other processes competing for the cores, which wall time is not.
    """
    for _ in range(warmup):
        fn()
    sync(device)
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        sync(device)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def median(values: Sequence[float]) -> float:
    """The median of ``values`` (NaN when empty)."""
    return float(statistics.median(values)) if values else float("nan")


class PeakMemory:
    """Peak memory of a block: CUDA allocator peak on a GPU, the process's peak RSS on the CPU.

    On Linux the CPU figure is ``VmHWM`` after resetting it through ``/proc/self/clear_refs``, so
    it is the peak resident size reached inside the block (the whole process: data and code too).

    Example:
        >>> with PeakMemory(torch.device("cpu")) as pm:
        ...     x = torch.ones(1000)
        >>> pm.peak_bytes is None or pm.peak_bytes > 0
        True
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak_bytes: int | None = None
        self.kind = "cuda max_memory_allocated" if device.type == "cuda" else "process peak RSS (VmHWM)"

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            try:
                Path("/proc/self/clear_refs").write_text("5")
            except OSError:
                self.kind = "process peak RSS since start (VmHWM; could not reset)"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_bytes = int(torch.cuda.max_memory_allocated(self.device))
            return
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_bytes = int(line.split()[1]) * 1024
        except OSError:
            self.peak_bytes = None


class _NoModuleTracker:
    """Stands in for FlopCounterMode's module tracker, whose backward hooks break under
    ``torch.autograd.grad`` inside ``torch.func.vjp`` (the gradient penalty); totals only."""

    parents = frozenset({"Global"})

    def __enter__(self) -> _NoModuleTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def count_flops(fn: Callable[[], Any]) -> int | None:
    """FLOPs of one call of ``fn`` counted by :class:`torch.utils.flop_counter.FlopCounterMode`.

    Matrix products (and convolutions) are counted, elementwise work is not, as in the
    counter. Returns ``None`` when counting fails on this torch version.
    """
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    if hasattr(counter, "mod_tracker"):
        counter.mod_tracker = _NoModuleTracker()  # type: ignore[assignment]
    try:
        with counter:
            fn()
    except RuntimeError:
        return None
    return int(counter.get_total_flops())


def gpu_peak_tflops(device_name: str | None) -> dict[str, float] | None:
    """The data-sheet peaks of ``device_name`` (see :data:`GPU_PEAK_TFLOPS`), or ``None``."""
    if not device_name:
        return None
    for key, peaks in GPU_PEAK_TFLOPS:
        if key.lower() in device_name.lower():
            return dict(peaks)
    return None


def synthetic_zsl_data(
    name: str,
    *,
    attr_dim: int,
    seen: int,
    unseen: int,
    feature_dim: int,
    per_class: int,
    seed: int = 0,
) -> ZSLData:
    """A stand-in data set with the shapes of a real one: random semantics, made-up features.

    Features are ``relu(mu_c + 0.5 * noise)`` with ``mu_c`` a fixed random map of the class's
    semantics, ``per_class`` trainval and test samples per class. For speed only: it backs no
    accuracy claim.

    Raises:
        ConfigError: a size is not positive.
    """
    for key, value in (
        ("attr_dim", attr_dim),
        ("seen", seen),
        ("unseen", unseen),
        ("feature_dim", feature_dim),
        ("per_class", per_class),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"synthetic_zsl_data: {key} must be a positive integer, got {value!r}")
    rng = np.random.default_rng(seed)
    classes = seen + unseen
    sem = rng.random((classes, attr_dim)).astype(np.float32)
    sem /= np.linalg.norm(sem, axis=1, keepdims=True)
    w = rng.standard_normal((attr_dim, feature_dim)).astype(np.float32) * (2.0 / np.sqrt(attr_dim))
    mu = np.logaddexp(0.0, sem @ w).astype(np.float32)
    # trainval + test_seen for seen classes, test_unseen for unseen ones
    counts = np.where(np.arange(classes) < seen, 2 * per_class, per_class)
    labels = np.repeat(np.arange(classes), counts)
    feats = np.maximum(mu[labels] + 0.5 * rng.standard_normal((labels.size, feature_dim)), 0.0)
    idx = np.arange(labels.size)
    rank = idx - np.repeat(np.cumsum(counts) - counts, counts)
    is_seen = labels < seen
    return ZSLData(
        name=name,
        features=feats.astype(np.float32),
        labels=labels,
        semantics=sem,
        class_names=[f"class_{c}" for c in range(classes)],
        trainval=idx[is_seen & (rank < per_class)],
        test_seen=idx[is_seen & (rank >= per_class)],
        test_unseen=idx[~is_seen],
        seen_classes=np.arange(seen),
        unseen_classes=np.arange(seen, classes),
        preprocessing={"note": "synthetic semantics and features of the paper's shapes; speed only"},
        source=f"benchmarks.benchlib.synthetic_zsl_data({name!r})",
    )


def paper_shaped_data(
    dataset: str,
    *,
    xlsa17: Path | None,
    feature_dim: int,
    per_class: int,
    workdir: Path | None = None,
    seed: int = 0,
) -> tuple[ZSLData, str]:
    """The data of ``dataset`` at the paper's shapes, for speed measurements.

    With ``xlsa17/<dataset>/att_splits.mat`` present: semi-synthetic features
    (:func:`modgen.data.make_semisynthetic`, ``per_class`` samples per class and split) over the
    real class semantics and splits (CUB: the sentence embeddings when ``sent_splits.mat`` is
    there). Otherwise :func:`synthetic_zsl_data` with the shapes of :data:`PAPER_SHAPES`.

    Returns:
        ``(data, source)`` where ``source`` says which of the two it is.

    Raises:
        ConfigError: ``dataset`` has no known shapes.
    """
    if dataset not in PAPER_SHAPES:
        raise ConfigError(
            f"--datasets: unknown data set {dataset!r}; expected some of {', '.join(PAPER_SHAPES)}"
        )
    shape = PAPER_SHAPES[dataset]
    folder = None if xlsa17 is None else Path(xlsa17) / dataset
    if folder is not None and (folder / "att_splits.mat").is_file():
        from modgen.data import load_xlsa17, make_semisynthetic

        out = Path(workdir or tempfile.mkdtemp(prefix="modgen-bench-")) / dataset
        make_semisynthetic(
            folder / "att_splits.mat", out, feature_dim=feature_dim, samples=per_class, seed=seed
        )
        semantics = shape["semantics"]
        if semantics == "sent" and not (out / "sent_splits.mat").is_file():
            semantics = "att"
        try:
            data = load_xlsa17(out, dataset, semantics=semantics)
        except DataError:
            data = load_xlsa17(out, dataset, semantics="att")
            semantics = "att"
        return (
            data,
            f"semi-synthetic features over the real {dataset} att_splits.mat (semantics {semantics!r})",
        )
    data = synthetic_zsl_data(
        dataset,
        attr_dim=shape["attr_dim"],
        seen=shape["seen"],
        unseen=shape["unseen"],
        feature_dim=feature_dim,
        per_class=per_class,
        seed=seed,
    )
    return data, "synthetic class semantics of the paper's shapes (no att_splits.mat found)"


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` as indented JSON (parents created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def write_doc_block(doc: Path, key: str, body: str) -> None:
    """Replace the text between ``<!-- <key>:begin -->`` and ``<!-- <key>:end -->`` in ``doc``.

    Without the markers, the block is appended at the end of the page (the Results section).

    Raises:
        DataError: ``doc`` does not exist or holds only one of the two markers.
    """
    if not doc.is_file():
        raise DataError(f"--doc {str(doc)!r}: no such file; give the benchmarks page or --no-doc")
    text = doc.read_text(encoding="utf-8")
    begin, end = f"<!-- {key}:begin -->", f"<!-- {key}:end -->"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    has_begin, has_end = begin in text, end in text
    if has_begin != has_end:
        raise DataError(
            f"{doc}: found only {'the begin' if has_begin else 'the end'} marker of {key!r}; "
            f"restore both {begin} and {end} or delete the one left"
        )
    if has_begin:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.write_text(text, encoding="utf-8")


def add_doc_flag(parser: Any) -> None:
    """``--doc``: write the table into docs/benchmarks.md and the JSON into benchmarks/results."""
    parser.add_argument(
        "--doc", action="store_true", help="write the table into docs/benchmarks.md (clean tree only)"
    )


def add_smoke_flag(parser: Any, sizes: str) -> None:
    """``--smoke``: the script's smallest run, ``sizes`` saying what it shrinks; a check that the
    script still runs (tests/test_benchmark_scripts.py runs it), not a measurement. A smoke run
    writes nothing into the repository and needs neither a clean tree nor any git history."""
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"the smallest run ({sizes}): a check that this script runs, not a measurement; "
        "writes nothing into the repository",
    )


def commit_for(doc: bool) -> str:
    """This checkout's commit; with ``doc``, refuse a tree with uncommitted changes (a committed
    table must come from a clean commit that reproduces it)."""
    commit = git_commit()
    if doc and commit.endswith("+dirty"):
        raise SystemExit(
            f"uncommitted changes ({commit}): commit first (a committed table must come from a clean commit), "
            "or run without writing into the repository (no --doc, or --no-doc)"
        )
    return commit


def publish(
    benchmark: str,
    body: str,
    *,
    commit: str,
    machine: dict[str, Any],
    doc: bool,
    json_name: str,
    key: str,
    **measured: Any,
) -> dict[str, Any]:
    """Print ``body``; with ``doc``, write it into the page's ``key`` block and the payload (the
    benchmark's name, commit, date, machine, ``measured`` and the Markdown) to
    ``benchmarks/results/<json_name>``. Returns the payload."""
    payload = {
        "benchmark": benchmark,
        "commit": commit,
        "date": today(),
        "machine": machine,
        **measured,
        "markdown": body,
    }
    print(body)
    if doc:
        write_json(Path(__file__).resolve().parent / "results" / json_name, payload)
        write_doc_block(DEFAULT_DOC_PAGE, key, body)
    return payload
