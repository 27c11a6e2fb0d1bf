"""Sharded sweeps: the grid file, stable ids, shards that cover every point once, restarts that
repeat nothing finished, and the collected table."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from modgen.cli import build_app
from modgen.errors import ConfigError, DataError
from modgen.pipeline import spec_id
from modgen.sweeps import (
    collect_sweep,
    expand_grid,
    grid_from_dict,
    is_finished,
    load_grid,
    parse_shard,
    run_sweep,
    shard_points,
    write_collected,
)
from modgen.sweeps.grid import training_spec
from modgen.testing.presets import TINY_SIZES


def _as_overrides(sections: dict) -> list[str]:
    return [f"{s}.{k}={json.dumps(v)}" for s, params in sections.items() for k, v in params.items()]


#: A grid's ``set`` applies to every recipe: the tiny widths of the components all recipes share
#: (zsml's ``none`` modulator takes no ``hidden``). Digits has one validation class, so the
#: classifiers run with their own parameters (``selection=none``).
TINY = [
    "trainer.episodes=2",
    *_as_overrides({k: v for k, v in TINY_SIZES.items() if k != "modulator"}),
    "evaluation.gzsl_samples=10",
    "evaluation.retrieval_k=[]",
    "evaluation.zsl_samples=10",
    "evaluation.seeds=1",
    "evaluation.selection=none",
    "evaluation.classifier_params.softmax.epochs=2",
    "run.device=cpu",
]

runner = CliRunner()


@pytest.fixture(scope="module")
def regs():
    from modgen.plugins import get_registries

    return get_registries(entry_points=False)


def _grid_toml(path: Path, **axes) -> Path:
    lines = [f"{k} = {json.dumps(v)}" for k, v in axes.items()]
    lines.append(f"set = {json.dumps(TINY)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------------------
# the grid file


def test_load_grid_reads_every_axis(tmp_path):
    path = _grid_toml(
        tmp_path / "g.toml",
        recipes=["amaz"],
        datasets=["digits"],
        classifiers=["softmax"],
        seeds=[0, 1],
        sigma=[0.5, 1],
        samples=[10],
    )
    grid = load_grid(path)
    assert grid.recipes == ("amaz",) and grid.seeds == (0, 1) and grid.sigma == (0.5, 1.0)
    assert grid.samples == (10,) and grid.overrides == tuple(TINY) and grid.source == str(path)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (
            {"recipes": ["amaz"], "seed": [1]},
            r"g.toml: unknown key 'seed'; a grid has the keys recipes, datasets",
        ),
        ({"seeds": [0]}, r"g.toml: missing key 'recipes'"),
        (
            {"recipes": "amaz"},
            r"g.toml: key 'recipes' = 'amaz': expected a non-empty list of registered recipe",
        ),
        (
            {"recipes": ["amaz"], "seeds": [0, -1]},
            r"key 'seeds' = \[0, -1\]: expected a non-empty list of integers >= 0",
        ),
        ({"recipes": ["amaz"], "seeds": [1, 1]}, r"key 'seeds' lists 1 twice"),
        (
            {"recipes": ["amaz"], "samples": [0]},
            r"key 'samples' = \[0\]: expected a non-empty list of integers >= 1",
        ),
        (
            {"recipes": ["amaz"], "sigma": [True]},
            r"key 'sigma' = \[True\]: expected a non-empty list of numbers >= 0",
        ),
        (
            {"recipes": ["amaz"], "set": ["episodes"]},
            r"key 'set' = \['episodes'\]: expected a list of key=value",
        ),
    ],
)
def test_bad_grids_name_the_file_key_and_value(data, match):
    with pytest.raises(ConfigError, match=match):
        grid_from_dict(data, source="g.toml")


def test_grid_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"grid file '.*nope.toml' does not exist"):
        load_grid(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("recipes = [", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad.toml: invalid TOML"):
        load_grid(bad)


def test_expand_rejects_xlsa17_without_data_root_and_unknown_names(regs):
    with pytest.raises(
        ConfigError, match=r"datasets lists 'AWA2', an xlsa17 data set, but the grid has no data_root"
    ):
        expand_grid(grid_from_dict({"recipes": ["amaz"], "datasets": ["AWA2"]}, source="g.toml"), regs)
    with pytest.raises(Exception, match=r"amza"):
        expand_grid(grid_from_dict({"recipes": ["amza"]}), regs)
    with pytest.raises(Exception, match=r"sofmax"):
        expand_grid(grid_from_dict({"recipes": ["amaz"], "classifiers": ["sofmax"]}), regs)
    # "awa2" and "AWA2" name the same xlsa17 folder: the same run twice
    same = grid_from_dict(
        {"recipes": ["amaz"], "datasets": ["AWA2", "awa2"], "data_root": "/data/xlsa17"}, source="g.toml"
    )
    with pytest.raises(ConfigError, match=r"g.toml: two grid points resolve to the same run"):
        expand_grid(same, regs)
    with pytest.raises(ConfigError, match=r"trainer 'meta': unknown parameter 'batch_size'"):
        expand_grid(grid_from_dict({"recipes": ["amaz"], "set": ["trainer.batch_size=8"]}), regs)


def test_the_seed_axis_wins_over_a_seed_in_set(regs):
    grid = grid_from_dict({"recipes": ["amaz"], "seeds": [0, 1], "set": ["run.seed=3"]})
    assert [p.spec.run.seed for p in expand_grid(grid, regs)] in ([0, 1], [1, 0])


@pytest.mark.parametrize("text", ["1", "3/3", "-1/2", "a/b", "0/0"])
def test_parse_shard_rejects_malformed_values(text):
    with pytest.raises(ConfigError, match=r"--shard .*: expected i/n with 0 <= i < n"):
        parse_shard(text)


# ----------------------------------------------------------------------------------------------
# ids and shards


def test_ids_are_stable_and_independent_of_device_and_data_location(regs):
    grid = grid_from_dict({"recipes": ["amaz", "zsml"], "seeds": [0, 1], "set": list(TINY)})
    a = [(p.id, p.train_id, p.group) for p in expand_grid(grid, regs)]
    assert a == [(p.id, p.train_id, p.group) for p in expand_grid(grid, regs)]
    assert len({i for i, _, _ in a}) == 4 and a == sorted(a)
    moved = grid_from_dict(
        {"recipes": ["amaz", "zsml"], "seeds": [0, 1], "set": [*TINY, "run.device=auto", "run.threads=2"]}
    )
    assert [p.id for p in expand_grid(moved, regs)] == [i for i, _, _ in a]
    elsewhere = {"recipes": ["amaz"], "datasets": ["AWA2"]}
    ids = {
        root: expand_grid(grid_from_dict({**elsewhere, "data_root": root}), regs)[0].id
        for root in ("/data/xlsa17", "/scratch/me/xlsa17")
    }
    assert len(set(ids.values())) == 1
    # the seeds of one configuration share a group; other settings do not
    points = expand_grid(grid, regs)
    assert len({p.group for p in points}) == 2
    assert spec_id(points[0].spec) == points[0].id


@given(
    recipes=st.sets(st.sampled_from(["amaz", "zsml", "clswgan"]), min_size=1),
    seeds=st.sets(st.integers(0, 50), min_size=1, max_size=4),
    sigma=st.sets(st.sampled_from([0.5, 1.0, 2.0]), min_size=1, max_size=2),
    shards=st.integers(1, 5),
)
def test_shards_cover_every_point_exactly_once_and_keep_each_model_on_one_shard(
    regs, recipes, seeds, sigma, shards
):
    grid = grid_from_dict({"recipes": sorted(recipes), "seeds": sorted(seeds), "sigma": sorted(sigma)})
    points = expand_grid(grid, regs)
    assert len(points) == len(recipes) * len(seeds) * len(sigma)
    parts = [shard_points(points, i, shards) for i in range(shards)]
    ids = [p.id for part in parts for p in part]
    assert sorted(ids) == sorted(p.id for p in points) and len(ids) == len(set(ids))
    owner = {p.train_id: i for i, part in enumerate(parts) for p in part}
    assert all(owner[p.train_id] == i for i, part in enumerate(parts) for p in part)
    # points differing only in sigma share their trained model
    assert len(owner) == len(recipes) * len(seeds)


def test_a_grid_sharded_three_ways_covers_every_point_exactly_once(regs):
    grid = grid_from_dict({"recipes": ["amaz", "zsml"], "seeds": [0, 1, 2, 3], "samples": [10, 50]})
    points = expand_grid(grid, regs)
    parts = [shard_points(points, i, 3) for i in range(3)]
    seen = [p.id for part in parts for p in part]
    assert len(points) == 16 and sorted(seen) == [p.id for p in points]
    assert all(part for part in parts)  # 8 models dealt round-robin: 3, 3, 2
    assert [len({p.train_id for p in part}) for part in parts] == [3, 3, 2]


# ----------------------------------------------------------------------------------------------
# running, restarting, collecting


class _Killed(Exception):
    pass


def test_a_killed_sweep_resumes_without_repeating_finished_points(regs, tmp_path):
    grid = grid_from_dict(
        {"recipes": ["amaz"], "classifiers": ["softmax"], "seeds": [0, 1], "sigma": [0.5, 1.0], "set": TINY}
    )
    points = expand_grid(grid, regs)
    out = tmp_path / "sweep"
    lines: list[str] = []

    def kill_after_first(line: str) -> None:
        lines.append(line)
        if line.startswith("done"):
            raise _Killed  # the scheduler killed the job right after the first result

    with pytest.raises(_Killed):
        run_sweep(points, regs, out, log=kill_after_first)
    first = [p.id for p in points if is_finished(out, p)]
    assert len(first) == 1
    finished_at = (out / "runs" / first[0] / "results.json").stat().st_mtime_ns
    model = out / "models" / next(p.train_id for p in points if p.id == first[0])
    trained_at = (model / "summary.json").stat().st_mtime_ns

    report = run_sweep(points, regs, out)
    assert report.skipped == tuple(first) and report.failed == ()
    assert sorted(report.ran) == sorted(p.id for p in points if p.id not in first)
    assert all(is_finished(out, p) for p in points)
    # the finished point was not redone, and its model (shared by both sigmas) not retrained
    assert (out / "runs" / first[0] / "results.json").stat().st_mtime_ns == finished_at
    assert (model / "summary.json").stat().st_mtime_ns == trained_at
    assert len(list((out / "models").iterdir())) == 2  # one model per seed, not per sigma

    again = run_sweep(points, regs, out)
    assert again.ran == () and sorted(again.skipped) == sorted(p.id for p in points)

    # the two sigmas are two settings, each over two seeds: a sigma column tells them apart
    paths = write_collected(out, metrics=["zsl"])
    rows = json.loads(paths["json"].read_text())["rows"]
    assert sorted((float(r["evaluation.sigma_test"]), r["seeds"]) for r in rows) == [(0.5, 2), (1.0, 2)]
    table = paths["markdown"].read_text()
    # (a 2-episode model collapses, so a warnings column may stand before the classifier)
    assert re.search(
        r"\| run \| evaluation\.sigma_test \| (warnings \| )?classifier \| seeds \| zsl \|", table
    )


def test_a_model_killed_mid_training_resumes_from_its_checkpoint(regs, tmp_path):
    from attrs import evolve

    from modgen.data import load_dataset
    from modgen.rundir import RunDir
    from modgen.train.loop import train

    grid = grid_from_dict({"recipes": ["amaz"], "classifiers": ["softmax"], "set": TINY})
    (point,) = expand_grid(grid, regs)
    out = tmp_path / "sweep"
    model = out / "models" / point.train_id
    # the killed attempt: a checkpoint after episode 1 of 2, no summary
    spec = training_spec(point.spec)
    train(
        evolve(spec, trainer=evolve(spec.trainer, params={**spec.trainer.params, "episodes": 1})),
        regs,
        data=load_dataset(regs, spec.data),
        out=model,
        device="cpu",
    )
    (model / "summary.json").unlink()

    report = run_sweep([point], regs, out)
    assert report.ran == (point.id,)
    summary = json.loads((model / "summary.json").read_text())
    assert summary["resumed_from"] == 1 and summary["episodes"] == 2
    assert [m["episode"] for m in RunDir(model).read_metrics()] == [1, 2]


def test_a_failing_point_writes_its_error_and_the_others_go_on(regs, tmp_path):
    grid = grid_from_dict(
        {
            "recipes": ["amaz"],
            "datasets": ["AWA2", "digits"],
            "classifiers": ["softmax"],
            "data_root": str(tmp_path / "none"),
            "set": TINY,
        }
    )
    points = expand_grid(grid, regs)
    out = tmp_path / "sweep"
    report = run_sweep(points, regs, out)
    bad = next(p for p in points if p.dataset == "AWA2")
    assert report.failed == (bad.id,) and len(report.ran) == 1
    error = json.loads((out / "runs" / bad.id / "error.json").read_text())
    assert error["error"] in ("DataError", "ConfigError") and error["message"]
    summary = collect_sweep(out)
    assert summary["failed"] == [bad.id] and summary["finished"] == list(report.ran)
    assert [r.dataset for g in summary["groups"].values() for r in g.results] == ["digits"]


def test_sweep_run_in_two_shards_and_collect_build_one_table(regs, tmp_path):
    app = build_app(regs, plugin_commands=False)
    grid = _grid_toml(
        tmp_path / "grid.toml", recipes=["amaz"], classifiers=["softmax", "svm"], seeds=[0, 1], samples=[10]
    )
    out = tmp_path / "sweep"
    first = runner.invoke(app, ["sweep", "run", str(grid), "--shard", "0/2", "--out", str(out)])
    assert first.exit_code == 0, first.output
    assert "2 points, shard 0/2 has 1" in first.output

    partial = runner.invoke(app, ["sweep", "collect", str(out)])
    assert partial.exit_code == 0, partial.output
    assert "1 point(s) not started" in partial.output

    second = runner.invoke(app, ["sweep", "run", str(grid), "--shard", "1/2", "--out", str(out)])
    assert second.exit_code == 0, second.output
    listed = runner.invoke(app, ["sweep", "run", str(grid), "--shard", "1/2", "--out", str(out), "--dry-run"])
    assert listed.exit_code == 0 and "finished" in listed.output and "to run" not in listed.output

    done = runner.invoke(app, ["sweep", "collect", str(out)])
    assert done.exit_code == 0, done.output
    summary = json.loads((out / "sweep-results.json").read_text())
    assert [r["classifier"] for r in summary["rows"]] == ["softmax", "svm"]
    assert all(r["seeds"] == 2 and r["run"].startswith("amaz-digits-") for r in summary["rows"])
    assert all(0.0 <= r["zsl"] <= 100.0 and r["zsl_std"] >= 0.0 for r in summary["rows"])
    assert summary["missing"] == [] and summary["unfinished"] == [] and len(summary["finished"]) == 2
    table = (out / "sweep-results.md").read_text()
    label = summary["rows"][0]["run"]
    warned = summary["rows"][0].get("warnings")  # 2-episode models collapse: a warnings column
    assert f"| {label} | {warned + ' | ' if warned else ''}softmax | 2 | " in table and " ± " in table
    plan = json.loads((out / "plan.json").read_text())
    assert sorted(p["shard"] for p in plan["points"]) == [0, 1]


def test_sweep_cli_errors_are_one_line(regs, tmp_path):
    app = build_app(regs, plugin_commands=False)
    grid = _grid_toml(tmp_path / "grid.toml", recipes=["amaz"])
    bad = runner.invoke(app, ["sweep", "run", str(grid), "--shard", "2/2"])
    assert bad.exit_code == 2 and "--shard '2/2': expected i/n" in bad.output
    missing = runner.invoke(app, ["sweep", "collect", str(tmp_path / "empty")])
    assert missing.exit_code != 0 and "is not a sweep folder: no runs/ inside" in missing.output


def test_collect_rejects_a_folder_that_is_not_a_sweep(tmp_path):
    with pytest.raises(DataError, match=r"is not a sweep folder: no runs/ inside"):
        collect_sweep(tmp_path)
