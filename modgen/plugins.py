"""Plugin discovery and the registries it fills.

:func:`get_plugin_manager` builds a fresh :class:`pluggy.PluginManager`: modgen's built-in
plugin first, then each entry point of the ``modgen`` group, loaded on its own. A plugin that
fails to import, has a misspelled hook, or raises inside a hook gives a
:class:`PluginWarning` naming it and the error, and everything else keeps working; with the
environment variable ``MODGEN_STRICT_PLUGINS=1`` such a failure raises
:class:`~modgen.errors.PluginError` instead.

:func:`get_registries` then calls every plugin's hooks and returns the filled
:class:`Registries`.

Example:
    >>> regs = get_registries()
    >>> "amaz" in regs.recipe
    True
"""

from __future__ import annotations

import difflib
import importlib.metadata
import os
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import pluggy
from attrs import define, field

from modgen import hookspecs
from modgen.errors import PluginError
from modgen.interfaces import COMPONENT_KINDS
from modgen.registry import BUILTIN, Registry

__all__ = [
    "Registries",
    "PluginRegistries",
    "ScopedRegistry",
    "PluginWarning",
    "PluginFailure",
    "LoadedPlugins",
    "get_plugin_manager",
    "get_registries",
    "load_plugins",
    "strict_plugins",
    "ENTRY_POINT_GROUP",
    "KINDS",
    "COMPONENT_KINDS",
    "add_commands",
    "plugin_summary",
]

ENTRY_POINT_GROUP = "modgen"
#: Registry kinds: every component kind plus ``recipe`` and ``preset``.
KINDS: tuple[str, ...] = (*COMPONENT_KINDS, "recipe", "preset")


class PluginWarning(UserWarning):
    """A plugin could not be loaded or failed inside a hook; it was skipped."""


@define(frozen=True)
class PluginFailure:
    """Why a plugin was skipped: ``stage`` is ``"import"``, ``"validate"`` or a hook name."""

    name: str
    stage: str
    error: str


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


@define
class Registries:
    """One :class:`~modgen.registry.Registry` per component kind, plus ``recipe``.

    Build an empty set with ``Registries()`` (tests do) or a filled one with
    :func:`get_registries`.
    """

    generator: Registry[Any] = field(factory=lambda: Registry("generator"))
    modulator: Registry[Any] = field(factory=lambda: Registry("modulator"))
    critic: Registry[Any] = field(factory=lambda: Registry("critic"))
    aux_classifier: Registry[Any] = field(factory=lambda: Registry("aux_classifier"))
    attribute_decoder: Registry[Any] = field(factory=lambda: Registry("attribute_decoder"))
    quality_weighter: Registry[Any] = field(factory=lambda: Registry("quality_weighter"))
    task_sampler: Registry[Any] = field(factory=lambda: Registry("task_sampler"))
    final_classifier: Registry[Any] = field(factory=lambda: Registry("final_classifier"))
    trainer: Registry[Any] = field(factory=lambda: Registry("trainer"))
    dataset: Registry[Any] = field(factory=lambda: Registry("dataset"))
    backbone: Registry[Any] = field(factory=lambda: Registry("backbone"))
    recipe: Registry[Any] = field(factory=lambda: Registry("recipe"))
    preset: Registry[Any] = field(factory=lambda: Registry("preset"))
    #: Plugins that were skipped, with the reason (filled by :func:`get_registries`).
    failures: list[PluginFailure] = field(factory=list)
    #: Names of the plugins whose hooks ran, built-in first.
    plugins: list[str] = field(factory=list)

    def kind(self, kind: str) -> Registry[Any]:
        """The registry of ``kind``; an unknown kind raises ``UnknownComponentError``."""
        if kind not in KINDS:
            from modgen.errors import UnknownComponentError

            raise UnknownComponentError(
                f"Unknown component kind {kind!r}. Available kinds: {', '.join(KINDS)}."
            )
        return getattr(self, kind)

    def scoped(self, origin: str) -> PluginRegistries:
        """What the registration hooks of plugin ``origin`` receive (see :class:`PluginRegistries`)."""
        return PluginRegistries(self, origin)


class PluginRegistries:
    """The registries as a plugin's hook sees them: one :class:`ScopedRegistry` per kind.

    Attributes are the kinds (``registries.modulator.register(...)``); nothing can be removed.
    """

    generator: ScopedRegistry
    modulator: ScopedRegistry
    critic: ScopedRegistry
    aux_classifier: ScopedRegistry
    attribute_decoder: ScopedRegistry
    quality_weighter: ScopedRegistry
    task_sampler: ScopedRegistry
    final_classifier: ScopedRegistry
    trainer: ScopedRegistry
    dataset: ScopedRegistry
    backbone: ScopedRegistry
    recipe: ScopedRegistry
    preset: ScopedRegistry

    def __init__(self, registries: Registries, origin: str) -> None:
        for k in KINDS:
            setattr(self, k, ScopedRegistry(getattr(registries, k), origin))

    def kind(self, kind: str) -> ScopedRegistry:
        """The scoped registry of ``kind``."""
        if kind not in KINDS:
            from modgen.errors import UnknownComponentError

            raise UnknownComponentError(
                f"Unknown component kind {kind!r}. Available kinds: {', '.join(KINDS)}."
            )
        return getattr(self, kind)  # type: ignore[no-any-return]


def strict_plugins() -> bool:
    """Whether ``MODGEN_STRICT_PLUGINS`` asks for plugin failures to raise."""
    return os.environ.get("MODGEN_STRICT_PLUGINS", "").strip().lower() in {"1", "true", "yes", "on"}


def _fail(failures: list[PluginFailure], name: str, stage: str, err: BaseException) -> None:
    failure = PluginFailure(name, stage, " ".join(f"{type(err).__name__}: {err}".split()))  # one line
    where = (
        "while importing"
        if stage == "import"
        else ("validating its hooks" if stage == "validate" else f"in hook {stage}")
    )
    message = f"modgen plugin {name!r} failed {where}: {failure.error}"
    if strict_plugins():
        raise PluginError(message + " (MODGEN_STRICT_PLUGINS is set)") from err
    failures.append(failure)
    warnings.warn(message + "; it was skipped.", PluginWarning, stacklevel=3)


@define
class LoadedPlugins:
    """A plugin manager together with the plugins that failed to load."""

    manager: pluggy.PluginManager
    failures: list[PluginFailure] = field(factory=list)


def _entry_points() -> Iterable[importlib.metadata.EntryPoint]:
    return importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)


def _constant(value: object) -> Callable[[], object]:
    return lambda: value


def _dist_name(ep: Any) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else repr(getattr(ep, "value", ep.name))


def get_plugin_manager(
    extra: Iterable[tuple[str, object]] = (),
    *,
    entry_points: bool = True,
) -> LoadedPlugins:
    """A fresh plugin manager: the built-in plugin, each ``modgen`` entry point, then ``extra``.

    Args:
        extra: ``(name, plugin)`` pairs registered after the entry points (tests use this).
        entry_points: load the ``modgen`` entry-point group (turn off for isolated tests).

    Returns:
        The manager and the list of plugins that failed (each already warned about).
    """
    from modgen import builtin

    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(builtin, name=BUILTIN)
    failures: list[PluginFailure] = []

    candidates: list[tuple[str, Callable[[], object]]] = []
    if entry_points:
        found = list(_entry_points())
        claims: dict[str, list[str]] = {}
        for ep in found:
            claims.setdefault(ep.name, []).append(_dist_name(ep))
        for ep in found:
            if len(claims[ep.name]) > 1:  # never let one silently shadow the other: report each
                this = _dist_name(ep)
                others = [d for d in claims[ep.name] if d != this] or claims[ep.name][1:]
                _fail(
                    failures,
                    ep.name,
                    "import",
                    PluginError(
                        f"the entry-point name {ep.name!r} of {this} is also claimed by {' and '.join(others)}; "
                        "neither was loaded, uninstall one of them"
                    ),
                )
                continue
            candidates.append((ep.name, ep.load))
    candidates.extend((n, _constant(p)) for n, p in extra)

    for name, load in candidates:
        if pm.has_plugin(name) or pm.get_plugin(name) is not None:
            _fail(failures, name, "import", PluginError(f"a plugin named {name!r} is already loaded"))
            continue
        try:
            plugin = load()
        except (Exception, SystemExit) as err:  # noqa: BLE001 - any import failure is reported, not raised
            _fail(failures, name, "import", err)
            continue
        try:
            pm.register(plugin, name=name)
        except Exception as err:  # noqa: BLE001 - pluggy validation errors
            _fail(failures, name, "validate", err)
            continue
        try:
            _check_unknown_hooks(pm, name, plugin)
        except PluginError as err:
            pm.unregister(name=name)
            _fail(failures, name, "validate", err)
    return LoadedPlugins(pm, failures)


def _check_unknown_hooks(pm: pluggy.PluginManager, name: str, plugin: object) -> None:
    """Reject hook implementations whose names are not hookspecs (misspelled hooks)."""
    known = {n for n in dir(hookspecs) if n.startswith("modgen_")}
    for caller in pm.get_hookcallers(plugin) or []:
        if caller.name not in known:
            close = difflib.get_close_matches(caller.name, sorted(known), n=1, cutoff=0.6)
            raise PluginError(
                f"unknown hook {caller.name!r}; known hooks: {', '.join(sorted(known))}"
                + (f" (did you mean {close[0]!r}?)" if close else "")
            )


def load_plugins(loaded: LoadedPlugins | None = None) -> Registries:
    """Call every plugin's registration hooks and return the filled :class:`Registries`.

    Each plugin's hook implementation is called on its own, with the registries scoped to
    the plugin's name; a plugin that raises is skipped with a :class:`PluginWarning` and what
    it registered before raising is removed again.
    """
    loaded = loaded if loaded is not None else get_plugin_manager()
    regs = Registries()
    regs.failures.extend(loaded.failures)
    failed: set[str] = {f.name for f in loaded.failures}
    for hook_name in ("modgen_register_components", "modgen_register_recipes"):
        caller = getattr(loaded.manager.hook, hook_name)
        # get_hookimpls() is in registration order: built-ins first, then entry points.
        for impl in caller.get_hookimpls():
            name = impl.plugin_name
            if name in failed:
                continue
            try:
                impl.function(registries=regs.scoped(name))
            except (Exception, SystemExit) as err:  # noqa: BLE001 - a broken plugin must not break modgen
                if name == BUILTIN:
                    raise
                _remove_origin(regs, name)
                failed.add(name)
                _fail(regs.failures, name, hook_name, err)
    regs.plugins.extend(n for n, _ in loaded.manager.list_name_plugin() if n not in failed)
    return regs


def _remove_origin(regs: Registries, origin: str) -> None:
    """Remove everything ``origin`` registered (a plugin that failed half-way)."""
    for k in KINDS:
        reg = getattr(regs, k)
        for entry in reg.entries():
            if entry.origin == origin:
                reg.unregister(entry.name)


def get_registries(extra: Iterable[tuple[str, object]] = (), *, entry_points: bool = True) -> Registries:
    """Build the plugin manager and return the filled registries (see :func:`load_plugins`)."""
    return load_plugins(get_plugin_manager(extra, entry_points=entry_points))


def _command_names(app: Any) -> list[str]:
    """Names of the commands and groups a typer app exposes."""
    names = [
        c.name or (c.callback.__name__.replace("_", "-") if c.callback else "")
        for c in app.registered_commands
    ]
    return names + [g.name or "" for g in app.registered_groups]


def add_commands(app: Any, loaded: LoadedPlugins, *, first: str = BUILTIN) -> None:
    """Let every plugin add commands to the typer ``app`` (``modgen_register_commands``).

    The plugin ``first`` (modgen's own commands) registers before every other, through the same
    hook. A third-party plugin that raises or reuses a taken command name is skipped and
    reported; modgen's own failing is an error.

    Raises:
        PluginError: modgen's built-in commands failed to register.
    """
    caller = loaded.manager.hook.modgen_register_commands
    impls = sorted(caller.get_hookimpls(), key=lambda i: i.plugin_name != first)
    for impl in impls:
        n_cmd, n_grp = len(app.registered_commands), len(app.registered_groups)
        taken = set(_command_names(app))
        try:
            impl.function(app=app)
            names = _command_names(app)
            new = names[n_cmd : len(app.registered_commands)] + names[len(app.registered_commands) + n_grp :]
            clash = sorted(set(new) & taken)
            if clash:
                raise PluginError(f"command name {clash[0]!r} is already taken; choose another name")
        except (Exception, SystemExit) as err:  # noqa: BLE001 - a broken plugin must not break the CLI
            del app.registered_commands[n_cmd:]
            del app.registered_groups[n_grp:]
            if impl.plugin_name in (BUILTIN, first):
                raise PluginError(
                    f"modgen's own commands failed to register: {type(err).__name__}: {err}"
                ) from err
            _fail(loaded.failures, impl.plugin_name, "modgen_register_commands", err)


def plugin_summary(registries: Registries) -> list[dict[str, Any]]:
    """One row per loaded plugin: its version and how many components, recipes and presets it added.

    Example:
        >>> rows = plugin_summary(get_registries(entry_points=False))
        >>> rows[0]["name"], rows[0]["recipes"] > 0
        ('builtin', True)
    """
    from modgen import __version__

    rows = []
    for name in registries.plugins:
        counts = {"components": 0, "recipes": 0, "presets": 0}
        for kind in KINDS:
            n = sum(1 for e in registries.kind(kind).entries() if e.origin == name)
            key = "recipes" if kind == "recipe" else "presets" if kind == "preset" else "components"
            counts[key] += n
        version = __version__ if name == BUILTIN else _distribution_version(name)
        rows.append({"name": name, "version": version, **counts})
    return rows


def _distribution_version(plugin: str) -> str:
    for ep in _entry_points():
        if ep.name == plugin and ep.dist is not None:
            return str(ep.dist.version)
    return "?"
