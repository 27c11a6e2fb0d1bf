from pathlib import Path

import pytest
from modgen_plateau_stop import PlateauStop


def test_stops_after_patience_records_without_improvement():
    stop = PlateauStop("loss/x", patience=2)
    folder = Path("run")
    answers = [stop.check(folder, {"loss/x": v}) for v in (3.0, 2.0, 2.5, 2.1)]
    assert answers[:3] == [None, None, None]
    assert answers[3] is not None and "loss/x" in answers[3] and "2 records" in answers[3]


def test_max_mode_and_missing_key():
    stop = PlateauStop("val/zsl", patience=1, mode="max")
    assert stop.check(Path("r"), {"other": 1.0}) is None
    assert stop.check(Path("r"), {"val/zsl": 10.0}) is None
    assert stop.check(Path("r"), {"val/zsl": 11.0}) is None
    assert stop.check(Path("r"), {"val/zsl": 11.0}) is not None


def test_bad_settings():
    with pytest.raises(ValueError, match="mode"):
        PlateauStop("k", mode="lowest")
