"""Hypothesis strategies for modgen's property tests (and for plugin authors').

Sizes stay small so that a test drawing from them runs in milliseconds on a CPU.

Example:
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=3, deadline=None)
    ... @given(v=modulation_variants(), lead=leading_dims())
    ... def test(v, lead):
    ...     assert v["gate"] in ("sigmoid", "softmax", "none")
    >>> test()
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from modgen.functional.modulation import GATES, MODULATION_VARIANTS, OPERATORS

__all__ = [
    "dims",
    "leading_dims",
    "task_sizes",
    "widths",
    "modulation_variants",
    "table4_variants",
    "gates",
    "operators",
]


def dims(max_dim: int = 9, max_classes: int = 6) -> st.SearchStrategy[dict[str, int]]:
    """Data dims ``{"attr_dim", "feature_dim", "noise_dim", "num_classes"}``, each >= 1."""
    return st.fixed_dictionaries(
        {
            "attr_dim": st.integers(1, max_dim),
            "feature_dim": st.integers(1, max_dim),
            "noise_dim": st.integers(1, max_dim),
            "num_classes": st.integers(1, max_classes),
        }
    )


def leading_dims(max_dims: int = 2, max_size: int = 3) -> st.SearchStrategy[tuple[int, ...]]:
    """Leading (task) dims: ``()`` (one task), ``(T,)``, ``(B, T)``..., each size >= 1."""
    return st.lists(st.integers(1, max_size), max_size=max_dims).map(tuple)


def task_sizes(max_way: int = 5, max_samples: int = 6) -> st.SearchStrategy[dict[str, int]]:
    """A task's ``{"n_way": N, "n": samples}``; ``n >= 2`` keeps BatchNorm statistics meaningful."""
    return st.fixed_dictionaries({"n_way": st.integers(1, max_way), "n": st.integers(2, max_samples)})


def widths(count: int = 2, low: int = 4, high: int = 24) -> st.SearchStrategy[tuple[int, ...]]:
    """A tuple of ``count`` hidden widths in ``[low, high]``."""
    return st.tuples(*[st.integers(low, high) for _ in range(count)])


def gates() -> st.SearchStrategy[str]:
    """A modulation gate: ``sigmoid``, ``softmax`` or ``none``."""
    return st.sampled_from(GATES)


def operators() -> st.SearchStrategy[str]:
    """A modulation operator: ``add``, ``sub`` or ``mul``."""
    return st.sampled_from(OPERATORS)


def modulation_variants() -> st.SearchStrategy[dict[str, Any]]:
    """Keyword options of :func:`modgen.functional.modulate`: every ``(base, operator, gate, bias)``."""
    return st.sampled_from(MODULATION_VARIANTS).map(dict)


def table4_variants() -> st.SearchStrategy[dict[str, Any]]:
    """The modulator variants of Table IV plus AMAZ's own (Eq. 3)."""
    from modgen.recipes import TABLE4_VARIANTS

    amaz = {"base": True, "operator": "add", "gate": "sigmoid", "bias": True}
    return st.sampled_from([*TABLE4_VARIANTS.values(), amaz]).map(dict)
