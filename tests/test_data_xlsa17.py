"""The xlsa17 loader: files written with scipy.io.savemat in the release's layout, read back;
one test per bad-input case with its message pinned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
from data_fixtures import N, col, save_xlsa17, write_tiny_xlsa17, xlsa17_arrays

from modgen.data.xlsa17 import load_xlsa17, xlsa17_loader
from modgen.errors import ConfigError, DataError


def test_round_trip_matches_the_files(tmp_path: Path) -> None:
    res, splits = xlsa17_arrays()
    save_xlsa17(tmp_path / "TINY", res, splits)
    data = load_xlsa17(tmp_path, "TINY", scaling="none")
    assert np.array_equal(data.features, res["features"].T)
    assert np.array_equal(data.labels + 1, res["labels"].ravel().astype(int))
    assert np.allclose(data.semantics, splits["att"].T)
    assert data.class_names == tuple(f"class{i}" for i in range(1, 7))
    assert np.array_equal(data.trainval + 1, splits["trainval_loc"].ravel())
    assert np.array_equal(data.test_unseen + 1, splits["test_unseen_loc"].ravel())
    assert data.seen_classes.tolist() == [0, 1, 2, 3] and data.unseen_classes.tolist() == [4, 5]
    assert data.val_classes.tolist() == [3] and data.train.size == 18
    assert data.preprocessing["split"] == "xlsa17 Proposed Split" and data.source == str(tmp_path / "TINY")


def test_root_may_be_the_data_set_folder_and_names_are_case_insensitive(tmp_path: Path) -> None:
    write_tiny_xlsa17(tmp_path, "AWA2")
    a = load_xlsa17(tmp_path / "AWA2", "AWA2")
    b = load_xlsa17(tmp_path, "awa2")
    assert a.name == b.name == "AWA2" and np.array_equal(a.features, b.features)


def test_default_minmax_scaling_is_fitted_on_trainval(tmp_path: Path) -> None:
    write_tiny_xlsa17(tmp_path)
    data = load_xlsa17(tmp_path, "TINY")
    fit = data.features[data.trainval]
    assert np.allclose(fit.min(axis=0), 0) and np.allclose(fit.max(axis=0), 1)
    assert data.preprocessing["scaling"] == "minmax"


def test_original_att_and_sent_semantics(tmp_path: Path) -> None:
    res, splits = xlsa17_arrays()
    sent = {k: v for k, v in splits.items() if k != "original_att"} | {"att": np.ones((7, 6))}
    save_xlsa17(tmp_path / "CUB", res, splits, sent=sent)
    assert np.allclose(
        load_xlsa17(tmp_path, "CUB", semantics="original_att").semantics, splits["original_att"].T
    )
    data = load_xlsa17(tmp_path, "CUB", semantics="sent")
    assert data.attr_dim == 7 and data.preprocessing["semantics"] == "sent_splits.mat 'att'"


def test_validation_view_from_train_and_val_loc(tmp_path: Path) -> None:
    write_tiny_xlsa17(tmp_path)
    view = load_xlsa17(tmp_path, "TINY", validation=True)
    assert view.seen_classes.tolist() == [0, 1, 2] and view.unseen_classes.tolist() == [3]
    assert view.test_unseen.size == 6 and view.trainval.size + view.test_seen.size == 18
    assert view.preprocessing["validation_split_from"] == "att_splits.mat train_loc/val_loc"
    fit = view.features[view.trainval]  # scaled after the view: fitted on the view's trainval
    assert np.allclose(fit.min(axis=0), 0) and np.allclose(fit.max(axis=0), 1)


def test_validation_split_is_taken_from_the_sibling_sent_splits(tmp_path: Path) -> None:
    res, splits = xlsa17_arrays()
    sent = dict(splits)
    att_only = {k: v for k, v in splits.items() if k not in ("train_loc", "val_loc")}
    save_xlsa17(tmp_path / "CUB", res, att_only, sent=sent)
    view = load_xlsa17(tmp_path, "CUB", validation=True)
    assert view.unseen_classes.tolist() == [3]
    assert view.preprocessing["validation_split_from"] == "sent_splits.mat train_loc/val_loc"


# -- bad input: one test per case ------------------------------------------------------------------


def test_missing_features_file(tmp_path: Path) -> None:
    (tmp_path / "TINY").mkdir()
    with pytest.raises(DataError, match=r"res101.mat not found: looked in .*TINY.* make-semisynthetic"):
        load_xlsa17(tmp_path, "TINY")


def test_root_is_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"xlsa17 root .*nowhere' is not a folder \(data.root\)"):
        load_xlsa17(tmp_path / "nowhere", "AWA2")


def test_missing_split_file(tmp_path: Path) -> None:
    res, _ = xlsa17_arrays()
    save_xlsa17(tmp_path / "TINY", res)
    with pytest.raises(DataError, match=r"att_splits.mat': file not found"):
        load_xlsa17(tmp_path, "TINY")


def test_missing_sent_splits_names_cub(tmp_path: Path) -> None:
    write_tiny_xlsa17(tmp_path)
    with pytest.raises(DataError, match=r"sent_splits.mat': file not found \(only CUB has sent_splits.mat"):
        load_xlsa17(tmp_path, "TINY", semantics="sent")


def test_missing_key_in_features_file(tmp_path: Path) -> None:
    write_tiny_xlsa17(tmp_path, labels=None)
    with pytest.raises(DataError, match=r"res101.mat': missing key 'labels' \(keys present: features\)"):
        load_xlsa17(tmp_path, "TINY")


def test_missing_key_in_split_file(tmp_path: Path) -> None:
    write_tiny_xlsa17(tmp_path, test_unseen_loc=None)
    with pytest.raises(DataError, match=r"att_splits.mat': missing key 'test_unseen_loc'"):
        load_xlsa17(tmp_path, "TINY")


def test_missing_semantics_key(tmp_path: Path) -> None:
    write_tiny_xlsa17(tmp_path, original_att=None)
    with pytest.raises(DataError, match=r"att_splits.mat': missing key 'original_att'"):
        load_xlsa17(tmp_path, "TINY", semantics="original_att")


def test_features_stored_n_by_d(tmp_path: Path) -> None:
    res, _ = xlsa17_arrays()
    write_tiny_xlsa17(tmp_path, features=res["features"].T)
    with pytest.raises(
        DataError, match=r"key 'features' has shape \(36, 5\), which is N x D .* stores D x N"
    ):
        load_xlsa17(tmp_path, "TINY")


def test_features_and_labels_disagree(tmp_path: Path) -> None:
    write_tiny_xlsa17(tmp_path, features=np.zeros((5, 30)))
    with pytest.raises(DataError, match=r"key 'features' has shape \(5, 30\) but 'labels' has 36 entries"):
        load_xlsa17(tmp_path, "TINY")


@pytest.mark.parametrize("bad", [N + 1, 0])
def test_index_out_of_range(tmp_path: Path, bad: int) -> None:
    _, splits = xlsa17_arrays()
    loc = splits["trainval_loc"].ravel().astype(int)
    loc[0] = bad
    write_tiny_xlsa17(tmp_path, trainval_loc=col(loc))
    with pytest.raises(
        DataError, match=rf"key 'trainval_loc' holds index {bad}, out of range: expected 1-based"
    ):
        load_xlsa17(tmp_path, "TINY")


def test_location_matrix_instead_of_vector(tmp_path: Path) -> None:
    write_tiny_xlsa17(tmp_path, test_seen_loc=np.ones((2, 4), dtype=np.uint16))
    with pytest.raises(DataError, match=r"key 'test_seen_loc' has shape \(2, 4\); expected an n x 1 vector"):
        load_xlsa17(tmp_path, "TINY")


def test_splits_share_samples(tmp_path: Path) -> None:
    _, splits = xlsa17_arrays()
    write_tiny_xlsa17(tmp_path, test_seen_loc=col([1, *splits["test_seen_loc"].ravel()[1:]]))
    with pytest.raises(DataError, match=r"keys 'trainval_loc' and 'test_seen_loc' share 1 samples"):
        load_xlsa17(tmp_path, "TINY")


def test_seen_and_unseen_classes_overlap(tmp_path: Path) -> None:
    _, splits = xlsa17_arrays()
    # move one sample of unseen class 5 into trainval
    tv = np.append(splits["trainval_loc"].ravel(), 25)
    tu = np.setdiff1d(splits["test_unseen_loc"].ravel(), [25])
    write_tiny_xlsa17(tmp_path, trainval_loc=col(tv), test_unseen_loc=col(tu))
    with pytest.raises(DataError, match=r"seen and unseen classes overlap: class 5 \('class5'\)"):
        load_xlsa17(tmp_path, "TINY")


def test_nan_features(tmp_path: Path) -> None:
    res, _ = xlsa17_arrays()
    features = res["features"].copy()
    features[2, 7] = np.nan
    write_tiny_xlsa17(tmp_path, features=features)
    with pytest.raises(
        DataError, match=r"key 'features' holds NaN or infinite values in 1 samples \(first: sample 8"
    ):
        load_xlsa17(tmp_path, "TINY")


def test_infinite_semantics(tmp_path: Path) -> None:
    _, splits = xlsa17_arrays()
    write_tiny_xlsa17(tmp_path, att=splits["att"] * np.inf)
    with pytest.raises(DataError, match=r"att_splits.mat': key 'att' holds NaN or infinite values"):
        load_xlsa17(tmp_path, "TINY")


def test_semantics_class_count_does_not_match_labels(tmp_path: Path) -> None:
    _, splits = xlsa17_arrays()
    write_tiny_xlsa17(tmp_path, att=splits["att"][:, :5], allclasses_names=splits["allclasses_names"][:5])
    with pytest.raises(
        DataError, match=r"'labels' holds class 6, but att_splits.mat key 'att' has 5 class columns"
    ):
        load_xlsa17(tmp_path, "TINY")


def test_class_names_count_does_not_match_semantics(tmp_path: Path) -> None:
    _, splits = xlsa17_arrays()
    write_tiny_xlsa17(tmp_path, allclasses_names=splits["allclasses_names"][:4])
    with pytest.raises(
        DataError, match=r"key 'allclasses_names' names 4 classes but the semantics have 6 columns"
    ):
        load_xlsa17(tmp_path, "TINY")


def test_empty_class(tmp_path: Path) -> None:
    _, splits = xlsa17_arrays()
    names = np.empty((7, 1), dtype=object)
    names[:, 0] = [f"class{i}" for i in range(1, 8)]
    write_tiny_xlsa17(tmp_path, att=np.hstack([splits["att"], np.ones((3, 1))]), allclasses_names=names)
    with pytest.raises(
        DataError, match=r"key 'labels': class 7 \('class7'\) is empty \(no sample has this label"
    ):
        load_xlsa17(tmp_path, "TINY")


def test_test_seen_class_without_trainval_samples(tmp_path: Path) -> None:
    _, splits = xlsa17_arrays()
    tv = splits["trainval_loc"].ravel()
    write_tiny_xlsa17(tmp_path, trainval_loc=col(tv[tv > 4]))  # class 1 keeps only test_seen samples
    with pytest.raises(
        DataError, match=r"'test_seen_loc' holds class 1 \('class1'\), which has no sample in 'trainval"
    ):
        load_xlsa17(tmp_path, "TINY")


def test_non_integer_labels(tmp_path: Path) -> None:
    res, _ = xlsa17_arrays()
    write_tiny_xlsa17(tmp_path, labels=res["labels"] + 0.5)
    with pytest.raises(DataError, match=r"res101.mat': key 'labels' must hold integers \(1-based\)"):
        load_xlsa17(tmp_path, "TINY")


def test_no_validation_split(tmp_path: Path) -> None:
    write_tiny_xlsa17(tmp_path, train_loc=None, val_loc=None)
    assert load_xlsa17(tmp_path, "TINY").val.size == 0  # fine without validation
    with pytest.raises(
        DataError, match=r"missing keys 'train_loc' and 'val_loc', so there is no validation split"
    ):
        load_xlsa17(tmp_path, "TINY", validation=True)


def test_train_and_val_share_a_class(tmp_path: Path) -> None:
    _, splits = xlsa17_arrays()
    write_tiny_xlsa17(tmp_path, train_loc=col([*splits["train_loc"].ravel(), 19]), val_loc=col(range(20, 25)))
    with pytest.raises(DataError, match=r"keys 'train_loc' and 'val_loc' share class 4 \('class4'\)"):
        load_xlsa17(tmp_path, "TINY")


def test_unreadable_mat_file(tmp_path: Path) -> None:
    write_tiny_xlsa17(tmp_path)
    (tmp_path / "TINY" / "res101.mat").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 600)
    with pytest.raises(DataError, match=r"res101.mat': not a readable MATLAB file"):
        load_xlsa17(tmp_path, "TINY")


def test_unknown_semantics_and_scaling(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"data.semantics: unknown value 'w2v'; expected one of att, original_att"
    ):
        load_xlsa17(tmp_path, "TINY", semantics="w2v")
    with pytest.raises(ConfigError, match=r"scaling: unknown value 'z'; expected one of minmax, l2, none"):
        load_xlsa17(tmp_path, "TINY", scaling="z")


def test_registered_loader_requires_root_and_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data.root: the xlsa17 loader needs the folder"):
        xlsa17_loader(None, name="AWA2")
    with pytest.raises(
        ConfigError, match=r"data.name: the xlsa17 loader needs a data set name, one of AWA1, AWA2"
    ):
        xlsa17_loader(str(tmp_path))
    write_tiny_xlsa17(tmp_path)
    assert xlsa17_loader(str(tmp_path), name="TINY", scaling="none").num_classes == 6


def test_real_labels_stored_as_integers_also_load(tmp_path: Path) -> None:
    res, splits = xlsa17_arrays()
    res["labels"] = res["labels"].astype(np.uint8)
    save_xlsa17(tmp_path / "TINY", res, splits)
    assert scipy.io.loadmat(str(tmp_path / "TINY" / "res101.mat"))["labels"].dtype == np.uint8
    assert load_xlsa17(tmp_path, "TINY").labels.max() == 5
