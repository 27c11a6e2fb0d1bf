"""Shared test configuration: hypothesis profiles and small helpers."""

from __future__ import annotations

import os

# Tiny networks run fastest on one thread, and tests that start subprocesses (examples,
# distributed) must not oversubscribe the 2-core CI machine.
if not os.environ.get("OMP_NUM_THREADS", "").strip().isdigit():
    os.environ["OMP_NUM_THREADS"] = "1"

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci", max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def registries():
    """Registries with the built-ins only (no entry points): isolated from installed plugins."""
    from modgen.plugins import get_registries

    return get_registries(entry_points=False)


def pytest_configure(config):
    import tempfile

    import torch

    # Derived-feature caches (Fashion-MNIST CNN features) go to a scratch folder, not ~/.cache.
    os.environ.setdefault("MODGEN_CACHE", tempfile.mkdtemp(prefix="modgen-test-cache-"))

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
