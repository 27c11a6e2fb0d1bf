"""Per-task fast adaptation without a per-task copy of every weight.

MAML adapts the parameters to each task ``t`` of a batch on that task's own support loss
``L_t``. Done literally (:func:`torch.func.vmap` over tasks), every task gets a copy of every
parameter, and every layer multiplies by a different weight per task. For a linear layer
``y = x W^T + b`` the algebra allows better: a gradient step changes the weight by a sum of
outer products over the rows the layer saw in the support loss,

    W'_t = W - lr * U_t^T V_t,   U_t = dL_t/dy (one output gradient per row), V_t = x (the row),

so on new inputs ``x W'_t^T = x W^T - lr * (x V_t^T) U_t``: the product with the shared weight
for all tasks at once, plus a correction of rank ``m`` (the support rows); ``W'_t`` is never
formed. Each further step adds one more such term, its output gradients taken at the adapted
layer. Second-order meta-gradients differentiate through ``U_t`` and ``V_t`` like through any
tensor.

:class:`TaskParameter` holds one parameter of ``T`` tasks as the shared value plus each task's
change, in one of two forms:

* **factored** (2-d weights of linear layers): the low-rank terms above;
* **dense**: a ``(T, *shape)`` tensor. For biases and BatchNorm's affine this is cheap. It is
  also the form for a weight whose network has its *input gradient* differentiated in a
  support loss (a critic with a gradient penalty): such a weight is used in a backward pass
  too (``dx = dy W``), whose contribution to its gradient the output gradients ``U_t`` miss.

A ``TaskParameter`` stands in for the parameter in :func:`torch.func.functional_call`. The
networks use it in :func:`torch.nn.functional.linear` (as weight or bias) and in elementwise
products and sums (BatchNorm's affine), always on inputs ``(T, ..., d)`` with the task first;
any other use raises :class:`~modgen.errors.ConfigError` rather than compute with the wrong
values.

:func:`task_grads` takes every task's gradient of its own loss from *one* backward pass of the
batched loss: the tasks' computations do not mix (per-task BatchNorm statistics, per-task
modulation), so the output gradients of task ``t``'s rows are those of ``L_t``.

Example (two tasks, one step on ``L_t = mean((x_t w^T - 1)^2)`` from ``w = 0``):
    >>> import torch
    >>> w = torch.zeros(1, 1, requires_grad=True)
    >>> x = torch.tensor([[[1.0]], [[2.0]]])  # (T=2, n=1, in=1)
    >>> p = per_task({"w": w}, tasks=2, factored=["w"])
    >>> loss = lambda q: (torch.nn.functional.linear(x, q["w"]) - 1).square().mean()
    >>> (g,) = task_grads(loss, p, ["w"], first_order=False)
    >>> adapted = p["w"].descend(g, lr=0.25)  # w'_t = -0.25 * 2 (0 - 1) x_t = 0.5 x_t
    >>> torch.nn.functional.linear(x, adapted).flatten().tolist()  # x_t w'_t = 0.5 x_t^2
    [0.5, 2.0]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from modgen.errors import ConfigError, ShapeError

__all__ = ["LowRankStep", "TaskGrad", "TaskParameter", "per_task", "task_grads"]

Params = dict[str, Tensor]


@dataclass(frozen=True)
class LowRankStep:
    """A factored weight's gradient per task, ``U_t^T V_t``: ``u`` ``(T, m, out)`` (output
    gradients) and ``v`` ``(T, m, in)`` (inputs), one row for each row the layer saw."""

    u: Tensor
    v: Tensor


#: A per-task gradient: ``(T, *shape)`` for a dense parameter, :class:`LowRankStep` for a factored one.
TaskGrad = Tensor | LowRankStep

_ELEMENTWISE = frozenset("mul add sub __mul__ __rmul__ __add__ __radd__ __sub__ __rsub__".split())
# Reading metadata is harmless: the handle has the shared parameter's shape, dtype and device.
_METADATA = frozenset("dim size numel is_floating_point is_complex".split())
_METADATA_PROPERTIES = frozenset(
    "shape ndim dtype device layout requires_grad is_leaf grad_fn is_cuda is_meta".split()
)

# For an error message only (a factored weight used inside a transform); skipped where torch lacks it.
_is_transformed: Callable[[Tensor], bool] = getattr(
    getattr(torch._C, "_functorch", None), "is_functorch_wrapped_tensor", lambda t: False
)


class TaskParameter(Tensor):
    """One parameter of ``T`` tasks: the shared value plus each task's change.

    The change is factored (low-rank terms; 2-d weights of linear layers) or dense (a
    ``(T, *shape)`` tensor). Not built directly: :func:`per_task` wraps parameters and
    :meth:`descend` takes a step. The tensor itself aliases the shared parameter (so ``shape``,
    ``dtype`` and ``device`` are the parameter's); computations use the per-task values.

    Attributes:
        tasks: the number of tasks ``T``.
        factored: whether the change is kept as low-rank terms.
    """

    tasks: int
    factored: bool
    _name: str
    _shared: Tensor
    # dense: each task's change (T, *shape), or None before the first step. While task_grads
    # records a parameter that has taken no step it holds the whole values (_whole).
    _delta: Tensor | None
    _whole: bool
    # factored: the steps (lr, U (T, m, out), V (T, m, in)); the change is -sum lr U^T V
    _terms: tuple[tuple[float, Tensor, Tensor], ...]
    # factored, while task_grads records: (input rows (T, M, in), output (T, ..., out)) per call
    _tape: list[tuple[Tensor, Tensor]] | None

    @staticmethod
    def _make(
        shared: Tensor,
        *,
        tasks: int,
        factored: bool,
        name: str,
        delta: Tensor | None = None,
        whole: bool = False,
        terms: tuple[tuple[float, Tensor, Tensor], ...] = (),
        tape: list[tuple[Tensor, Tensor]] | None = None,
    ) -> TaskParameter:
        handle = Tensor._make_subclass(TaskParameter, shared.detach(), False)
        handle.tasks, handle.factored, handle._name, handle._shared = tasks, factored, name, shared
        handle._delta, handle._whole, handle._terms, handle._tape = delta, whole, terms, tape
        return handle

    def _evolve(self, **changes: Any) -> TaskParameter:
        fields: dict[str, Any] = {"delta": self._delta, "whole": self._whole, "terms": self._terms}
        fields.update(changes)
        return TaskParameter._make(
            self._shared, tasks=self.tasks, factored=self.factored, name=self._name, **fields
        )

    def __repr__(self, *, tensor_contents: Any = None) -> str:  # type: ignore[override]
        if self.factored:
            form = f"factored, {len(self._terms)} low-rank step(s)"
        else:
            form = "shared" if self._delta is None else "dense"
        return f"TaskParameter({self._name!r}, shape={tuple(self.shape)}, tasks={self.tasks}, {form})"

    # -- gradients and steps ----------------------------------------------------------------------
    def _recording(self) -> TaskParameter:
        """A handle whose per-task gradient :func:`task_grads` can take: the dense change as a
        tensor of its own, or, factored, with a tape of the layer's inputs and outputs."""
        if self.factored:
            return self._evolve(tape=[])
        if self._delta is None:
            return self._evolve(
                delta=_own_node(self._shared.expand(self.tasks, *self._shared.shape)), whole=True
            )
        return self._evolve(delta=_own_node(self._delta))

    def _targets(self) -> list[Tensor]:
        """What a recording handle's gradient is taken with respect to."""
        if self._tape is not None:
            return [out for _, out in self._tape]
        if self._delta is None:
            raise TypeError(f"TaskParameter {self._name!r} is not recording")
        return [self._delta]

    def _task_grad(self, grads: Iterator[Tensor | None], first_order: bool) -> TaskGrad:
        """This recording handle's :data:`TaskGrad` from the gradients of its targets."""
        targets = self._targets()
        got = [torch.zeros_like(t) if g is None else g for t, g in ((t, next(grads)) for t in targets)]
        if not self.factored:
            return got[0].detach() if first_order else got[0]
        out_dim, in_dim = self._shared.shape
        if not got:  # the loss did not use the layer
            empty = (
                self._shared.new_zeros(self.tasks, 0, out_dim),
                self._shared.new_zeros(self.tasks, 0, in_dim),
            )
            return LowRankStep(*empty)
        u = torch.cat([g.reshape(self.tasks, -1, out_dim) for g in got], 1)
        v = torch.cat([xr for xr, _ in self._tape or []], 1)
        return LowRankStep(u.detach(), v.detach()) if first_order else LowRankStep(u, v)

    def _detached(self) -> TaskParameter:
        """The same values cut from the graph (``q[k].detach()`` in a loss)."""
        return TaskParameter._make(
            self._shared.detach(),
            tasks=self.tasks,
            factored=self.factored,
            name=self._name,
            delta=None if self._delta is None else self._delta.detach(),
            whole=self._whole,
            terms=tuple((lr, u.detach(), v.detach()) for lr, u, v in self._terms),
        )

    def descend(self, grad: TaskGrad, lr: float) -> TaskParameter:
        """One SGD step per task, ``theta_t - lr * grad_t``: a low-rank term or a dense change.

        Args:
            grad: this parameter's entry of :func:`task_grads`.
            lr: the step size.

        Raises:
            TypeError: ``grad`` is not of this parameter's form.
        """
        if self.factored:
            if not isinstance(grad, LowRankStep):
                raise TypeError(
                    f"TaskParameter {self._name!r} is factored: its gradient must be a LowRankStep"
                )
            if grad.u.shape[1] == 0:
                return self._evolve()
            return self._evolve(terms=(*self._terms, (lr, grad.u, grad.v)))
        if not isinstance(grad, Tensor):
            raise TypeError(f"TaskParameter {self._name!r} is dense: its gradient must be a (T, ...) tensor")
        if self._delta is None:
            return self._evolve(delta=grad * -lr)
        return self._evolve(delta=torch.add(self._delta, grad, alpha=-lr))

    # -- use in the networks ----------------------------------------------------------------------
    def _matmul(self, xr: Tensor) -> Tensor:
        """``(T, M, in) -> (T, M, out)``: each task's rows times its own (transposed) weight."""
        if self.factored:
            y = F.linear(xr, self._shared)
            for lr, u, v in self._terms:
                y = torch.baddbmm(y, torch.bmm(xr, v.mT), u, alpha=-lr)
            return y
        if self._delta is None:
            return F.linear(xr, self._shared)
        # (D_t x^T)^T rather than x D_t^T: the gradient of D_t, output gradients times input
        # rows, then comes out contiguous (T, out, in), which makes summing it over uses fast.
        # The output is made contiguous (a small copy) so that what follows sees the layout it
        # always sees (dropout draws its mask in memory order).
        per_task = torch.bmm(self._delta, xr.mT).mT
        return (per_task if self._whole else F.linear(xr, self._shared) + per_task).contiguous()

    def _aligned_to(self, other: Tensor) -> Tensor:
        """The per-task values shaped to broadcast against ``other`` ``(T, ..., *shape)``."""
        if self.factored:
            raise ConfigError(
                f"TaskParameter {self._name!r} is a factored weight; it can only be used through "
                "torch.nn.functional.linear. Use trainer.adaptation=batch with this network."
            )
        if self._delta is None:
            return self._shared
        lead = other.dim() - self._shared.dim()
        if lead < 1 or other.shape[0] != self.tasks:
            raise ShapeError(
                f"TaskParameter {self._name!r}: the other operand has shape {tuple(other.shape)}; expected "
                f"(T={self.tasks}, ..., {', '.join(map(str, self._shared.shape))}) with the tasks first"
            )
        delta = self._delta.reshape(self.tasks, *([1] * (lead - 1)), *self._shared.shape)
        return delta if self._whole else self._shared + delta

    @classmethod
    def __torch_function__(
        cls,
        func: Callable[..., Any],
        types: Any,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        kwargs = dict(kwargs or {})
        name = getattr(func, "__name__", "")
        if name == "__get__":  # a property: its name
            name = f".{getattr(getattr(func, '__self__', None), '__name__', '')}"
        if func is F.linear:
            return _linear(*args, **kwargs)
        if name in _ELEMENTWISE:
            other = next(
                (a for a in args if isinstance(a, Tensor) and not isinstance(a, TaskParameter)), None
            )
            if other is None:
                raise ShapeError(
                    f"TaskParameter: {name} needs a (T, ...) tensor operand to align the tasks with"
                )
            return func(
                *(a._aligned_to(other) if isinstance(a, TaskParameter) else a for a in args), **kwargs
            )
        if name == "detach":
            return args[0]._detached()
        if name in _METADATA or (name.startswith(".") and name[1:] in _METADATA_PROPERTIES):
            with torch._C.DisableTorchFunctionSubclass():
                return func(*args, **kwargs)
        handles = [a for a in args if isinstance(a, TaskParameter)]
        raise ConfigError(
            f"TaskParameter {handles[0]._name if handles else ''!r}: {name or func!r} is not supported on a "
            "per-task parameter (only torch.nn.functional.linear and elementwise mul/add/sub). Use "
            "trainer.adaptation=batch with this network."
        )


def _linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.linear`` with a per-task weight and/or bias; ``x`` is ``(T, ..., in)``."""
    if isinstance(x, TaskParameter):
        raise ConfigError(
            f"TaskParameter {x._name!r}: a per-task parameter cannot be a linear layer's input. Use "
            "trainer.adaptation=batch with this network."
        )
    handle = next(a for a in (weight, bias) if isinstance(a, TaskParameter))
    if x.dim() < 2 or x.shape[0] != handle.tasks:
        raise ShapeError(
            f"TaskParameter {handle._name!r}: the linear layer's input has shape {tuple(x.shape)}; expected "
            f"(T={handle.tasks}, ..., in) with the tasks first"
        )
    xr = x.reshape(handle.tasks, -1, x.shape[-1])
    if isinstance(weight, TaskParameter):
        if weight._tape is not None and _is_transformed(x):
            raise ConfigError(
                f"TaskParameter {weight._name!r}: a factored weight is differentiated through a use inside a "
                "torch.func transform (e.g. a gradient penalty's input gradient), which its output gradients "
                "do not capture; keep this network's weights dense (per_task(..., factored=...))"
            )
        y = weight._matmul(xr)
    else:
        y = F.linear(xr, weight)
    if bias is not None:
        y = y + (bias._aligned_to(y) if isinstance(bias, TaskParameter) else bias)
    out = y.reshape(*x.shape[:-1], y.shape[-1])
    if isinstance(weight, TaskParameter) and weight._tape is not None:
        out = _own_node(out)
        weight._tape.append((xr, out))
    return out


def _own_node(t: Tensor) -> Tensor:
    """``t``'s values as a graph node of their own, to take the gradient with respect to: the
    partial derivative at these values, not also through earlier steps that depend on them
    (second order). A new leaf when nothing before ``t`` is differentiated."""
    return t.view(t.shape) if t.requires_grad else t.detach().requires_grad_()


def per_task(params: Mapping[str, Tensor], *, tasks: int, factored: Sequence[str] = ()) -> Params:
    """Every parameter as a :class:`TaskParameter` of ``tasks`` tasks, all at the shared value.

    Args:
        params: ``{name: tensor}`` (as for :func:`torch.func.functional_call`).
        tasks: ``T``.
        factored: names of 2-d linear-layer weights to keep factored; the others are dense.

    Raises:
        ShapeError: a name in ``factored`` is not a 2-d tensor of ``params``.
    """
    wanted = set(factored)
    for k in sorted(wanted):
        if k not in params or params[k].dim() != 2:
            got = tuple(params[k].shape) if k in params else "missing"
            raise ShapeError(f"per_task: factored parameter {k!r} must be a 2-d weight of params, got {got}")
    return {k: TaskParameter._make(v, tasks=tasks, factored=k in wanted, name=k) for k, v in params.items()}


def task_grads(
    loss_fn: Callable[[Params], Tensor], params: Params, keys: Sequence[str], *, first_order: bool
) -> list[TaskGrad]:
    """Each task's gradient of its own loss, for the :class:`TaskParameter` entries ``keys``.

    ``loss_fn`` returns the mean over the ``T`` tasks of their losses, each task's loss a
    function of that task's rows only. One backward pass, seeded with ``T`` so that the result
    is of each task's own loss rather than of the mean, gives every task's gradient with respect
    to the dense values and to the outputs of the factored layers.

    Args:
        loss_fn: ``params -> scalar``, the mean over the tasks.
        params: parameters; the ``keys`` entries must be ``TaskParameter``.
        keys: which parameters to differentiate.
        first_order: treat the gradients (factors included) as constants.

    Returns:
        One :data:`TaskGrad` per key, in order.

    Raises:
        TypeError: a ``keys`` entry is not a ``TaskParameter``.
    """
    handles: list[TaskParameter] = []
    for k in keys:
        p = params[k]
        if not isinstance(p, TaskParameter):
            raise TypeError(f"task_grads: {k!r} is not a TaskParameter (wrap the parameters with per_task)")
        handles.append(p._recording())
    if not handles:
        return []
    loss = loss_fn({**params, **dict(zip(keys, handles, strict=True))})
    targets = [t for h in handles for t in h._targets()]
    grads = iter(
        torch.autograd.grad(
            loss,
            targets,
            grad_outputs=torch.full_like(loss, handles[0].tasks),
            create_graph=not first_order,
            allow_unused=True,
        )
    )
    return [h._task_grad(grads, first_order) for h in handles]
