"""``Registry[T]``: a named collection of components of one kind.

Registries are instances, never module globals: :func:`modgen.plugins.get_registries`
builds a fresh set (one per component kind) and fills it through the plugin hooks, and tests
build their own.

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
import re
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, overload

from attrs import frozen

from modgen.errors import DuplicateComponentError, UnknownComponentError

__all__ = ["Registry", "RegistryEntry", "NAME_PATTERN", "BUILTIN"]

T = TypeVar("T")

#: Origin recorded for components that ship with modgen.
BUILTIN = "builtin"

#: What a registered name may look like: letters, digits, ``_``, ``-`` and ``.`` separators.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*(\.[A-Za-z0-9][A-Za-z0-9_\-]*)*$")


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
        return doc.strip().splitlines()[0] if doc.strip() else ""


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

    def build(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Look up ``name`` and call it with the given arguments."""
        factory = self.get(name)
        if not callable(factory):
            raise TypeError(f"{self.kind} {name!r} is not callable")
        return factory(*args, **kwargs)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()!r})"
