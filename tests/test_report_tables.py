"""Markdown/CSV tables and results files (every number in percent)."""

from __future__ import annotations

import json

import attrs
import pytest

from modgen.errors import DataError
from modgen.evaluate import EvaluationResult, aggregate
from modgen.report import (
    TEST_SELECTION_MARK,
    comparison_rows,
    csv_table,
    format_stat,
    markdown_table,
    read_results,
    results_markdown,
    write_results,
)


def result(seed: int = 0, zsl: float = 50.0, selected_on: str = "val") -> EvaluationResult:
    return EvaluationResult(
        dataset="digits",
        seed=seed,
        name="amaz",
        eval_seeds=3,
        selected_on=selected_on,
        zsl={"softmax": zsl, "svm": 25.0},
        zsl_std={"softmax": 2.0, "svm": 0.0},
        gzsl={"softmax": {"u": 40.0, "s": 80.0, "h": 53.3333333}, "svm": {"u": 0.0, "s": 90.0, "h": 0.0}},
        quality={"retrieval@5": 60.0, "retrieval@10": 55.0, "mean_gap_unseen": 0.4213},
        quality_std={"retrieval@5": 1.0},
    )


def test_single_result_tables():
    md = results_markdown(result())
    assert "# Results: amaz on digits" in md
    assert "mean ± std over 3 evaluation seeds; classifier settings selected on: val" in md
    # the ± of one result is the spread over its evaluation seeds
    assert "| softmax | 50.0 ± 2.0 | 40.0 ± 0.0 | 80.0 ± 0.0 | 53.3 ± 0.0 |" in md
    assert "| svm | 25.0 ± 0.0 |" in md
    assert "| retrieval precision@5 (%) | 60.0 ± 1.0 |" in md and "| retrieval precision@10 (%) | 55.0" in md
    assert "| synthetic-to-real class-mean gap, unseen (ratio) | 0.42 ± 0.00 |" in md
    assert TEST_SELECTION_MARK not in md


def test_aggregate_tables_show_mean_and_std_over_training_seeds():
    md = results_markdown(aggregate([result(0, 50.0), result(1, 70.0)]))
    assert "mean ± std over 2 training seeds (each the mean of 3 evaluation seeds)" in md
    assert "| softmax | 60.0 ± 14.1 |" in md
    assert "| svm | 25.0 ± 0.0 |" in md


def test_test_selection_is_marked_on_every_classifier_number():
    md = results_markdown(result(selected_on="test"))
    assert "| softmax | 50.0 ± 2.0† | 40.0 ± 0.0† | 80.0 ± 0.0† | 53.3 ± 0.0† |" in md
    assert md.count("literature-comparison mode") == 1  # the note under the table
    # the classifier-free measures do not depend on the classifiers' settings: unmarked
    assert "| retrieval precision@5 (%) | 60.0 ± 1.0 |" in md


def test_comparison_side_by_side_shows_the_settings_that_differ():
    groups = {
        "A": ({"recipe": "amaz", "data": "digits"}, [result(0, 50.0), result(1, 70.0)]),
        "B": ({"recipe": "zsml", "data": "digits"}, [result(zsl=30.0)]),
    }
    header, rows, raw = comparison_rows(groups, metrics=["zsl", "gzsl_h", "retrieval@5"])
    assert header == ["run", "recipe", "classifier", "seeds", "zsl", "gzsl_h", "retrieval@5"]  # not "data"
    md = markdown_table(header, rows, left=3)
    assert "| A | amaz | softmax | 2 | 60.0 ± 14.1 | 53.3 ± 0.0 | 60.0 ± 0.0 |" in md
    assert "| B | zsml | softmax | 1 | 30.0 | 53.3 | 60.0 |" in md
    assert "| B | zsml | svm | 1 | 25.0 | 0.0 | 60.0 |" in md
    assert md.splitlines()[1] == "|---|---|---|---:|---:|---:|---:|"
    # the raw rows carry numbers: the means, then the standard deviations
    assert raw[0][:7] == ["A", "amaz", "softmax", 2, 60.0, pytest.approx(53.3333333), 60.0]
    assert raw[0][7] == pytest.approx(14.1421356)
    csv = csv_table([*header, "zsl_std", "gzsl_h_std", "retrieval@5_std"], raw)
    assert csv.splitlines()[0].startswith("run,recipe,classifier,seeds,zsl,")
    assert csv.splitlines()[3].startswith("B,zsml,softmax,1,30.0,")
    marked = comparison_rows({"T": ({}, [result(selected_on="test")])}, metrics=["zsl", "retrieval@5"])[1]
    assert marked[0][-2:] == ["50.0†", "60.0"]
    with pytest.raises(DataError, match=r"comparison: nothing to compare"):
        comparison_rows({})


def test_format_stat():
    assert format_stat({"mean": 61.25, "std": 3.0}, 5) == "61.2 ± 3.0"
    assert format_stat({"mean": 61.25, "std": 3.0}, 1, TEST_SELECTION_MARK) == "61.2†"
    assert format_stat({"mean": 0.123, "std": 0.01}, 2, digits=2) == "0.12 ± 0.01"
    assert format_stat(None, 3) == "-" and format_stat({"mean": None}, 3) == "-"


def test_write_and_read_results(tmp_path):
    paths = write_results(tmp_path / "run", [result(0, 50.0), result(1, 70.0)])
    payload = json.loads(paths["json"].read_text())
    assert payload["format"] == "modgen-results" and payload["unit"] == "percent"
    assert payload["aggregate"]["zsl"]["softmax"]["mean"] == pytest.approx(60.0)
    assert [r["seed"] for r in payload["runs"]] == [0, 1]
    assert payload["runs"][0]["quality"]["retrieval@5"] == 60.0
    assert "60.0 ± 14.1" in paths["markdown"].read_text()
    back = read_results(tmp_path / "run")
    assert back == [result(0, 50.0), result(1, 70.0)]
    assert read_results(paths["json"]) == back
    single = write_results(tmp_path / "one", result(), stem="final")
    assert single["json"].name == "final.json" and "50.0 ± 2.0" in single["markdown"].read_text()


def test_report_errors(tmp_path):
    with pytest.raises(
        DataError, match=r"expected an EvaluationResult or the dict returned by aggregate\(\), got list"
    ):
        results_markdown([1, 2])
    with pytest.raises(DataError, match=r"no results file; run the evaluation first"):
        read_results(tmp_path)
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(DataError, match=r"results.json: cannot read it as JSON"):
        read_results(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps({"aggregate": {}, "runs": []}))
    with pytest.raises(DataError, match=r"not a modgen results file \(no format 'modgen-results'"):
        read_results(tmp_path)
    with pytest.raises(DataError, match=r"aggregate: results differ in 'selected_on' \('val' vs 'test'\)"):
        aggregate([result(), result(selected_on="test")])
    with pytest.raises(DataError, match=r"aggregate: no results to aggregate"):
        write_results(tmp_path, [])
    with pytest.raises(DataError, match=r"EvaluationResult: malformed value: .*'selected_on' must be in"):
        EvaluationResult.from_dict({"dataset": "digits", "selected_on": "train"})
    with pytest.raises(DataError, match=r"EvaluationResult: unknown keys \['zsl_top1'\]"):
        EvaluationResult.from_dict({"dataset": "digits", "zsl_top1": {}})


COLLAPSED = [
    "unseen collapse: the synthetic unseen class means classify real unseen samples at 33.3%",
    "seen classes not reproduced: the synthetic seen class means classify real seen samples at 10.0%",
]


def test_warnings_head_the_report_of_a_result_and_of_an_aggregate(tmp_path):
    healthy, bad = result(), attrs.evolve(result(seed=1), warnings=list(COLLAPSED))
    assert "Warning" not in results_markdown(healthy)
    md = results_markdown(bad)
    assert f"**Warning:** {COLLAPSED[0]}." in md and f"**Warning:** {COLLAPSED[1]}." in md
    assert md.index("**Warning:**") < md.index("| classifier |")
    agg = aggregate([healthy, bad])
    assert agg["warnings"] == [f"seed 1: {w}" for w in COLLAPSED]
    assert f"**Warning:** seed 1: {COLLAPSED[0]}." in results_markdown(agg)
    assert "Warning" not in results_markdown(aggregate([healthy, result(seed=2)]))
    write_results(tmp_path, [healthy, bad])
    assert read_results(tmp_path)[1].warnings == COLLAPSED
    assert "**Warning:** seed 1:" in (tmp_path / "results.md").read_text()


def test_comparison_shows_a_warnings_column_only_when_a_group_has_warnings():
    healthy = [result(0), result(1)]
    bad = [result(0), attrs.evolve(result(1), warnings=[COLLAPSED[0]])]
    header, rows, raw = comparison_rows({"A": ({}, healthy), "B": ({}, healthy)}, metrics=["zsl"])
    assert "warnings" not in header
    header, rows, raw = comparison_rows({"A": ({}, healthy), "B": ({}, bad)}, metrics=["zsl"])
    assert header == ["run", "warnings", "classifier", "seeds", "zsl"]
    assert [r[1] for r in rows] == ["", "", "unseen collapse 1/2 seeds", "unseen collapse 1/2 seeds"]
    assert [r[1] for r in raw] == [r[1] for r in rows]


def test_a_floor_chosen_on_a_grid_edge_is_flagged():
    inside = {"zsl": 60.0, "gzsl_h": 30.0, "params": {"alpha": 1.0}, "edge": []}
    on_edge = {**inside, "params": {"alpha": 1e6}, "edge": ["alpha"]}
    a = attrs.evolve(result(0), floor={"ridge": inside, "eszsl": inside})
    b = attrs.evolve(result(1), floor={"ridge": on_edge, "eszsl": inside})
    assert "| ridge (chosen on a grid edge: alpha) | 60.0 ± 0.0 |" in results_markdown(b)
    agg = aggregate([a, b])
    assert agg["floor"]["ridge"]["edge"] == ["alpha"] and agg["floor"]["eszsl"]["edge"] == []
    md = results_markdown(agg)
    assert "| ridge (chosen on a grid edge: alpha) |" in md and "| eszsl | 60.0 ± 0.0 |" in md
