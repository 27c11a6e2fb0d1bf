"""``Registry[T]``: a named collection of components of one kind, and the types built on it.

* :class:`Registry` — the objects of one kind; :data:`KINDS` — every kind there is.
* :class:`Registries` — one :class:`Registry` per kind, what the library passes around.
* :class:`PluginRegistries` and :class:`ScopedRegistry` — the view a plugin's hook receives:
  registration and lookup under the plugin's name, no removal.

This is a leaf module (it imports only :mod:`modgen.errors`), so every component package can
name these types without importing the plugin loader. Registries are instances, never module
globals: :func:`modgen.plugins.get_registries` builds a fresh set and fills it through the
plugin hooks, and tests build their own.

Example:
    >>> reg: Registry[type] = Registry("modulator")
    >>> @reg.register("film")
    ... class FiLM: ...
    >>> reg.get("film") is FiLM
    True
    >>> reg.names()
    ['film']
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar, overload

from attrs import frozen

from modgen.errors import (
    ConfigError,
    DuplicateComponentError,
    ModgenError,
    PluginError,
    UnknownComponentError,
)

__all__ = [
    "Registry",
    "RegistryEntry",
    "Registries",
    "PluginRegistries",
    "ScopedRegistry",
    "PluginFailure",
    "COMPONENT_KINDS",
    "KINDS",
    "NAME_PATTERN",
    "BUILTIN",
    "plain_text",
]

T = TypeVar("T")

#: Origin recorded for components that ship with modgen.
BUILTIN = "builtin"

#: Every component kind, in the order ``modgen list`` shows them, with a one-line description.
#: The contract of each is a Protocol in :mod:`modgen.interfaces`.
COMPONENT_KINDS: dict[str, str] = {
    "generator": "conditional feature generator G(z, a)",
    "modulator": "task encoder AP + per-layer modulators AM",
    "critic": "conditional WGAN critic D(x, a)",
    "aux_classifier": "auxiliary classifier C over training classes",
    "attribute_decoder": "attribute decoder AD(x) -> a'",
    "quality_weighter": "synthetic-feature quality weights (Eqs. 12, 14)",
    "task_sampler": "episodes of N-way K-shot tasks",
    "final_classifier": "classifier trained on synthetic features",
    "trainer": "training procedure (meta / plain)",
    "dataset": "data-set loader returning ZSLData",
    "backbone": "image feature extractor: images (B, 3, H, W) -> pooled features (B, D)",
}

#: Registry kinds: every component kind, then ``recipe``, ``preset`` and ``logger`` (run loggers,
#: :mod:`modgen.loggers`, chosen by ``run.loggers``). The one list of kinds: :class:`Registries`
#: and :class:`PluginRegistries` have one attribute per entry.
KINDS: tuple[str, ...] = (*COMPONENT_KINDS, "recipe", "preset", "logger")

#: What a registered name may look like: letters, digits, ``_``, ``-`` and ``.`` separators.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*(\.[A-Za-z0-9][A-Za-z0-9_\-]*)*$")


_ROLE = re.compile(r":[a-z]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`")


def plain_text(text: str) -> str:
    """``text`` without reST markup: roles (``:class:`~a.B``` -> ``B``) and literals (````x```` -> ``x``).

    Example:
        >>> plain_text("A :class:`~modgen.classify.SklearnLinearSVC` over ``G(z, a)``")
        'A SklearnLinearSVC over G(z, a)'
    """

    def role(match: re.Match[str]) -> str:
        target = match.group(1).strip()
        return (
            target.rsplit(".", 1)[-1] if match.group(0).startswith(":") and "~" in match.group(0) else target
        )

    return _ROLE.sub(role, text).replace("``", "")


@frozen
class RegistryEntry(Generic[T]):
    """One registered object with where it came from.

    Attributes:
        name: the key it is registered under.
        obj: the registered object (usually a class or a factory function).
        origin: ``"builtin"`` or the name of the plugin that registered it.
    """

    name: str
    obj: T
    origin: str = BUILTIN

    @property
    def summary(self) -> str:
        """The first line of the object's docstring, or an empty string."""
        doc = getattr(self.obj, "__doc__", None) or ""
        return plain_text(doc.strip().splitlines()[0]) if doc.strip() else ""


class Registry(Generic[T]):
    """Named objects of one component kind.

    Args:
        kind: the component kind, used in error messages (``"modulator"``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, RegistryEntry[T]] = {}

    # -- registration -------------------------------------------------------------------------
    @overload
    def register(self, name: str, obj: None = None, *, origin: str = BUILTIN) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, obj: T, *, origin: str = BUILTIN) -> T: ...

    def register(self, name: str, obj: T | None = None, *, origin: str = BUILTIN) -> Any:
        """Register ``obj`` under ``name``; without ``obj``, return a decorator.

        Raises:
            DuplicateComponentError: ``name`` is already registered in this registry.
            ValueError: ``name`` is not a valid component name.
        """
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise ValueError(
                f"Invalid {self.kind} name {name!r}: expected letters, digits, '_' or '-', "
                "optionally in dot-separated parts such as 'myplugin.film'."
            )

        def add(o: T) -> T:
            if name in self._entries:
                prev = self._entries[name]
                raise DuplicateComponentError(
                    f"Cannot register {self.kind} {name!r} from {origin!r}: the name is already "
                    f"registered by {prev.origin!r}. Choose another name (plugins use "
                    f"'<plugin>.<name>')."
                )
            self._entries[name] = RegistryEntry(name, o, origin)
            return o

        if obj is None:
            return add
        return add(obj)

    def unregister(self, name: str) -> T:
        """Remove ``name`` and return its object (used by tests and plugin unloading)."""
        obj = self._lookup(name).obj
        del self._entries[name]
        return obj

    # -- lookup ---------------------------------------------------------------------------------
    def _lookup(self, name: str) -> RegistryEntry[T]:
        try:
            return self._entries[name]
        except KeyError:
            available = ", ".join(sorted(self._entries)) or "(none)"
            close = difflib.get_close_matches(str(name), list(self._entries), n=3, cutoff=0.5)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise UnknownComponentError(
                f"Can't find {name!r} in registry {self.kind!r}. Available names: {available}.{hint}"
            ) from None

    def get(self, name: str) -> T:
        """The object registered under ``name``.

        Raises:
            UnknownComponentError: no such name; the message lists the available names and
                the closest matches.
        """
        return self._lookup(name).obj

    def entry(self, name: str) -> RegistryEntry[T]:
        """The :class:`RegistryEntry` of ``name`` (object and origin)."""
        return self._lookup(name)

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._entries)

    def entries(self) -> list[RegistryEntry[T]]:
        """All entries, sorted by name."""
        return [self._entries[n] for n in self.names()]

    def accepts(self, name: str) -> set[str] | None:
        """The keyword parameters ``name``'s factory takes; ``None`` when it takes ``**kwargs``
        (or has no readable signature).

        Example:
            >>> reg: Registry[type] = Registry("demo")
            >>> _ = reg.register("pair", lambda a, b=1: (a, b))
            >>> sorted(reg.accepts("pair"))
            ['a', 'b']
        """
        factory = self.get(name)
        try:
            sig = inspect.signature(factory)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
            return None
        return {
            p.name for p in sig.parameters.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }

    def build(
        self,
        name: str,
        /,
        params: Mapping[str, Any] | None = None,
        *,
        fixed: Mapping[str, Any] | None = None,
    ) -> Any:
        """Build the component ``name``: the one way modgen calls a registered factory.

        Args:
            name: the registered name.
            params: the user's parameters (a recipe's ``params`` table); each must be accepted
                by the factory.
            fixed: arguments modgen sets itself (dimensions from the data, a device); the user
                may not set them.

        Raises:
            UnknownComponentError: ``name`` is not registered.
            ConfigError: a parameter is unknown (the message lists the accepted ones and the
                closest match), is one of ``fixed``, or the factory rejects a value; every
                message names the kind, the component and the parameter.

        Example:
            >>> reg: Registry[type] = Registry("demo")
            >>> _ = reg.register("pair", lambda a, b=1: (a, b))
            >>> reg.build("pair", {"b": 2}, fixed={"a": 0})
            (0, 2)
        """
        factory = self.get(name)
        params, fixed = dict(params or {}), dict(fixed or {})
        where = f"{self.kind} {name!r}"
        for p in params:
            if p in fixed:
                raise ConfigError(
                    f"{where}: parameter {p!r} is set by modgen ({p}={fixed[p]!r}); remove it from the "
                    f"{self.kind} params"
                )
        accepted = self.accepts(name)
        if accepted is not None:
            allowed = sorted(accepted - set(fixed))
            for p in params:
                if p not in allowed:
                    close = difflib.get_close_matches(p, allowed, n=1)
                    hint = f" Did you mean {close[0]!r}?" if close else ""
                    raise ConfigError(
                        f"{where}: unknown parameter {p!r}. Accepted parameters: "
                        f"{', '.join(allowed) or '(none)'}.{hint}"
                    )
        if not callable(factory):
            raise ConfigError(f"{where}: the registered object is not callable ({type(factory).__name__})")
        try:
            return factory(**fixed, **params)
        except ModgenError as err:
            if str(err).startswith(where):
                raise
            raise type(err)(f"{where}: {err}") from err
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{where}: cannot build with params {params!r}: {err}") from err

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()!r})"


def _unknown_kind(kind: str) -> UnknownComponentError:
    close = difflib.get_close_matches(str(kind), KINDS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return UnknownComponentError(
        f"Unknown component kind {kind!r}. Available kinds: {', '.join(KINDS)}.{hint}"
    )


@frozen
class PluginFailure:
    """Why a plugin was skipped: ``stage`` is ``"import"``, ``"validate"`` or a hook name."""

    name: str
    stage: str
    error: str


class Registries:
    """One :class:`Registry` per kind of :data:`KINDS`, as attributes (``registries.generator``).

    Build an empty set with ``Registries()`` (tests do) or a filled one with
    :func:`modgen.plugins.get_registries`.

    Attributes:
        failures: plugins that were skipped, with the reason (filled by the plugin loader).
        plugins: names of the plugins whose hooks ran, built-in first.

    Example:
        >>> regs = Registries()
        >>> regs.modulator.kind, len(regs.kind("recipe"))
        ('modulator', 0)
    """

    def __init__(self) -> None:
        self._by_kind: dict[str, Registry[Any]] = {k: Registry(k) for k in KINDS}
        self.failures: list[PluginFailure] = []
        self.plugins: list[str] = []
        #: the ``modgen_train_record`` hook of the plugins that loaded (set by the plugin loader;
        #: ``None`` in a hand-built set): called as ``train_record(spec=, folder=, episode=, record=)``.
        self.train_record: Callable[..., list[Any]] | None = None

    def __getattr__(self, name: str) -> Registry[Any]:
        by_kind = self.__dict__.get("_by_kind")
        if by_kind is None or name not in by_kind:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return by_kind[name]  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"Registries({', '.join(f'{k}={len(r)}' for k, r in self._by_kind.items())})"

    def kind(self, kind: str) -> Registry[Any]:
        """The registry of ``kind``; an unknown kind raises ``UnknownComponentError``."""
        if kind not in KINDS:
            raise _unknown_kind(kind)
        return self._by_kind[kind]

    def scoped(self, origin: str) -> PluginRegistries:
        """What the registration hooks of plugin ``origin`` receive (see :class:`PluginRegistries`)."""
        return PluginRegistries(self, origin)


class ScopedRegistry:
    """What a plugin's hook sees of a :class:`Registry`: registration and lookup, no removal.

    Every registration is recorded with the plugin's name as its origin, and a third-party
    name must start with ``"<plugin>."``.
    """

    def __init__(self, registry: Registry[Any], origin: str) -> None:
        self._registry = registry
        self._origin = origin

    @property
    def kind(self) -> str:
        """The component kind of the registry."""
        return self._registry.kind

    def register(self, name: str, obj: Any = None) -> Any:
        """Register ``obj`` under ``name`` (or return a decorator); see :meth:`Registry.register`.

        Raises:
            PluginError: a third-party name without the ``"<plugin>."`` prefix.
            DuplicateComponentError: the name is taken.
        """
        if self._origin != BUILTIN and not name.startswith(self._origin + "."):
            raise PluginError(
                f"plugin {self._origin!r} tried to register {self._registry.kind} {name!r}: "
                f"third-party names must start with '{self._origin}.' (e.g. "
                f"'{self._origin}.{name.split('.')[-1]}')"
            )
        if obj is None:
            add = self._registry.register(name, origin=self._origin)

            def checked(o: Any) -> Any:
                self._check_callable(name, o)
                return add(o)

            return checked
        self._check_callable(name, obj)
        return self._registry.register(name, obj, origin=self._origin)

    def _check_callable(self, name: str, obj: Any) -> None:
        if not callable(obj):
            raise PluginError(
                f"plugin {self._origin!r} registered {self._registry.kind} {name!r} as {obj!r:.60} (of type "
                f"{type(obj).__name__}), which cannot be called; register the component's class or a function "
                "that builds it"
            )

    def get(self, name: str) -> Any:
        """The object registered under ``name`` (a recipe may build on a built-in one)."""
        return self._registry.get(name)

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return self._registry.names()

    def __contains__(self, name: object) -> bool:
        return name in self._registry


class PluginRegistries:
    """The registries as a plugin's hook receives them: one :class:`ScopedRegistry` per kind of
    :data:`KINDS`, as attributes (``registries.modulator.register(...)``); nothing can be removed.
    """

    def __init__(self, registries: Registries, origin: str) -> None:
        self._by_kind = {k: ScopedRegistry(registries.kind(k), origin) for k in KINDS}

    def __getattr__(self, name: str) -> ScopedRegistry:
        by_kind = self.__dict__.get("_by_kind")
        if by_kind is None or name not in by_kind:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return by_kind[name]  # type: ignore[no-any-return]

    def kind(self, kind: str) -> ScopedRegistry:
        """The scoped registry of ``kind``; an unknown kind raises ``UnknownComponentError``."""
        if kind not in KINDS:
            raise _unknown_kind(kind)
        return self._by_kind[kind]
