"""Run folders: one folder holds everything one run writes, and nothing is ever silently lost.

Layout::

    RUN/
      config.toml          the fully resolved RecipeSpec
      provenance.json      modgen/torch/python versions, git commit, plugins, machine, device,
                           threads, start and end times
      metrics.jsonl        one JSON object per record: training losses (``"kind": "train"``)
                           and evaluation summaries (``"kind": "eval"``), each with a timestamp
      checkpoints/last.pt  the newest checkpoint (temporary file + rename: never half-written)
      summary.json         what training did (episodes, time, device, data preprocessing)
      results.json/.md     the evaluation (percent), written last
      selection/           the validation-view run that chose the classifiers' settings
                           (``evaluation.selection = "val"``)
      evaluations/<name>/  later evaluations with other settings (``modgen evaluate --set``)
      plots/*.png          loss curves and other figures
      .lock                held while a process writes the folder
      .manifest            what modgen wrote inside its folders, one path a line (relative to
                           the run folder): ``--overwrite`` deletes by it, so a user's file in
                           ``plots/``, ``selection/`` or ``evaluations/`` survives

Every text file is written atomically (temporary file, fsync, rename); metrics are appended
line by line and a torn last line (a full disk, a kill) is dropped when the file is read.

Example:
    >>> import tempfile
    >>> run = RunDir(tempfile.mkdtemp())
    >>> run.append_metrics([{"episode": 1, "loss/d": 0.5}])
    >>> run.read_metrics()[0]["loss/d"]
    0.5
"""

from __future__ import annotations

import errno
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modgen.errors import DataError, ModgenError

if TYPE_CHECKING:
    from modgen.evaluate.protocols import EvaluationResult

__all__ = [
    "RunDir",
    "RunLockedError",
    "atomic_write_text",
    "write_json",
    "os_error",
    "check_writable_folder",
    "now",
    "write_results",
    "read_results",
    "record_written",
    "MANIFEST",
]

#: Files a finished or started run leaves; their presence makes a folder "not empty".
RUN_FILES = ("config.toml", "metrics.jsonl", "summary.json", "results.json", "checkpoints")

#: What modgen writes into a run folder. ``--overwrite`` deletes the files of these names at the
#: top; inside the folders among them, only the files the manifest (:data:`MANIFEST`) names.
RUN_ENTRIES = (
    *RUN_FILES,
    "provenance.json",
    "results.md",
    "results.csv",
    "plots",
    "selection",
    "evaluations",
    "synthetic.npz",
    "sweep-*.json",
    ".*.tmp",
)

#: The file (in a run folder) that lists what modgen wrote there, one relative path a line.
MANIFEST = ".manifest"

#: File names modgen writes inside its folders, deleted by ``--overwrite`` in a run written
#: before runs kept a manifest (nothing else in those folders is touched).
LEGACY_NAMES = (
    *RUN_FILES,
    "last.pt",
    "provenance.json",
    "results.md",
    "results.csv",
    "selection.json",
    "losses.png",
    "tsne-*.png",
    ".*.tmp",
    ".lock",
)


_RECORDED: set[tuple[Path, str]] = set()  # what this process recorded: each path once, not per save


def record_written(path: str | os.PathLike[str]) -> None:
    """Add ``path`` to the manifest of the run folder it lies in (the nearest folder above it,
    at most three levels up, holding a ``.lock``: one modgen writes); a path in no run folder is
    not recorded. Never raises: the manifest is bookkeeping, never a reason to fail a write."""
    target = Path(path).absolute()
    for root in list(target.parents)[:3]:
        if (root / ".lock").is_file():
            line = target.relative_to(root).as_posix()
            if "/" not in line or (root, line) in _RECORDED:  # top-level files go by their names
                return
            try:
                with open(root / MANIFEST, "a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
            except OSError:
                return
            _RECORDED.add((root, line))
            return


def now() -> str:
    """The time stamp run files record (``metrics.jsonl``, ``provenance.json``): UTC, ISO 8601, seconds.

    Example:
        >>> now().endswith("+00:00")
        True
    """
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunLockedError(ModgenError):
    """Another process is writing the run folder."""

    exit_code = 3


def os_error(err: OSError, path: str | os.PathLike[str], doing: str) -> ModgenError:
    """A one-line :class:`ModgenError` for an OS error while ``doing`` something to ``path``.

    Example:
        >>> str(os_error(PermissionError(13, "Permission denied"), "/x", "write"))
        "cannot write '/x': permission denied; choose a folder you can write to (--out) or fix its permissions"
    """
    fixes = {
        errno.EACCES: "permission denied; choose a folder you can write to (--out) or fix its permissions",
        errno.EPERM: "operation not permitted; choose another folder (--out) or fix its permissions",
        errno.ENOSPC: "no space left on the device; free some space and resume the run (--resume)",
        errno.EDQUOT: "disk quota exceeded; free some space and resume the run (--resume)",
        errno.EFBIG: "file too large for this file system or the process's file size limit (ulimit -f); raise "
        "the limit and resume the run (--resume), or write elsewhere (--out)",
        errno.ENOTDIR: "a part of the path is a file, not a folder; choose another path",
        errno.EISDIR: "it is a folder, not a file; name a file",
        errno.EEXIST: "it already exists as a file; choose another path",
        errno.EROFS: "the file system is read-only; choose another folder",
        errno.ENOENT: "no such file or folder",
        errno.ENAMETOOLONG: "the file name is too long",
    }
    words = err.strerror or type(err).__name__
    reason = fixes.get(err.errno or 0, words[:1].lower() + words[1:])
    dangling = _dangling_link(Path(path))
    if dangling is not None and err.errno in (errno.ENOTDIR, errno.EEXIST, errno.ENOENT, errno.ELOOP):
        return ModgenError(f"cannot {doing} {str(path)!r}: {_dangling_reason(dangling)}")
    if err.errno in (errno.ENOTDIR, errno.EEXIST):
        blocker = _file_in_the_way(Path(path))
        if blocker is not None and blocker != Path(path):
            reason = f"{str(blocker)!r} is a file, not a folder; choose another path"
    return ModgenError(f"cannot {doing} {str(path)!r}: {reason}")


def _dangling_link(path: Path) -> Path | None:
    """The first part of ``path`` (from the root down) that is a symlink to nothing (or a loop)."""
    for part in reversed([path, *path.parents]):
        if part.is_symlink() and not part.exists():
            return part
    return None


def _dangling_reason(link: Path) -> str:
    try:
        target = os.readlink(link)
    except OSError:
        target = "?"
    return f"{str(link)!r} is a symlink to {target!r}, which does not exist (or loops); remove the link or make its target"


def _file_in_the_way(path: Path) -> Path | None:
    """The first part of ``path`` (from the root down) that exists and is not a folder."""
    for part in reversed([path, *path.parents]):
        if part.exists() and not part.is_dir():
            return part
    return None


def check_writable_folder(
    path: str | os.PathLike[str], doing: str, *, shown: str | os.PathLike[str] | None = None
) -> None:
    """Fail now, before any work, if ``path`` (a folder, made later if missing) cannot be written.

    The nearest existing part of ``path`` must be a folder this process may write to. The
    message names ``shown`` (default ``path``), e.g. the file to be written into ``path``.

    Raises:
        ModgenError: a part of ``path`` is a file, or the folder it would go into is not writable.
    """
    target = Path(path)
    named = Path(shown) if shown is not None else target
    dangling = _dangling_link(target)
    if dangling is not None:
        raise ModgenError(f"cannot {doing} {str(named)!r}: {_dangling_reason(dangling)}")
    blocker = _file_in_the_way(target)
    if blocker is not None:
        code = errno.EEXIST if blocker == named else errno.ENOTDIR
        raise os_error(OSError(code, os.strerror(code)), named, doing)
    existing = next((p for p in [target, *target.parents] if p.exists()), Path("."))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise os_error(PermissionError(errno.EACCES, "denied"), named, doing)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (never half-written).

    Raises:
        ModgenError: the folder cannot be created or written (permission, full disk, ...).
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644 & ~_umask())
        os.replace(tmp, path)
        record_written(path)
    except OSError as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise os_error(err, path, "write") from err
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file; blank lines and a torn *last* line are skipped.

    Raises:
        DataError: a line other than the last is not a JSON object (the message gives the
            line number).
    """
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    except OSError as err:
        raise os_error(err, path, "read") from err
    out: list[dict[str, Any]] = []
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for no, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            if no == last:  # an append cut short (full disk, kill): drop it
                continue
            raise DataError(f"{path}:{no + 1}: not valid JSON ({err.msg}); delete that line") from err
        if not isinstance(rec, dict):
            raise DataError(f"{path}:{no + 1}: expected a JSON object, got {type(rec).__name__}")
        out.append(rec)
    return out


# ----------------------------------------------------------------------------------------------
# results.json: the evaluation of a run (or of several seeds)


def _results_payload(runs: Sequence[EvaluationResult]) -> dict[str, Any]:
    from modgen.evaluate.protocols import aggregate

    return {
        "format": "modgen-results",
        "unit": "percent",
        "aggregate": aggregate(runs),
        "runs": [r.to_dict() for r in runs],
    }


def write_results(
    folder: str | os.PathLike[str],
    results: EvaluationResult | Sequence[EvaluationResult],
    *,
    stem: str = "results",
) -> dict[str, Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` into ``folder``, atomically (Markdown first).

    The JSON holds ``{"format", "unit": "percent", "aggregate": ..., "runs": [...]}``; the
    Markdown the tables of the single result, or of the aggregate when there are several
    (rendered by :func:`modgen.report.results_markdown`).

    Raises:
        DataError: ``results`` is empty or not aggregatable.
        ModgenError: the folder cannot be written.

    Example:
        >>> import tempfile
        >>> from modgen.evaluate import EvaluationResult
        >>> paths = write_results(tempfile.mkdtemp(), EvaluationResult("digits", zsl={"svm": 50.0}))
        >>> sorted(p.name for p in paths.values())
        ['results.json', 'results.md']
    """
    from modgen.evaluate.protocols import EvaluationResult
    from modgen.report.tables import results_markdown

    runs = [results] if isinstance(results, EvaluationResult) else list(results)
    payload = _results_payload(runs)
    out = Path(folder)
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    atomic_write_text(md_path, results_markdown(runs[0] if len(runs) == 1 else payload["aggregate"]))
    atomic_write_text(json_path, json.dumps(payload, indent=2) + "\n")
    return {"json": json_path, "markdown": md_path}


def read_results(path: str | os.PathLike[str]) -> list[EvaluationResult]:
    """The results stored by :func:`write_results` (a ``results.json`` file or its folder).

    Raises:
        DataError: the file is missing, not JSON, or not in :func:`write_results`' format.

    Example:
        >>> import tempfile
        >>> from modgen.evaluate import EvaluationResult
        >>> folder = tempfile.mkdtemp()
        >>> _ = write_results(folder, EvaluationResult("digits", zsl={"svm": 50.0}))
        >>> read_results(folder)[0].zsl
        {'svm': 50.0}
    """
    from modgen.evaluate.protocols import EvaluationResult

    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    try:
        payload = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise DataError(f"{p}: no results file; run the evaluation first (it writes results.json)") from err
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{p}: cannot read it as JSON ({err})") from err
    if (
        not isinstance(payload, Mapping)
        or payload.get("format") != "modgen-results"
        or not isinstance(payload.get("runs"), list)
    ):
        raise DataError(f"{p}: not a modgen results file (no format 'modgen-results' with a 'runs' list)")
    try:
        return [EvaluationResult.from_dict(r) for r in payload["runs"]]
    except (DataError, TypeError) as err:
        raise DataError(f"{p}: a run is malformed: {err}") from err


def _delete(path: Path, *, folder: bool = False) -> None:
    try:
        if folder:
            path.rmdir()
        else:
            path.unlink(missing_ok=True)
    except OSError as err:
        raise os_error(err, path, "clear the run folder, deleting") from err


class RunDir:
    """Paths and writers of one run folder (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r})"

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoints" / "last.pt"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def provenance(self) -> Path:
        return self.root / "provenance.json"

    @property
    def results(self) -> Path:
        return self.root / "results.json"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def selection(self) -> Path:
        return self.root / "selection"

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    # -- state -----------------------------------------------------------------------------------
    def exists(self) -> bool:
        """Whether the folder holds a run: its ``config.toml`` is a modgen recipe (a user's folder
        that merely has files of the same names is not a run, and is never overwritten)."""
        if not self.config.is_file():
            return False
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover
            import tomli as tomllib
        try:
            data = tomllib.loads(self.config.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, ValueError):
            return False
        trainer = data.get("trainer")
        return isinstance(data.get("name"), str) and isinstance(trainer, dict) and "name" in trainer

    def is_trained(self) -> bool:
        """Whether training finished here: ``summary.json`` and a checkpoint to load the networks from."""
        return self.summary.is_file() and self.checkpoint.is_file()

    def is_finished(self) -> bool:
        """Whether training finished (``summary.json``) and the evaluation was written."""
        return self.summary.is_file() and self.results.is_file()

    def create(self) -> RunDir:
        """Make the folder (and its parents).

        Raises:
            ModgenError: it cannot be made (a file in the way, no permission, ...).
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise os_error(err, self.root, "create the run folder") from err
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise os_error(PermissionError(errno.EACCES, "denied"), self.root, "write to")
        return self

    def remove_stale_temporaries(self) -> list[Path]:
        """Delete ``.*.tmp`` files a killed write left behind (checkpoints are GBs at AWA2 size)."""
        removed = []
        for folder in (self.root, self.root / "checkpoints"):
            if folder.is_dir():
                for tmp in folder.glob(".*.tmp"):
                    tmp.unlink(missing_ok=True)
                    removed.append(tmp)
        return removed

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's lock (an exclusive ``flock`` on ``.lock``) while writing it.

        Raises:
            RunLockedError: another process holds it; the message gives its pid.
        """
        import fcntl

        self.create()
        try:
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise os_error(err, self.lock_file, "create the lock file") from err
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise self._locked(fd) from None
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            yield
        finally:
            os.close(fd)

    def check_unlocked(self) -> None:
        """Raise if another process holds the folder's lock; a read-only probe that creates nothing.

        Raises:
            RunLockedError: another process is writing the folder; the message gives its pid.
        """
        import fcntl

        try:
            fd = os.open(self.lock_file, os.O_RDONLY)
        except OSError:  # no lock file: no process has ever written here
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                raise self._locked(fd) from None
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _locked(self, fd: int) -> RunLockedError:
        os.lseek(fd, 0, os.SEEK_SET)
        holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
        return RunLockedError(
            f"run folder {str(self.root)!r} is being written by another modgen process (pid "
            f"{holder}); wait for it to finish or use another --out"
        )

    def clear(self) -> None:
        """Delete what a run wrote into the folder; other files and the lock stay. Call it while
        holding the lock.

        At the top, the files named in :data:`RUN_ENTRIES`; inside the folders among them
        (``plots/``, ``selection/``, ``evaluations/``, ...), only the files the manifests of the
        run and of the runs nested in it name (:func:`record_written`), or, in a run written
        before manifests, the files of modgen's names (:data:`LEGACY_NAMES`). A folder is removed
        only when nothing is left in it.

        Raises:
            ModgenError: an entry cannot be deleted.
        """
        if not self.root.is_dir():
            return
        written = self._written()
        entries = {p for pattern in RUN_ENTRIES for p in self.root.glob(pattern)}
        for entry in sorted(entries):
            if entry.is_dir() and not entry.is_symlink():
                self._clear_folder(entry, written)
            else:
                _delete(entry)
        _delete(self.root / MANIFEST)
        root = self.root.absolute()
        _RECORDED.difference_update({r for r in _RECORDED if r[0] == root or root in r[0].parents})

    def _written(self) -> set[Path] | None:
        """The files the manifests under the run folder name (``None``: a run without one)."""
        if not (self.root / MANIFEST).is_file():
            return None
        written: set[Path] = set()
        for manifest in self.root.rglob(MANIFEST):
            try:
                lines = manifest.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            written.update(manifest.parent / line for line in lines if line.strip())
        return written

    def _clear_folder(self, folder: Path, written: set[Path] | None) -> None:
        from fnmatch import fnmatch

        for path in sorted(folder.rglob("*"), reverse=True):  # children before their folder
            if path.is_dir() and not path.is_symlink():
                if not any(path.iterdir()):
                    _delete(path, folder=True)
                continue
            if path.name in (MANIFEST, ".lock") or fnmatch(path.name, ".*.tmp"):
                mine = True
            elif written is None:
                mine = any(fnmatch(path.name, pattern) for pattern in LEGACY_NAMES)
            else:
                mine = path in written
            if mine:
                _delete(path)
        if not any(folder.iterdir()):
            _delete(folder, folder=True)

    # -- metrics ---------------------------------------------------------------------------------
    def append_metrics(self, records: list[dict[str, Any]]) -> None:
        """Append records (one JSON object per line), each line whole or not at all.

        Raises:
            ModgenError: the disk is full or the file cannot be written; a partly written line
                is cut off again, so the file stays readable.
        """
        if not records:
            return
        text = "".join(json.dumps(rec) + "\n" for rec in records).encode()
        try:
            fd = os.open(self.metrics, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as err:
            raise os_error(err, self.metrics, "write") from err
        try:
            size = os.fstat(fd).st_size
            try:
                rest = memoryview(text)
                while rest:  # a short write (the disk filling up) is followed by the error
                    rest = rest[os.write(fd, rest) :]
            except OSError as err:
                os.ftruncate(fd, size)
                raise os_error(err, self.metrics, "write") from err
        finally:
            os.close(fd)

    def truncate_metrics(self, after_episode: int) -> None:
        """Keep the records of episodes up to ``after_episode`` (a resumed run rewrites the rest)."""
        if not self.metrics.exists():
            return
        keep = []
        for rec in self.read_metrics():
            episode = rec.get("episode", 0)
            if not isinstance(episode, (int, float)) or isinstance(episode, bool):
                raise DataError(
                    f"{self.metrics}: a record has episode {episode!r}, expected a number; fix or delete that line"
                )
            if episode <= after_episode:
                keep.append(rec)
        atomic_write_text(self.metrics, "".join(json.dumps(r) + "\n" for r in keep))

    def read_metrics(self) -> list[dict[str, Any]]:
        """Every metrics record (a torn last line is skipped)."""
        return read_jsonl(self.metrics)

    def write_json(self, path: Path, data: Any) -> None:
        write_json(path, data)

    def append_evaluation(self, result: EvaluationResult, name: str, episode: int) -> None:
        """Append the record of an evaluation to the metrics: ``kind: eval``, its ``name`` (``final``,
        or the id of a later evaluation), the ``episode`` of the networks, the time, and per
        classifier ``zsl/<c>`` and ``gzsl_h/<c>``, and the classifier-free ``quality/<m>``.
        """
        record: dict[str, Any] = {"kind": "eval", "evaluation": name, "episode": episode, "time": now()}
        record.update({f"zsl/{c}": v for c, v in result.zsl.items()})
        record.update({f"gzsl_h/{c}": g["h"] for c, g in result.gzsl.items()})
        record.update({f"quality/{m}": v for m, v in result.quality.items()})
        self.append_metrics([record])
