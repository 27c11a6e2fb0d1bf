"""Contract checks of every component kind, reusable by plugin authors on their own components.

``check_component(kind, cls, **kwargs)`` builds ``cls`` the way modgen builds that kind (small
sizes by default, overridable by keyword) and checks it against the kind's contract — the
Protocols of :mod:`modgen.interfaces` and what the pipeline relies on beyond them:

* ``generator``, ``modulator``, ``critic``, ``aux_classifier``, ``attribute_decoder``,
  ``quality_weighter``: :mod:`~modgen.testing.contracts.networks` (shapes with leading task
  dims, gradients, ``torch.func`` and ``vmap`` over tasks);
* ``task_sampler``: :func:`~modgen.testing.contracts.data.check_task_sampler`;
* ``dataset``: :func:`~modgen.testing.contracts.data.check_dataset`;
* ``final_classifier``: :func:`~modgen.testing.contracts.classifiers.check_final_classifier`;
* ``trainer``: :func:`~modgen.testing.contracts.trainers.check_trainer`;
* ``backbone``: :func:`~modgen.testing.contracts.backbones.check_backbone`.

A breach raises :class:`ContractError` (an ``AssertionError``, so pytest shows it as a test
failure) whose message names the component and says what was expected. Checks return the built
component (a loader's check returns the data it loaded).

Example:
    >>> from modgen.nn import MLPCritic
    >>> critic = check_component("critic", MLPCritic, hidden=(16, 8))
    >>> type(critic).__name__
    'MLPCritic'

In a plugin's tests::

    from modgen.testing.contracts import check_component

    def test_my_modulator_contract():
        check_component("modulator", MyModulator, hidden=16)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modgen.errors import ConfigError
from modgen.testing.contracts._common import ContractError
from modgen.testing.contracts.backbones import check_backbone
from modgen.testing.contracts.classifiers import check_final_classifier
from modgen.testing.contracts.data import check_dataset, check_task_sampler, toy_data
from modgen.testing.contracts.networks import (
    check_attribute_decoder,
    check_aux_classifier,
    check_critic,
    check_generator,
    check_modulator,
    check_quality_weighter,
)
from modgen.testing.contracts.trainers import check_trainer

__all__ = [
    "ContractError",
    "check_component",
    "check_generator",
    "check_modulator",
    "check_critic",
    "check_aux_classifier",
    "check_attribute_decoder",
    "check_quality_weighter",
    "check_task_sampler",
    "check_final_classifier",
    "check_trainer",
    "check_dataset",
    "check_backbone",
    "toy_data",
    "CHECKS",
]

#: The check of each component kind (every kind of :data:`modgen.interfaces.COMPONENT_KINDS`).
CHECKS: dict[str, Callable[..., Any]] = {
    "generator": check_generator,
    "modulator": check_modulator,
    "critic": check_critic,
    "aux_classifier": check_aux_classifier,
    "attribute_decoder": check_attribute_decoder,
    "quality_weighter": check_quality_weighter,
    "task_sampler": check_task_sampler,
    "final_classifier": check_final_classifier,
    "trainer": check_trainer,
    "dataset": check_dataset,
    "backbone": check_backbone,
}


def check_component(kind: str, cls: Any, **kwargs: Any) -> Any:
    """Run the contract check of ``kind`` on ``cls``; keyword args go to that check.

    Args:
        kind: a component kind (:data:`CHECKS`: ``generator``, ``modulator``, ``critic``,
            ``aux_classifier``, ``attribute_decoder``, ``quality_weighter``, ``task_sampler``,
            ``final_classifier``, ``trainer``, ``dataset``, ``backbone``).
        cls: the component as registered (a class, a factory, or a dataset's loader).
        **kwargs: the check's own settings (``attr_dim=``, ``n=``, ``leading=``, ``device=``,
            ``data=``, a loader's ``root=``, ...) and the component's parameters (``hidden=16``;
            a loader's options).

    Returns:
        The built component (for ``dataset``: the loaded data).

    Raises:
        ConfigError: ``kind`` is not a component kind.
        ContractError: the component breaks the contract.

    Example:
        >>> from modgen.nn import NoModulator
        >>> check_component("modulator", NoModulator) is not None
        True
    """
    if kind not in CHECKS:
        raise ConfigError(
            f"check_component: no contract check for kind {kind!r}; kinds with checks: {', '.join(CHECKS)}"
        )
    return CHECKS[kind](cls, **kwargs)
