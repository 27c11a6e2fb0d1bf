"""Every committed science result carries what it takes to read it: its class-split count and the
minimum detectable effect of its comparisons (benchmarks/science.py; a result from before those
existed is brought up to date with ``python benchmarks/science.py --reanalyse FILE``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

RESULTS = sorted((Path(__file__).resolve().parents[1] / "benchmarks" / "results").glob("science-*.json"))


def test_there_are_science_results() -> None:
    assert RESULTS, "no benchmarks/results/science-*.json found"


@pytest.mark.parametrize("path", RESULTS, ids=[p.name for p in RESULTS])
def test_a_science_result_records_its_split_count_and_mde(path: Path) -> None:
    payload = json.loads(path.read_text(encoding="utf-8"))
    fix = f"run `python benchmarks/science.py --reanalyse benchmarks/results/{path.name}` at a clean commit"
    splits = payload.get("splits")
    assert isinstance(splits, list) and splits, f"{path.name}: no class-split list ('splits'); {fix}"
    compared = [a for a in payload["arms"] if a != payload["baseline"]]
    mde = payload.get("mde")
    assert isinstance(mde, dict), f"{path.name}: no minimum detectable effect ('mde'); {fix}"
    for arm in compared:
        assert mde.get(arm), f"{path.name}: arm {arm!r} has no MDE; {fix}"
        assert all(v >= 0 for v in mde[arm].values()), f"{path.name}: arm {arm!r} has a negative MDE"
    verdicts = payload.get("verdict") or {}
    assert all(verdicts.get(arm) for arm in compared), f"{path.name}: a comparison has no verdict; {fix}"
    assert payload.get("margin", 0) > 0, f"{path.name}: no equivalence margin; {fix}"
