"""Run folders: atomic writes that never leave a half-written file, JSON lines that survive a torn
append, the folder's lock, and what clearing a folder may delete."""

from __future__ import annotations

import errno
import json
import os
import stat

import pytest

from modgen import rundir
from modgen.errors import DataError, ModgenError
from modgen.rundir import (
    RunDir,
    RunLockedError,
    atomic_write_text,
    check_writable_folder,
    os_error,
    read_jsonl,
    record_written,
    write_json,
)

# -- atomic_write_text ------------------------------------------------------------------------------


def _others(folder, keep):
    return sorted(p.name for p in folder.iterdir() if p.name != keep)


def test_atomic_write_replaces_the_file_through_a_temporary_file_in_the_same_folder(tmp_path, monkeypatch):
    path = tmp_path / "summary.json"
    path.write_text("old\n", encoding="utf-8")
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        # at the moment of the rename the new text is whole in the temporary file and the final
        # file still holds the old text
        seen.append((os.fspath(src), os.fspath(dst), open(src).read(), open(dst).read()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    atomic_write_text(path, "new text\n")
    ((src, dst, src_text, dst_text),) = seen
    assert dst == os.fspath(path) and src != dst and os.path.dirname(src) == str(tmp_path)
    assert os.path.basename(src).startswith(".summary.json.") and src.endswith(".tmp")
    assert (src_text, dst_text) == ("new text\n", "old\n")
    assert path.read_text(encoding="utf-8") == "new text\n" and _others(tmp_path, "summary.json") == []


def test_atomic_write_failing_midway_keeps_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "results.json"
    path.write_text('{"old": 1}\n', encoding="utf-8")
    # a lone surrogate cannot be encoded: the write fails after the file was opened
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(path, '{"new": 2}\n' + "\ud800")
    assert path.read_text(encoding="utf-8") == '{"old": 1}\n'
    assert _others(tmp_path, "results.json") == []


def test_atomic_write_of_a_new_file_failing_midway_leaves_nothing(tmp_path):
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(tmp_path / "new.json", "\ud800")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_full_disk_is_a_one_line_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    path.write_text("old", encoding="utf-8")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ModgenError, match=r"cannot write '.*config.toml': no space left on the device"):
        atomic_write_text(path, "new")
    assert path.read_text(encoding="utf-8") == "old" and _others(tmp_path, "config.toml") == []


def test_atomic_write_makes_parents_and_gives_the_umask_mode(tmp_path):
    path = tmp_path / "a" / "b" / "c.txt"
    atomic_write_text(path, "x")
    mask = os.umask(0)
    os.umask(mask)
    assert path.read_text() == "x" and stat.S_IMODE(path.stat().st_mode) == 0o644 & ~mask


def test_write_json_is_sorted_indented_and_ends_with_a_newline(tmp_path):
    write_json(tmp_path / "x.json", {"b": 1, "a": [1, 2]})
    assert (tmp_path / "x.json").read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'


# -- JSON lines -----------------------------------------------------------------------------------


def test_read_jsonl_drops_only_a_torn_last_line(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n{"a": 3', encoding="utf-8")
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}]
    path.write_text('{"a": 1}\n{"a": \n{"a": 3}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"m.jsonl:2: not valid JSON .*; delete that line"):
        read_jsonl(path)
    path.write_text('{"a": 1}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"m.jsonl:2: expected a JSON object, got list"):
        read_jsonl(path)
    assert read_jsonl(tmp_path / "missing.jsonl") == []


def test_metrics_append_truncate_and_read(tmp_path):
    run = RunDir(tmp_path)
    run.append_metrics([])
    assert not run.metrics.exists()
    run.append_metrics([{"episode": 1}, {"episode": 2}])
    run.append_metrics([{"episode": 3}])
    assert [r["episode"] for r in run.read_metrics()] == [1, 2, 3]
    run.truncate_metrics(2)
    assert run.metrics.read_text() == '{"episode": 1}\n{"episode": 2}\n'
    RunDir(tmp_path / "none").truncate_metrics(1)
    assert not (tmp_path / "none").exists()


def test_an_append_cut_short_by_a_full_disk_is_cut_off_again(tmp_path, monkeypatch):
    run = RunDir(tmp_path)
    run.append_metrics([{"episode": 1}])
    before = run.metrics.read_bytes()
    real_write = os.write
    calls = {"n": 0}

    def short_then_full(fd, data):
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data[:5]))  # a short write ...
        raise OSError(errno.ENOSPC, "No space left on device")  # ... then the error

    monkeypatch.setattr(os, "write", short_then_full)
    with pytest.raises(ModgenError, match=r"cannot write '.*metrics.jsonl': no space left"):
        run.append_metrics([{"episode": 2, "loss/d": 0.25}])
    assert calls["n"] == 2 and run.metrics.read_bytes() == before


# -- errors ---------------------------------------------------------------------------------------


def test_os_error_names_the_path_and_the_fix(tmp_path):
    err = os_error(OSError(errno.EROFS, "Read-only file system"), "/x/y", "write")
    assert str(err) == "cannot write '/x/y': the file system is read-only; choose another folder"
    plain = os_error(OSError(errno.EIO, "Input/output error"), "/x", "read")
    assert str(plain) == "cannot read '/x': input/output error"
    (tmp_path / "file").write_text("")
    blocked = os_error(
        OSError(errno.ENOTDIR, "Not a directory"), tmp_path / "file" / "sub" / "x.json", "write"
    )
    assert f"{str(tmp_path / 'file')!r} is a file, not a folder; choose another path" in str(blocked)


def test_check_writable_folder(tmp_path):
    check_writable_folder(tmp_path / "new" / "deeper", "write")  # made later: fine
    (tmp_path / "file").write_text("")
    with pytest.raises(ModgenError, match=r"cannot write '.*r\.json': '.*file' is a file, not a folder"):
        check_writable_folder(tmp_path / "file" / "sub", "write", shown=tmp_path / "file" / "sub" / "r.json")
    with pytest.raises(ModgenError, match=r"cannot write .*file': it already exists as a file"):
        check_writable_folder(tmp_path / "file", "write")


def test_check_writable_folder_refuses_a_folder_it_may_not_write(tmp_path, monkeypatch):
    asked = []

    def no_access(path, mode):  # as a user without write permission (tests may run as root)
        asked.append((os.fspath(path), mode))
        return False

    monkeypatch.setattr(os, "access", no_access)
    with pytest.raises(ModgenError, match=r"cannot write '.*out': permission denied; choose a folder"):
        check_writable_folder(tmp_path / "out", "write")
    assert asked == [(os.fspath(tmp_path), os.W_OK | os.X_OK)]  # the nearest folder that exists
    with pytest.raises(ModgenError, match=r"cannot write to '.*run': permission denied"):
        RunDir(tmp_path / "run").create()


# -- the run folder -------------------------------------------------------------------------------


def test_exists_needs_a_modgen_recipe(tmp_path):
    run = RunDir(tmp_path)
    assert not run.exists()
    run.config.write_text("just = 'a user file'\n")
    assert not run.exists()
    run.config.write_text("not toml [")
    assert not run.exists()
    run.config.write_text('name = "amaz"\n[trainer]\nname = "meta"\n')
    assert run.exists() and not run.is_finished()
    run.summary.write_text("{}")
    assert not run.is_finished()
    run.results.write_text("{}")
    assert run.is_finished() and repr(run) == f"RunDir({str(tmp_path)!r})"


def test_create_and_stale_temporaries(tmp_path):
    run = RunDir(tmp_path / "a" / "b").create()
    assert run.root.is_dir()
    (run.root / "checkpoints").mkdir()
    stale = [run.root / ".summary.json.x1.tmp", run.root / "checkpoints" / ".last.pt.x2.tmp"]
    for p in stale:
        p.write_text("")
    (run.root / "keep.tmp").write_text("")
    assert sorted(run.remove_stale_temporaries()) == sorted(stale)
    assert not any(p.exists() for p in stale) and (run.root / "keep.tmp").exists()
    (tmp_path / "file").write_text("")
    with pytest.raises(ModgenError, match=r"cannot create the run folder"):
        RunDir(tmp_path / "file" / "run").create()


def test_the_lock_is_exclusive_and_names_its_holder(tmp_path):
    run = RunDir(tmp_path / "run")
    run.check_unlocked()  # no lock file: nothing to check, nothing made
    assert not run.root.exists()
    with run.lock():
        assert run.lock_file.read_text() == str(os.getpid())
        with pytest.raises(
            RunLockedError, match=rf"being written by another modgen process \(pid {os.getpid()}\)"
        ):
            run.check_unlocked()
        with pytest.raises(RunLockedError, match=r"use another --out"), run.lock():
            pass
    run.check_unlocked()  # released
    with run.lock():  # and can be taken again
        pass
    assert RunLockedError.exit_code == 3


def test_clear_deletes_what_a_run_wrote_and_nothing_else(tmp_path):
    run = RunDir(tmp_path)
    for name in (
        "config.toml",
        "metrics.jsonl",
        "results.md",
        ".summary.json.x.tmp",
        "sweep-1.json",
        ".lock",
    ):
        (tmp_path / name).write_text("x")
    for folder in ("checkpoints", "plots", "selection", "evaluations"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "f").write_text("x")
        record_written(tmp_path / folder / "f")  # written by modgen: in the manifest
    (tmp_path / "plots" / "mine.png").write_text("a user's file inside a modgen folder")
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "data").mkdir()
    run.clear()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "data", "notes.txt", "plots"]
    assert [p.name for p in (tmp_path / "plots").iterdir()] == ["mine.png"]
    RunDir(tmp_path / "missing").clear()  # nothing to clear


def test_clear_names_an_entry_it_cannot_delete(tmp_path, monkeypatch):
    (tmp_path / "results.md").write_text("x")

    def refuse(self, missing_ok=False):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(type(tmp_path), "unlink", refuse)
    with pytest.raises(ModgenError, match=r"cannot clear the run folder, deleting '.*results.md'"):
        RunDir(tmp_path).clear()


def test_module_example_round_trips_a_record(tmp_path):
    run = RunDir(tmp_path)
    run.write_json(run.summary, {"episodes": 2})
    assert json.loads(run.summary.read_text()) == {"episodes": 2}
    assert rundir.RUN_FILES[0] == "config.toml" and ".*.tmp" in rundir.RUN_ENTRIES


def test_truncating_keeps_records_without_an_episode_as_episode_0(tmp_path):
    run = RunDir(tmp_path)
    run.append_metrics([{"kind": "note"}, {"episode": 1}, {"episode": 2}])
    run.truncate_metrics(0)
    assert run.read_metrics() == [{"kind": "note"}]
