"""Registration, load_dataset and the ``modgen data`` commands (through CliRunner)."""

from __future__ import annotations

from pathlib import Path

import pytest
import scipy.io
from data_fixtures import write_tiny_xlsa17
from typer.testing import CliRunner

from modgen.cli import build_app
from modgen.config import DataConfig
from modgen.data import load_dataset, register_components
from modgen.data.sampler import EpisodicTaskSampler
from modgen.data.zsldata import ZSLData
from modgen.errors import ConfigError, DataError
from modgen.plugins import Registries


@pytest.fixture
def regs() -> Registries:
    r = Registries()
    register_components(r)
    return r


@pytest.fixture
def data_app(registries: Registries):
    """``modgen data ...`` as the user runs it: ``invoke(data_app, ["info", ...])``."""
    app = build_app(registries, plugin_commands=False)
    runner = CliRunner()

    class DataApp:
        @staticmethod
        def invoke(args: list[str]):
            return runner.invoke(app, ["data", *args])

    return DataApp()


def test_register_components(regs: Registries) -> None:
    assert regs.dataset.names() == ["digits", "fashion-mnist", "xlsa17"]
    assert regs.task_sampler.get("episodic") is EpisodicTaskSampler


def test_builtin_plugin_registers_the_data_layer(registries: Registries) -> None:
    assert {"digits", "fashion-mnist", "xlsa17"} <= set(registries.dataset.names())
    assert "episodic" in registries.task_sampler


def test_load_dataset_passes_fields_and_options(regs: Registries, tmp_path: Path) -> None:
    data = load_dataset(regs, DataConfig(dataset="digits", validation=True, options={"pca": 6}))
    assert data.feature_dim == 6 and data.unseen_classes.tolist() == [0, 3]
    write_tiny_xlsa17(tmp_path, "AWA2")
    xl = load_dataset(
        regs, DataConfig(dataset="xlsa17", root=str(tmp_path), name="AWA2", semantics="original_att")
    )
    assert xl.name == "AWA2" and xl.preprocessing["semantics"] == "att_splits.mat 'original_att' (raw)"


def test_load_dataset_unknown_option(regs: Registries) -> None:
    with pytest.raises(
        ConfigError, match=r"data.options.hidden: the 'digits' loader does not take option 'hidden'"
    ):
        load_dataset(regs, DataConfig(dataset="digits", options={"hidden": 3}))


def test_load_dataset_name_for_a_loader_without_names_relabels_the_data(regs: Registries) -> None:
    """--name on a loader that takes no name labels the loaded data with it (reports, run names)."""
    data = load_dataset(regs, DataConfig(dataset="digits", name="my-digits"))
    assert data.name == "my-digits" and data.unseen_classes.tolist() == [4, 5, 6]


def test_load_dataset_option_that_is_a_field(regs: Registries) -> None:
    with pytest.raises(ConfigError, match=r"data.options.validation: set data.validation instead"):
        load_dataset(regs, DataConfig(dataset="digits", options={"validation": True}))


def test_load_dataset_xlsa17_without_root_or_name(regs: Registries) -> None:
    with pytest.raises(ConfigError, match=r"data.root: the xlsa17 loader needs the folder"):
        load_dataset(regs, DataConfig(dataset="xlsa17", name="CUB"))
    with pytest.raises(ConfigError, match=r"data.name: the xlsa17 loader needs a data set name"):
        load_dataset(regs, DataConfig(dataset="xlsa17", root="/data"))


def test_load_dataset_third_party_loaders(regs: Registries) -> None:
    from data_fixtures import toy_data

    def minimal(root: str | None = None) -> ZSLData:
        """Takes neither semantics nor validation: left out at their defaults."""
        return toy_data()

    regs.dataset.register("plug.minimal", minimal)
    assert load_dataset(regs, DataConfig(dataset="plug.minimal")).name == "toy"
    with pytest.raises(ConfigError, match=r"data.validation: the 'plug.minimal' loader does not take option"):
        load_dataset(regs, DataConfig(dataset="plug.minimal", validation=True))
    regs.dataset.register("plug.broken", lambda root=None, **kw: {"not": "data"})
    with pytest.raises(
        DataError, match=r"dataset loader 'plug.broken' returned dict; loaders must return a ZSLData"
    ):
        load_dataset(regs, DataConfig(dataset="plug.broken"))


def test_info_registered_dataset(data_app) -> None:
    result = data_app.invoke(["info", "digits", "--option", "pca=8", "--validation"])
    assert result.exit_code == 0, result.output
    for text in ("Data set digits", "feature_dim", "test_unseen", "Preprocessing", "view", "validation"):
        assert text in result.output


def test_info_xlsa17_folder(data_app, tmp_path: Path) -> None:
    write_tiny_xlsa17(tmp_path, "SUN")
    result = data_app.invoke(["info", str(tmp_path / "SUN")])
    assert result.exit_code == 0, result.output
    assert "Data set SUN" in result.output and "class5, class6" in result.output
    result = data_app.invoke(["info", str(tmp_path), "--dataset", "SUN", "-o", "scaling=l2"])
    assert result.exit_code == 0 and "l2" in result.output


def test_info_errors_are_one_line_with_the_error_kinds_exit_code(data_app, tmp_path: Path) -> None:
    result = data_app.invoke(["info", "nonsense"])
    assert result.exit_code == ConfigError.exit_code == 2
    assert "'nonsense' is neither a registered data set" in result.output
    result = data_app.invoke(["info", str(tmp_path), "--dataset", "AWA2"])
    assert result.exit_code == DataError.exit_code == 1 and "no res101.mat there" in result.output
    write_tiny_xlsa17(tmp_path, "SUN")
    result = data_app.invoke(["info", str(tmp_path / "SUN"), "-o", "pca=3"])
    assert (
        result.exit_code == 2 and "the 'xlsa17' loader does not take option 'pca'; it takes:" in result.output
    )
    assert "Traceback" not in result.output


def test_make_semisynthetic_command(data_app, tmp_path: Path) -> None:
    src = write_tiny_xlsa17(tmp_path / "src")
    out = tmp_path / "made"
    args = [
        "make-semisynthetic",
        str(src / "att_splits.mat"),
        str(out),
        "--feature-dim",
        "7",
        "--seed",
        "3",
        "--no-image-files",
    ]
    result = data_app.invoke(args)
    assert result.exit_code == 0, result.output
    assert "never for accuracy claims" in result.output and (out / "res101.mat").is_file()
    assert "image_files" not in scipy.io.loadmat(str(out / "res101.mat"))
    command = " ".join(result.output.split()).split("Train on it with: ")[1]  # the command that uses it
    assert command.startswith(f"modgen train --data {out} --name made")
    result = data_app.invoke(["info", str(out)])
    assert result.exit_code == 0 and "│ feature_dim │ 7" in result.output
    bad = data_app.invoke([*args, "--samples", "many"])
    assert bad.exit_code == 2 and "--samples: expected 'real'" in bad.output
