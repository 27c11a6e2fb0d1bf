"""Test helpers for modgen and its plugins.

* :mod:`modgen.testing.contracts`: contract checks of every component kind
  (``check_component(kind, cls, **params)``), for a plugin author to run on their components.
* :mod:`modgen.testing.strategies`: hypothesis strategies (dims, task sizes, modulation
  variants); importing it needs ``hypothesis`` (the ``dev`` extra).

Example:
    >>> from modgen.testing import check_component
    >>> from modgen.nn import MLPAttributeDecoder
    >>> _ = check_component("attribute_decoder", MLPAttributeDecoder, hidden=(8, 8))
"""

from __future__ import annotations

from modgen.testing.contracts import CHECKS, ContractError, check_component

__all__ = ["CHECKS", "ContractError", "check_component"]
