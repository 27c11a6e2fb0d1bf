"""Images to an xlsa17-layout folder through a backbone (``modgen data features``).

Users bring xlsa17 folders of ImageNet-pretrained CNN features. :func:`make_xlsa17_from_images`
makes such a folder from images, so development data looks like theirs:

* **images**: an image folder with one sub-folder per class (any format Pillow reads; the
  class names are the sub-folder names), or an ``.npz`` of arrays (``images`` ``(N, H, W)`` or
  ``(N, H, W, C)``, uint8 or floats in ``[0, 1]``; ``labels`` ``(N,)`` 0-based;
  ``class_names`` ``(C,)``; optionally ``attributes`` ``(C, A)`` and ``attribute_names``);
* **class attributes**: a CSV whose header names the attributes and whose rows are a class
  name followed by its values (lines starting with ``#`` are comments); rows of classes without
  images are left out;
* **the split**: the unseen and the validation classes by name (or a split file of
  ``class,role`` lines, role ``train``, ``val`` or ``unseen``); every other class is a training
  class. Each seen class's images go ``trainval``/``test_seen`` by a seeded per-class draw
  (80/20 by default); ``train_loc``/``val_loc`` split ``trainval`` by class, as the embedded
  data sets do.

It writes ``res101.mat`` (``features`` ``D x N``, ``labels`` 1-based, ``image_files``),
``att_splits.mat`` (``att`` L2-normalised per class, ``original_att``, ``allclasses_names``,
the ``*_loc`` split locations, 1-based), ``trainvalclasses.txt``, ``testclasses.txt`` and
``build_info.json`` (backbone, weights and their sha256, preprocessing, split, modgen
version). The folder appears complete or not at all: everything is written into a hidden
folder beside it, read back with :func:`~modgen.data.xlsa17.load_xlsa17`, then renamed.

Example:
    >>> build = make_xlsa17_from_images("photos/", "out/PHOTOS", attributes="att.csv",
    ...                                 unseen=["zebra"], val=["horse"])  # doctest: +SKIP
    >>> load_xlsa17("out", "PHOTOS").feature_dim  # doctest: +SKIP
    1280
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from attrs import frozen

from modgen.data._common import stratified_split
from modgen.data.xlsa17 import FEATURES_FILE, load_xlsa17, write_att_splits, write_res101
from modgen.errors import ConfigError, DataError

__all__ = [
    "ImageFolder",
    "ImageSet",
    "FeaturesBuild",
    "read_image_folder",
    "read_image_arrays",
    "read_class_attributes",
    "read_split_file",
    "make_xlsa17_from_images",
    "IMAGE_SUFFIXES",
    "BUILD_INFO_FILE",
    "SPLIT_ROLES",
]

#: File suffixes read as images in an image folder (others, and hidden files, are skipped).
IMAGE_SUFFIXES: tuple[str, ...] = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".gif",
    ".tif",
    ".tiff",
    ".webp",
    ".ppm",
    ".pgm",
)
#: The build record written beside the .mat files.
BUILD_INFO_FILE = "build_info.json"
#: The roles of a split file's lines.
SPLIT_ROLES: tuple[str, ...] = ("train", "val", "unseen")


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError as err:  # pragma: no cover - matplotlib, a dependency, needs Pillow
        raise ConfigError("reading image files needs Pillow; pip install pillow") from err
    return Image


class ImageFolder(Sequence[np.ndarray]):
    """The images of an image folder, each read (as ``(H, W, 3)`` uint8 RGB) when indexed.

    Attributes:
        paths: every image file, class by class.
        root: the folder (names in errors and ``image_files`` are relative to it).
    """

    def __init__(self, root: Path, paths: Sequence[Path]) -> None:
        self.root = root
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:  # type: ignore[override]
        path = self.paths[index]
        image = _pillow()
        try:
            with image.open(path) as im:
                return np.asarray(im.convert("RGB"), dtype=np.uint8)
        except (OSError, ValueError, SyntaxError, image.DecompressionBombError) as err:
            raise DataError(
                f"{str(path)!r}: cannot read this image ({err}); replace or remove the file"
            ) from err

    def names(self) -> list[str]:
        """Each image's path relative to the folder (``class/file.png``)."""
        return [p.relative_to(self.root).as_posix() for p in self.paths]


@frozen
class ImageSet:
    """Images with their classes, as read from an image folder or arrays.

    Attributes:
        images: an :class:`ImageFolder` or an ``(N, H, W[, C])`` array.
        labels: ``(N,)`` 0-based class ids into ``class_names``.
        class_names: one name per class.
        image_files: a name per image (``image_files`` of ``res101.mat``).
        attributes: ``(C, A)`` class attributes that came with the images (arrays), or ``None``.
        attribute_names: their names, or ``None``.
        source: what was read, for the build record (``image folder NAME``, ``arrays NAME``).
    """

    images: Any
    labels: np.ndarray
    class_names: tuple[str, ...]
    image_files: list[str]
    attributes: np.ndarray | None = None
    attribute_names: tuple[str, ...] | None = None
    source: str = ""


def read_image_folder(root: str | Path) -> ImageSet:
    """The images of a folder with one sub-folder per class (sorted by name).

    Every image's header is opened once here, so a file Pillow cannot identify fails before
    any slow work, named in the error.

    Raises:
        DataError: the folder is missing, has no class sub-folders, a class holds no image, or
            an image cannot be read.
    """
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(f"{str(base)!r}: image folder not found")
    classes = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(
            f"{str(base)!r}: no class sub-folders; put each class's images in a folder named after it"
        )
    image = _pillow()
    paths: list[Path] = []
    labels: list[int] = []
    for c, folder in enumerate(classes):
        files = sorted(
            p
            for p in folder.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            raise DataError(
                f"{str(folder)!r}: class {folder.name!r} holds no image ({', '.join(IMAGE_SUFFIXES)}); "
                "add its images or remove the folder"
            )
        for path in files:
            try:
                with image.open(path) as im:
                    im.size  # noqa: B018 - reading the header is the check
            except (OSError, ValueError, SyntaxError, image.DecompressionBombError) as err:
                raise DataError(
                    f"{str(path)!r}: cannot read this image ({err}); replace or remove the file"
                ) from err
        paths += files
        labels += [c] * len(files)
    folder_set = ImageFolder(base, paths)
    return ImageSet(
        images=folder_set,
        labels=np.asarray(labels, dtype=np.int64),
        class_names=tuple(p.name for p in classes),
        image_files=folder_set.names(),
        source=f"image folder {base.name}",
    )


def read_image_arrays(path: str | Path) -> ImageSet:
    """Images from an ``.npz`` (see the module's description of its keys).

    Raises:
        DataError: the file is missing or unreadable, a key is missing, or a shape, dtype or
            value range is wrong (the message names the key).
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"{str(p)!r}: file not found")
    try:
        with np.load(p, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"{str(p)!r}: not a readable .npz of arrays ({err})") from err
    for key in ("images", "labels", "class_names"):
        if key not in arrays:
            raise DataError(
                f"{str(p)!r}: missing key {key!r} (keys present: {', '.join(sorted(arrays)) or 'none'})"
            )
    images, labels = arrays["images"], arrays["labels"]
    names = tuple(str(n) for n in np.asarray(arrays["class_names"]).reshape(-1))
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] not in (1, 3, 4)):
        raise DataError(
            f"{str(p)!r}: key 'images' has shape {images.shape}; expected (N, H, W) or (N, H, W, C), C 1, 3 or 4"
        )
    if images.dtype != np.uint8:
        if images.dtype.kind != "f" or not np.isfinite(images).all() or images.min() < 0 or images.max() > 1:
            raise DataError(
                f"{str(p)!r}: key 'images' must be uint8 or floats in [0, 1], got dtype {images.dtype}"
            )
    if labels.dtype.kind not in "iu" or labels.shape != (images.shape[0],):
        raise DataError(
            f"{str(p)!r}: key 'labels' must be {images.shape[0]} integer class ids (one per image), got "
            f"{labels.dtype} {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= len(names)):
        raise DataError(
            f"{str(p)!r}: key 'labels' holds {int(labels.max())}, outside [0, {len(names)}) (0-based ids into class_names)"
        )
    attributes = attribute_names = None
    if "attributes" in arrays:
        attributes = np.asarray(arrays["attributes"], dtype=np.float64)
        if attributes.ndim != 2 or attributes.shape[0] != len(names) or not np.isfinite(attributes).all():
            raise DataError(
                f"{str(p)!r}: key 'attributes' must be finite (C, A) with C = {len(names)} classes, got {attributes.shape}"
            )
        raw_names = arrays.get("attribute_names")
        attribute_names = (
            tuple(str(n) for n in raw_names.reshape(-1))
            if raw_names is not None
            else tuple(f"a{i + 1}" for i in range(attributes.shape[1]))
        )
    return ImageSet(
        images=images,
        labels=labels.astype(np.int64),
        class_names=names,
        image_files=[f"{names[c]}/{i:06d}" for i, c in enumerate(labels)],
        attributes=attributes,
        attribute_names=attribute_names,
        source=f"arrays {p.name}",
    )


def read_class_attributes(path: str | Path) -> tuple[list[str], list[str], np.ndarray]:
    """A class-attribute CSV: a header (``class, attr1, attr2, ...``), then one row per class.

    Returns:
        ``(class_names, attribute_names, values (C, A) float64)``.

    Raises:
        DataError: the file is missing, has no attribute column, a repeated class, or a value
            that is not a finite number (the message names the line and column).
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"{str(p)!r}: attribute table not found")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{str(p)!r}: cannot read the attribute table ({err})") from err
    rows = [
        (n, r)
        for n, r in enumerate(csv.reader(text.splitlines()), start=1)
        if r and any(v.strip() for v in r) and not r[0].lstrip().startswith("#")
    ]
    if not rows or len(rows[0][1]) < 2:
        raise DataError(
            f"{str(p)!r}: expected a header 'class,<attribute>,...' with at least one attribute column"
        )
    header = [h.strip() for h in rows[0][1]]
    names: list[str] = []
    values: list[list[float]] = []
    for line, row in rows[1:]:
        if len(row) != len(header):
            raise DataError(f"{str(p)!r}: line {line} has {len(row)} fields; the header has {len(header)}")
        name = row[0].strip()
        if name in names:
            raise DataError(f"{str(p)!r}: line {line}: class {name!r} is listed twice")
        try:
            vals = [float(v) for v in row[1:]]
        except ValueError:
            bad = next(i for i, v in enumerate(row[1:]) if not _is_number(v))
            raise DataError(
                f"{str(p)!r}: line {line}, column {header[bad + 1]!r}: {row[bad + 1]!r} is not a number"
            ) from None
        if not all(math.isfinite(v) for v in vals):
            raise DataError(f"{str(p)!r}: line {line}: class {name!r} has a NaN or infinite attribute")
        names.append(name)
        values.append(vals)
    if not names:
        raise DataError(f"{str(p)!r}: no class rows below the header")
    return names, header[1:], np.asarray(values, dtype=np.float64)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def read_split_file(path: str | Path) -> dict[str, list[str]]:
    """A split file: ``class,role`` lines (role ``train``, ``val`` or ``unseen``; ``#`` comments).

    Returns:
        ``{"train": [...], "val": [...], "unseen": [...]}``.

    Raises:
        DataError: the file is missing, a line is not ``class,role``, a role is unknown or a
            class is listed twice.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"{str(p)!r}: split file not found")
    out: dict[str, list[str]] = {role: [] for role in SPLIT_ROLES}
    seen: set[str] = set()
    for line, row in enumerate(csv.reader(p.read_text(encoding="utf-8-sig").splitlines()), start=1):
        if not row or not any(v.strip() for v in row) or row[0].lstrip().startswith("#"):
            continue
        if len(row) != 2 or row[1].strip() not in SPLIT_ROLES:
            raise DataError(
                f"{str(p)!r}: line {line}: expected 'class,role' with role one of {', '.join(SPLIT_ROLES)}, got {','.join(row)!r}"
            )
        name, role = row[0].strip(), row[1].strip()
        if name in seen:
            raise DataError(f"{str(p)!r}: line {line}: class {name!r} is listed twice")
        seen.add(name)
        out[role].append(name)
    return out


def _class_ids(names: Sequence[str], wanted: Sequence[str], option: str) -> np.ndarray:
    index = {n: i for i, n in enumerate(names)}
    unknown = [w for w in wanted if w not in index]
    if unknown:
        raise ConfigError(f"{option}: unknown class {unknown[0]!r}; the classes are: {', '.join(names)}")
    if len(set(wanted)) != len(wanted):
        raise ConfigError(f"{option}: a class is named twice in {list(wanted)!r}")
    return np.sort(np.asarray([index[w] for w in wanted], dtype=np.int64))


def _split(
    names: Sequence[str], unseen: Sequence[str], val: Sequence[str], split_file: str | Path | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(seen, unseen, val)`` class ids from the options or a split file."""
    if split_file is not None:
        if unseen or val:
            raise ConfigError("--split: give the split either as a file or with --unseen/--val, not both")
        roles = read_split_file(split_file)
        missing = [n for n in names if n not in {c for r in roles.values() for c in r}]
        if missing:
            raise DataError(f"{str(split_file)!r}: class {missing[0]!r} has no line; give every class a role")
        unseen, val = roles["unseen"], roles["val"]
        option = f"split file {str(split_file)!r}"
    else:
        option = "--unseen/--val"
    u = _class_ids(names, unseen, option)
    v = _class_ids(names, val, option)
    if u.size == 0:
        raise ConfigError(f"{option}: name at least one unseen class (the classes are: {', '.join(names)})")
    if np.intersect1d(u, v).size:
        raise ConfigError(f"{option}: class {names[int(np.intersect1d(u, v)[0])]!r} is both unseen and val")
    seen = np.setdiff1d(np.arange(len(names)), u)
    if seen.size - v.size < 1:
        raise ConfigError(f"{option}: no training class is left (every seen class is a val class)")
    return seen, u, v


def _attributes_for(images: ImageSet, attributes: str | Path | None) -> tuple[np.ndarray, list[str], str]:
    """``(C, A)`` attributes in the image set's class order, their names, and their source."""
    if attributes is None:
        if images.attributes is None:
            raise ConfigError(
                f"{images.source}: no class attributes; give a CSV with --attributes (class name, then one column "
                "per attribute)"
            )
        return images.attributes, list(images.attribute_names or ()), images.source
    names, attr_names, table = read_class_attributes(attributes)
    row = {n: i for i, n in enumerate(names)}
    for c, name in enumerate(images.class_names):
        if name not in row:
            raise DataError(
                f"{str(attributes)!r}: no row for class {name!r} ({images.source}, {int((images.labels == c).sum())} "
                f"images); add a row with its {len(attr_names)} attribute values"
            )
    return table[[row[n] for n in images.class_names]], attr_names, f"attribute table {Path(attributes).name}"


@frozen
class FeaturesBuild:
    """What :func:`make_xlsa17_from_images` wrote.

    Attributes:
        folder: the xlsa17-layout folder.
        info: the build record (also in ``build_info.json``).
    """

    folder: Path
    info: dict[str, Any]


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(
            f"{str(out)!r}: the output folder exists and is not empty; choose a new folder (nothing is overwritten)"
        )


def _write_folder(out: Path, write: Callable[[Path], None]) -> None:
    """Run ``write(tmp)`` into a hidden folder beside ``out``, then rename it to ``out``; on any
    failure (Ctrl-C included) nothing is left behind, not even parent folders made for it."""
    made: list[Path] = []
    parent = out.parent
    while not parent.exists():
        made.append(parent)
        parent = parent.parent
    for folder in reversed(made):
        folder.mkdir()
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp's folder is private; the result is an ordinary folder
        write(tmp)
        if out.is_dir():
            out.rmdir()  # empty, checked before; a file put there meanwhile makes this fail
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in made:
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def make_xlsa17_from_images(
    source: str | Path,
    out: str | Path,
    *,
    attributes: str | Path | None = None,
    unseen: Sequence[str] = (),
    val: Sequence[str] = (),
    split_file: str | Path | None = None,
    backbone: str = "efficientnet-lite0",
    backbone_params: Mapping[str, Any] | None = None,
    image_size: int | None = None,
    batch_size: int = 64,
    test_seen_fraction: float = 0.2,
    seed: int = 0,
    device: str = "cpu",
    registries: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> FeaturesBuild:
    """Turn images into an xlsa17-layout folder through a backbone.

    Args:
        source: an image folder (one sub-folder per class) or an ``.npz`` of arrays.
        out: the folder to create; it must not exist or be empty.
        attributes: the class-attribute CSV (needed unless the ``.npz`` has ``attributes``).
        unseen: the unseen classes' names.
        val: the validation classes' names (seen classes held out for model selection).
        split_file: ``class,role`` lines instead of ``unseen``/``val``.
        backbone: a registered backbone (``modgen list backbone``).
        backbone_params: its parameters (``weights``, ``sha256``, ...).
        image_size: the square input side (default: the backbone's training resolution).
        batch_size: images per forward pass.
        test_seen_fraction: the share of each seen class's images in ``test_seen``.
        seed: seed of the ``trainval``/``test_seen`` draw.
        device: where the backbone runs; torch's CPU threads are the caller's to set.
        registries: where the backbone is looked up (default: modgen's built-in backbones; the CLI
            passes every installed plugin's).
        progress: called as ``progress(done, total)`` during extraction.

    Returns:
        The folder and its build record.

    Raises:
        ConfigError: an existing non-empty ``out``, an unknown class in the split, a bad option.
        DataError: an unreadable image, a class without attributes, a weights file whose
            checksum differs or that does not fit the backbone; the message names the file.
    """
    import torch

    from modgen import __version__
    from modgen.backbones import Preprocessing, build_backbone, builtin_backbones, extract_features

    out_dir = Path(out).expanduser()
    _check_out(out_dir)
    if not 0.0 <= float(test_seen_fraction) < 1.0:
        raise ConfigError(f"test_seen_fraction: expected a number in [0, 1), got {test_seen_fraction!r}")
    src = Path(source).expanduser()
    images = read_image_arrays(src) if src.suffix.lower() == ".npz" else read_image_folder(src)
    table, attr_names, attr_source = _attributes_for(images, attributes)
    seen, unseen_ids, val_ids = _split(images.class_names, unseen, val, split_file)
    net = build_backbone(backbone, backbone_params, registries=registries or builtin_backbones())
    prep = Preprocessing.for_backbone(net, image_size)

    t0 = time.perf_counter()
    features = extract_features(
        net,
        images.images,
        image_size=prep.image_size,
        batch_size=batch_size,
        device=device,
        progress=progress,
    )
    seconds = time.perf_counter() - t0
    labels = images.labels
    trainval, test_seen = stratified_split(labels, seen, 1.0 - float(test_seen_fraction), seed)
    test_unseen = np.flatnonzero(np.isin(labels, unseen_ids)).astype(np.int64)
    locations = {"trainval_loc": trainval, "test_seen_loc": test_seen, "test_unseen_loc": test_unseen}
    if val_ids.size:
        in_val = np.isin(labels[trainval], val_ids)
        locations.update(train_loc=trainval[~in_val], val_loc=trainval[in_val])
    names = images.class_names
    info: dict[str, Any] = {
        "created_by": "modgen data features",
        "modgen_version": __version__,
        "torch_version": torch.__version__,
        "source": images.source,
        "attributes": {"source": attr_source, "count": len(attr_names), "names": attr_names},
        "backbone": net.info,
        "preprocessing": prep.describe(),
        "extraction": {
            "batch_size": batch_size,
            "device": str(device),
            "threads": torch.get_num_threads(),
            "seconds": round(seconds, 2),
        },
        "feature_dim": int(features.shape[1]),
        "split": {
            "train": [names[c] for c in np.setdiff1d(seen, val_ids)],
            "val": [names[c] for c in val_ids],
            "unseen": [names[c] for c in unseen_ids],
            "test_seen_fraction": float(test_seen_fraction),
            "seed": seed,
        },
        "samples": {k.removesuffix("_loc"): int(v.size) for k, v in locations.items()}
        | {"total": int(labels.size)},
    }
    note = f"features of {images.source} through backbone {backbone!r} by modgen {__version__} (see {BUILD_INFO_FILE})"

    def write(tmp: Path) -> None:
        write_res101(
            tmp / FEATURES_FILE, features, labels, image_files=images.image_files, extra={"modgen_note": note}
        )
        write_att_splits(tmp / "att_splits.mat", table, names, locations, extra={"modgen_note": note})
        (tmp / "trainvalclasses.txt").write_text("".join(f"{names[c]}\n" for c in seen), encoding="utf-8")
        (tmp / "testclasses.txt").write_text("".join(f"{names[c]}\n" for c in unseen_ids), encoding="utf-8")
        (tmp / BUILD_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        load_xlsa17(tmp, out_dir.name, scaling="none")  # the folder reads back, or nothing is kept

    _write_folder(out_dir, write)
    return FeaturesBuild(out_dir, info)
