"""Completion through click's completion environment: ``_MODGEN_COMPLETE=complete_bash`` with
``COMP_WORDS`` and ``COMP_CWORD``, as the installed bash script runs it."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from modgen.cli import build_app


def complete(line: str) -> list[str]:
    words = line.split(" ")
    env = {"_MODGEN_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)}
    result = CliRunner().invoke(build_app(plugin_commands=False), [], env=env, prog_name="modgen")
    return result.output.split()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("modgen train --recipe a", "amaz"),
        ("modgen train --dataset fa", "fashion-mnist"),
        ("modgen train --dataset C", "CUB"),
        ("modgen train --preset ti", "tiny"),
        ("modgen train --logger ten", "tensorboard"),
        ("modgen train --set gen", "generator."),
        ("modgen train --set generator.le", "generator.leaky_slope="),
        ("modgen train --set modulator.n", "modulator.name="),
        ("modgen train --set run.lo", "run.loggers="),
    ],
)
def test_completion_offers_registered_values(line, expected):
    assert expected in complete(line)


def test_set_completion_leaves_out_what_modgen_fills_in():
    offered = complete("modgen train --set modulator.")
    assert "modulator.hidden=" in offered and "modulator.attr_dim=" not in offered
    assert "modulator.target_dims=" not in offered
