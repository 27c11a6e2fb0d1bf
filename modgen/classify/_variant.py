"""A variant of an estimator class: the same class with other default arguments.

``variant(Base, "Name", doc, weighting="class")`` returns a subclass of ``Base`` that adds
nothing but an ``__init__`` whose signature is ``Base.__init__``'s with the new defaults. That
is the one way modgen makes the weighted classifiers from the unweighted ones, and the
cleanest design that scikit-learn accepts:

* ``get_params``/``clone`` read the parameter names and defaults from the ``__init__``
  signature, which is the parent's with other defaults (no ``*args``/``**kwargs`` visible), so
  cloning, ``set_params`` and the ``repr`` (which shows only non-default values) work as for
  any hand-written estimator;
* it is a real class: ``isinstance(v, Base)``, ``is_classifier``, ``selection_grid``,
  pickling (the class is defined under its own name in the calling module) and the registry
  summary line (``modgen list`` prints the first line of ``doc``) all behave;
* the parent's ``__init__`` is the only one: a new parameter of the parent reaches every
  variant with no edit.

A registered ``functools.partial`` was the alternative; it is not a class (no
``isinstance``, no ``selection_grid``, and ``clone`` rebuilds the parent, losing the variant's
name).
"""

from __future__ import annotations

import inspect
import sys
from typing import Any, TypeVar

from modgen.errors import ConfigError

__all__ = ["variant"]

E = TypeVar("E")


def variant(base: type[E], name: str, doc: str, *, module: str | None = None, **defaults: Any) -> type[E]:
    """A subclass of ``base`` named ``name`` whose ``__init__`` has other defaults.

    Args:
        base: the estimator class (its ``__init__`` takes keyword-able parameters only).
        name: the new class's name; assign the result to a module attribute of that name so
            that pickling finds it.
        doc: the class docstring; its first line is the registry's summary line.
        module: the module the class belongs to (default: the caller's).
        **defaults: new default values of parameters of ``base.__init__``.

    Returns:
        The subclass. ``variant(B, ...)(**kw)`` equals ``B(**{**defaults, **kw})`` in every
        parameter.

    Raises:
        ConfigError: a default names no parameter of ``base.__init__``, or none are given.

    Example:
        >>> from modgen.classify import LinearSVMClassifier
        >>> StrongSVM = variant(LinearSVMClassifier, "StrongSVM", "An SVM with C=10.", C=10.0)
        >>> svm = StrongSVM(device="cpu")
        >>> svm.C, isinstance(svm, LinearSVMClassifier), svm
        (10.0, True, StrongSVM(device='cpu'))
    """
    signature = inspect.signature(base.__init__)
    unknown = sorted(set(defaults) - set(signature.parameters) - {"self"})
    if unknown or not defaults:
        raise ConfigError(
            f"variant {name!r}: defaults must name parameters of {base.__name__}.__init__ "
            f"({', '.join(p for p in signature.parameters if p != 'self')}), got {unknown or 'none'}"
        )
    new_signature = signature.replace(
        parameters=[
            p.replace(default=defaults[p.name]) if p.name in defaults else p
            for p in signature.parameters.values()
        ]
    )
    base_init = base.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = new_signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        base_init(*bound.args, **bound.kwargs)

    # scikit-learn reads parameter names and defaults from this signature (no varargs in it).
    __init__.__signature__ = new_signature  # type: ignore[attr-defined]
    if module is None:
        module = sys._getframe(1).f_globals.get("__name__", base.__module__)
    __init__.__qualname__ = f"{name}.__init__"
    __init__.__module__ = module
    namespace = {"__init__": __init__, "__doc__": doc, "__module__": module, "__qualname__": name}
    cls: type[E] = type(name, (base,), namespace)
    return cls
