from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modgen.errors import ConfigError, DuplicateComponentError, UnknownComponentError
from modgen.registry import NAME_PATTERN, Registry

names = st.from_regex(r"[a-z][a-z0-9_\-]{0,10}(\.[a-z][a-z0-9_]{0,6})?", fullmatch=True)


@given(st.lists(names, min_size=1, max_size=12, unique=True))
def test_register_get_names(keys):
    reg: Registry[object] = Registry("thing")
    objs = {k: object() for k in keys}
    for k, o in objs.items():
        assert reg.register(k, o) is o
    assert reg.names() == sorted(keys)
    for k, o in objs.items():
        assert reg.get(k) is o
        assert k in reg
        assert reg.entry(k).origin == "builtin"
    assert len(reg) == len(keys)


@given(names)
def test_duplicate_name_is_an_error(key):
    reg: Registry[object] = Registry("thing")
    reg.register(key, 1)
    with pytest.raises(DuplicateComponentError, match=rf"Cannot register thing '{key}'.*already registered"):
        reg.register(key, 2, origin="someplugin")
    assert reg.get(key) == 1


@given(st.lists(names, min_size=1, max_size=8, unique=True), names)
def test_unknown_name_lists_available(keys, missing):
    reg: Registry[object] = Registry("modulator")
    for k in keys:
        reg.register(k, k)
    if missing in keys:
        return
    with pytest.raises(UnknownComponentError) as info:
        reg.get(missing)
    msg = str(info.value)
    assert f"Can't find '{missing}' in registry 'modulator'" in msg
    for k in keys:
        assert k in msg


def test_unknown_name_suggests_close_matches():
    reg: Registry[object] = Registry("modulator")
    for k in ("attribute", "none", "film"):
        reg.register(k, k)
    with pytest.raises(UnknownComponentError, match=r"Did you mean: attribute\?"):
        reg.get("atribute")


def test_decorator_and_build():
    reg: Registry[type] = Registry("critic")

    @reg.register("lin")
    class Lin:
        """A linear thing."""

        def __init__(self, width: int = 3) -> None:
            self.width = width

    assert reg.build("lin", {"width": 5}).width == 5
    assert reg.build("lin").width == 3
    assert reg.entry("lin").summary == "A linear thing."
    assert reg.unregister("lin") is Lin
    assert "lin" not in reg


class _Lin:
    """A component with one user parameter and one set by modgen."""

    def __init__(self, size: int, *, width: int = 3) -> None:
        if width < 0:
            raise ValueError("width must be >= 0")
        self.size, self.width = size, width


def test_build_passes_fixed_and_user_params_and_reads_the_signature():
    reg: Registry[type] = Registry("critic")
    reg.register("lin", _Lin)
    built = reg.build("lin", {"width": 5}, fixed={"size": 2})
    assert (built.size, built.width) == (2, 5)
    assert reg.accepts("lin") == {"size", "width"}
    reg.register("any", lambda **kw: kw)
    assert reg.accepts("any") is None  # **kwargs: every parameter is passed on
    assert reg.build("any", {"a": 1}, fixed={"b": 2}) == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    ("params", "fixed", "match"),
    [
        (
            {"widht": 5},
            {"size": 2},
            r"critic 'lin': unknown parameter 'widht'. Accepted parameters: width. Did you mean 'width'\?",
        ),
        (
            {"size": 4},
            {"size": 2},
            r"critic 'lin': parameter 'size' is set by modgen \(size=2\); remove it from the critic params",
        ),
        (
            {"width": -1},
            {"size": 2},
            r"critic 'lin': cannot build with params \{'width': -1\}: width must be >= 0",
        ),
    ],
)
def test_build_errors_name_the_kind_component_and_parameter(params, fixed, match):
    reg: Registry[type] = Registry("critic")
    reg.register("lin", _Lin)
    with pytest.raises(ConfigError, match=match):
        reg.build("lin", params, fixed=fixed)
    reg.register("three", 3)
    with pytest.raises(ConfigError, match=r"critic 'three': the registered object is not callable \(int\)"):
        reg.build("three")
    with pytest.raises(UnknownComponentError, match=r"Can't find 'lni' in registry 'critic'"):
        reg.build("lni")


@pytest.mark.parametrize("bad", ["", " x", "a..b", ".a", "a b", "a/b", "ä"])
def test_invalid_names_are_rejected(bad):
    reg: Registry[object] = Registry("thing")
    assert not NAME_PATTERN.match(bad)
    with pytest.raises(ValueError, match="Invalid thing name"):
        reg.register(bad, 1)
