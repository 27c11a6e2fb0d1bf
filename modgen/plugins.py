"""Plugin discovery and the registries it fills.

:func:`get_plugin_manager` builds a fresh :class:`pluggy.PluginManager`: modgen's built-in
plugin first, then each entry point of the ``modgen`` group, loaded on its own. A plugin that
fails to import, has a misspelled hook, or raises inside a hook (any exception, ``SystemExit``
and ``KeyboardInterrupt`` included: only a real Ctrl-C or SIGTERM stops modgen) gives a
:class:`PluginWarning` naming it and the error, and everything else keeps working; with the
environment variable ``MODGEN_STRICT_PLUGINS=1`` such a failure raises
:class:`~modgen.errors.PluginError` instead.

:func:`get_registries` then calls every plugin's hooks and returns the filled
:class:`Registries`.

What a plugin prints while it is loaded or registers goes to stderr, so modgen's own output on
stdout (``modgen recipe show``, ``modgen compare -f json``) stays machine-readable.

Example:
    >>> regs = get_registries()
    >>> "amaz" in regs.recipe
    True
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.metadata
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pluggy
from attrs import define, field

from modgen import hookspecs
from modgen.errors import PluginError
from modgen.registry import (
    BUILTIN,
    COMPONENT_KINDS,
    KINDS,
    PluginFailure,
    PluginRegistries,
    Registries,
    ScopedRegistry,
)

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
    "call_order",
    "plugin_version",
    "plugin_versions",
    "plugin_code",
]

ENTRY_POINT_GROUP = "modgen"


class PluginWarning(UserWarning):
    """A plugin could not be loaded or failed inside a hook; it was skipped."""


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


class _Signals:
    received = False


@contextlib.contextmanager
def plugin_code() -> Iterator[_Signals]:
    """Run a plugin's code: its prints go to stderr, and a real Ctrl-C or SIGTERM is told apart
    from a ``KeyboardInterrupt`` the plugin raises itself.

    A caller isolates whatever the plugin raises (``BaseException`` included) unless the signal
    was ``received``; then it re-raises, so the user can always stop modgen.

    Example:
        >>> with plugin_code() as signals:
        ...     print("to stderr")
        >>> signals.received
        False
    """
    state = _Signals()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():

        def handler(signum: int, frame: Any) -> None:
            state.received = True
            before = previous[signum]
            if callable(before):
                before(signum, frame)
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            signal.signal(signum, signal.SIG_DFL)  # a default SIGTERM: end as it would have
            os.kill(os.getpid(), signum)

        for sig in (signal.SIGINT, signal.SIGTERM):
            before = signal.getsignal(sig)
            if before is not None:  # None: set outside Python, left alone
                previous[sig] = before
                signal.signal(sig, handler)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield state
    finally:
        for signum, handled in previous.items():
            signal.signal(signum, handled)


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
            with plugin_code() as signals:
                plugin = load()
        except BaseException as err:  # noqa: BLE001 - any import failure is reported, not raised
            if signals.received:
                raise
            _fail(failures, name, "import", err)
            continue
        try:
            pm.register(plugin, name=name)
        except Exception as err:  # noqa: BLE001 - pluggy validation errors
            _fail(failures, name, "validate", err)
            continue
        try:
            _check_hooks(pm, name, plugin)
        except PluginError as err:
            pm.unregister(name=name)
            _fail(failures, name, "validate", err)
    return LoadedPlugins(pm, failures)


def _check_hooks(pm: pluggy.PluginManager, name: str, plugin: object) -> None:
    """Reject hook implementations whose names are not hookspecs (misspelled hooks), and wrappers.

    modgen calls each plugin's hook on its own (scoped registries, a failure skips only that
    plugin), so a wrapper (``wrapper=True`` or ``hookwrapper=True``) would never wrap anything.
    """
    known = {n for n in dir(hookspecs) if n.startswith("modgen_")}
    for caller in pm.get_hookcallers(plugin) or []:
        if caller.name not in known:
            close = difflib.get_close_matches(caller.name, sorted(known), n=1, cutoff=0.6)
            raise PluginError(
                f"unknown hook {caller.name!r}; known hooks: {', '.join(sorted(known))}"
                + (f" (did you mean {close[0]!r}?)" if close else "")
            )
        for impl in caller.get_hookimpls():
            if impl.plugin_name == name and (impl.wrapper or impl.hookwrapper):
                option = "wrapper=True" if impl.wrapper else "hookwrapper=True"
                raise PluginError(
                    f"hook {caller.name!r} is marked {option}; modgen calls each plugin's hooks on their own, "
                    "so wrappers are not supported: drop the option (tryfirst=True / trylast=True set the order)"
                )


def call_order(caller: Any) -> list[Any]:
    """The hook implementations of ``caller`` in the order pluggy calls them.

    pluggy keeps them in reverse call order: ``tryfirst`` ones first, then the others, each group
    the last registered first, then ``trylast`` ones. modgen's built-in hooks are ``tryfirst``.
    """
    return list(reversed(caller.get_hookimpls()))


def load_plugins(loaded: LoadedPlugins | None = None) -> Registries:
    """Call every plugin's registration hooks and return the filled :class:`Registries`.

    Each plugin's hook implementation is called on its own, in pluggy's order (:func:`call_order`:
    modgen's built-ins first, ``trylast`` plugins after all others), with the registries scoped
    to the plugin's name; a plugin that raises is skipped with a :class:`PluginWarning` and what
    it registered before raising is removed again.
    """
    loaded = loaded if loaded is not None else get_plugin_manager()
    regs = Registries()
    regs.failures.extend(loaded.failures)
    failed: set[str] = {f.name for f in loaded.failures}
    for hook_name in ("modgen_register_components", "modgen_register_recipes"):
        caller = getattr(loaded.manager.hook, hook_name)
        for impl in call_order(caller):
            name = impl.plugin_name
            if name in failed:
                continue
            try:
                with plugin_code() as signals:
                    impl.function(registries=regs.scoped(name))
            except BaseException as err:  # noqa: BLE001 - a broken plugin must not break modgen
                if name == BUILTIN or signals.received:
                    raise
                _remove_origin(regs, name)
                failed.add(name)
                _fail(regs.failures, name, hook_name, err)
    regs.plugins.extend(n for n, _ in loaded.manager.list_name_plugin() if n not in failed)
    pm = loaded.manager
    for name in failed:  # a skipped plugin's callbacks are skipped too
        if pm.get_plugin(name) is not None:
            pm.unregister(name=name)
    regs.train_record = pm.hook.modgen_train_record
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
    hook; the others follow in pluggy's order (:func:`call_order`). A third-party plugin that raises or reuses a taken command name is skipped and
    reported; modgen's own failing is an error.

    Raises:
        PluginError: modgen's built-in commands failed to register.
    """
    caller = loaded.manager.hook.modgen_register_commands
    impls = sorted(call_order(caller), key=lambda i: i.plugin_name != first)  # a stable sort
    for impl in impls:
        n_cmd, n_grp = len(app.registered_commands), len(app.registered_groups)
        taken = set(_command_names(app))
        try:
            with plugin_code() as signals:
                impl.function(app=app)
            names = _command_names(app)
            new = names[n_cmd : len(app.registered_commands)] + names[len(app.registered_commands) + n_grp :]
            clash = sorted(set(new) & taken)
            if clash:
                raise PluginError(f"command name {clash[0]!r} is already taken; choose another name")
        except BaseException as err:  # noqa: BLE001 - a broken plugin must not break the CLI
            if signals.received:
                raise
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
    rows = []
    for name in registries.plugins:
        counts = {"components": 0, "recipes": 0, "presets": 0}
        for kind in KINDS:
            n = sum(1 for e in registries.kind(kind).entries() if e.origin == name)
            key = "recipes" if kind == "recipe" else "presets" if kind == "preset" else "components"
            counts[key] += n
        rows.append({"name": name, "version": plugin_version(name), **counts})
    return rows


def plugin_version(name: str) -> str:
    """The version of plugin ``name``: modgen's for the built-in plugin, else its distribution's
    (``"?"`` when it came from no installed distribution, e.g. a test's ``extra``). modgen's own
    plugins (``builtin``, ``builtin-commands``) have modgen's version."""
    if name == BUILTIN or name.startswith(f"{BUILTIN}-"):
        from modgen._version import __version__

        return __version__
    for ep in _entry_points():
        if ep.name == name and ep.dist is not None:
            return str(ep.dist.version)
    return "?"


def plugin_versions(registries: Registries) -> dict[str, str]:
    """The loaded plugins with their versions (:func:`plugin_version`), as provenance records them."""
    return {name: plugin_version(name) for name in registries.plugins}
