"""Markdown tables and results files."""

from __future__ import annotations

import json

import pytest

from modgen.errors import DataError
from modgen.evaluate import EvaluationResult, aggregate
from modgen.report import (
    TEST_SELECTION_MARK,
    comparison_markdown,
    read_results,
    results_markdown,
    write_results,
)


def result(seed: int = 0, zsl: float = 0.5, selected_on: str = "val") -> EvaluationResult:
    return EvaluationResult(
        dataset="digits",
        seed=seed,
        name="amaz",
        selected_on=selected_on,
        zsl={"softmax": zsl, "svm": 0.25},
        gzsl={"softmax": {"u": 0.4, "s": 0.8, "h": 0.5333333}, "svm": {"u": 0.0, "s": 0.9, "h": 0.0}},
        retrieval={5: 0.6, 10: 0.55},
    )


def test_single_result_tables():
    md = results_markdown(result())
    assert "# Results: amaz on digits" in md
    assert "| softmax | 50.0 |" in md and "| svm | 25.0 |" in md
    assert "| softmax | 40.0 | 80.0 | 53.3 |" in md
    assert "| 5 | 60.0 |" in md and "| 10 | 55.0 |" in md
    assert TEST_SELECTION_MARK not in md


def test_aggregate_tables_show_mean_and_std():
    md = results_markdown(aggregate([result(0, 0.5), result(1, 0.7)]))
    assert "mean ± std over 2 seeds" in md
    assert "| softmax | 60.0 ± 14.1 |" in md
    assert "| svm | 25.0 ± 0.0 |" in md


def test_test_selection_is_marked_on_every_number():
    md = results_markdown(result(selected_on="test"))
    assert "| softmax | 50.0† |" in md
    assert "| softmax | 40.0† | 80.0† | 53.3† |" in md
    assert md.count("literature-comparison mode") == 2  # under the ZSL and the GZSL table


def test_comparison_side_by_side():
    md = comparison_markdown({"amaz": aggregate([result(0, 0.5), result(1, 0.7)]), "zsml": result(zsl=0.3)})
    assert "| amaz | softmax | 60.0 ± 14.1 |" in md
    assert "| zsml | softmax | 30.0 |" in md
    assert "| zsml | svm | 0.0 | 90.0 | 0.0 |" in md


def test_write_and_read_results(tmp_path):
    paths = write_results(tmp_path / "run", [result(0, 0.5), result(1, 0.7)])
    payload = json.loads(paths["json"].read_text())
    assert payload["aggregate"]["zsl"]["softmax"]["mean"] == pytest.approx(0.6)
    assert [r["seed"] for r in payload["runs"]] == [0, 1]
    assert payload["runs"][0]["retrieval"] == {"5": 0.6, "10": 0.55}
    assert "60.0 ± 14.1" in paths["markdown"].read_text()
    back = read_results(tmp_path / "run")
    assert back == [result(0, 0.5), result(1, 0.7)]


def test_report_errors(tmp_path):
    with pytest.raises(
        DataError, match=r"expected an EvaluationResult or the dict returned by aggregate\(\), got list"
    ):
        results_markdown([1, 2])
    with pytest.raises(DataError, match=r"no results file; run the evaluation first"):
        read_results(tmp_path)
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(DataError, match=r"results.json: not valid JSON"):
        read_results(tmp_path)
    with pytest.raises(DataError, match=r"aggregate: results differ in 'selected_on' \('val' vs 'test'\)"):
        aggregate([result(), result(selected_on="test")])
    with pytest.raises(DataError, match=r"aggregate: no results to aggregate"):
        write_results(tmp_path, [])
    with pytest.raises(DataError, match=r"EvaluationResult: malformed value: .*'selected_on' must be in"):
        EvaluationResult.from_dict({"dataset": "digits", "selected_on": "train"})
    with pytest.raises(DataError, match=r"EvaluationResult: unknown keys \['zsl_top1'\]"):
        EvaluationResult.from_dict({"dataset": "digits", "zsl_top1": {}})
