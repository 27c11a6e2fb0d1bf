"""An :class:`Assembly`: the networks of a recipe built for the data's shapes.

:func:`build_assembly` looks up each component of a :class:`~modgen.config.RecipeSpec` in the
registries and builds it with the data's dimensions plus the recipe's parameters:

* generator: ``cls(attr_dim=A, feature_dim=D, noise_dim=Z, **params)``
* modulator: ``cls(attr_dim=A, target_dims=generator.modulated_dims, **params)``, plus
  ``bn_cancelled_shifts=generator.bn_cancelled_shifts`` when the modulator takes it
* critic: ``cls(feature_dim=D, attr_dim=A, **params)``
* aux_classifier: ``cls(feature_dim=D, num_classes=C, **params)``
* attribute_decoder: ``cls(feature_dim=D, attr_dim=A, **params)``
* quality_weighter: ``cls(**params)``

The parameters fall into the paper's three groups (Eq. 8, Algorithm 1): ``theta_d`` (critic),
``theta_am`` (modulator AP + AMs, attribute decoder) and ``theta_gc`` (generator, auxiliary
classifier); :meth:`Assembly.parameter_groups` returns them keyed like ``named_parameters()``.

Example:
    >>> from modgen.plugins import get_registries
    >>> from modgen.recipes import amaz
    >>> asm = build_assembly(amaz(), get_registries(entry_points=False), device="meta", **AWA2_SHAPES)
    >>> asm.noise_dim, sorted(asm.parameter_groups())
    (85, ['am', 'd', 'gc'])
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from modgen.errors import ConfigError, DataError, ShapeError

if TYPE_CHECKING:
    from modgen.config import RecipeSpec
    from modgen.interfaces import Modulation
    from modgen.registry import Registries

__all__ = [
    "Assembly",
    "build_assembly",
    "group_of",
    "AWA2_SHAPES",
    "NETWORK_KINDS",
    "ASSEMBLY_KINDS",
    "PARAMETER_GROUPS",
]

#: The data shapes of AWA2 (85-d attributes, 2048-d ResNet-101 features, 40 seen classes).
AWA2_SHAPES: dict[str, int] = {"attr_dim": 85, "feature_dim": 2048, "num_classes": 40}

#: The network kinds of an assembly, in build order (also its submodule names).
NETWORK_KINDS: tuple[str, ...] = ("generator", "modulator", "critic", "aux_classifier", "attribute_decoder")

#: Every component kind an assembly holds: its networks and the quality weighter.
ASSEMBLY_KINDS: tuple[str, ...] = (*NETWORK_KINDS, "quality_weighter")

#: The paper's parameter groups: ``d`` = theta_d, ``am`` = theta_am, ``gc`` = theta_gc.
PARAMETER_GROUPS: dict[str, tuple[str, ...]] = {
    "d": ("critic",),
    "am": ("modulator", "attribute_decoder"),
    "gc": ("generator", "aux_classifier"),
}

_GROUP_LABEL = {
    "critic": "d",
    "modulator": "am",
    "attribute_decoder": "am",
    "generator": "gc",
    "aux_classifier": "gc",
}


def group_of(kind: str) -> str:
    """The parameter group (``d``, ``am``, ``gc``) of a network kind; ``""`` for others.

    Example:
        >>> group_of("modulator")
        'am'
    """
    return _GROUP_LABEL.get(kind, "")


class Assembly(nn.Module):
    """The networks of one run: G, the modulator, D, C and AD, plus the quality weighter.

    Build it with :func:`build_assembly`. The submodules are named after their kinds
    (``generator``, ``modulator``, ``critic``, ``aux_classifier``, ``attribute_decoder``), so
    parameter names read ``generator.fdl.fc.weight``.

    Args:
        generator, modulator, critic, aux_classifier, attribute_decoder: the networks.
        quality_weighter: the :class:`~modgen.interfaces.QualityWeighter` (not a module).
        attr_dim, feature_dim, noise_dim, num_classes: ``A``, ``D``, ``Z``, ``C``.
        names: registered name of each component by kind.
        params: the parameters each component was built with, by kind.
        recipe: the recipe's name.

    Example:
        >>> from modgen.nn import (MLPGenerator, NoModulator, MLPCritic, MLPAuxClassifier,
        ...     MLPAttributeDecoder, UniformQualityWeighter)
        >>> g = MLPGenerator(3, 5, 3, hidden=8)
        >>> asm = Assembly(generator=g, modulator=NoModulator(3, g.modulated_dims),
        ...     critic=MLPCritic(5, 3, hidden=(8, 8)), aux_classifier=MLPAuxClassifier(5, 2, hidden=(8, 8)),
        ...     attribute_decoder=MLPAttributeDecoder(5, 3, hidden=(8, 8)),
        ...     quality_weighter=UniformQualityWeighter(), attr_dim=3, feature_dim=5, noise_dim=3,
        ...     num_classes=2)
        >>> asm.generator(torch.randn(4, 3), torch.randn(4, 3), asm.modulation(torch.randn(2, 3))).shape
        torch.Size([4, 5])
    """

    def __init__(
        self,
        *,
        generator: nn.Module,
        modulator: nn.Module,
        critic: nn.Module,
        aux_classifier: nn.Module,
        attribute_decoder: nn.Module,
        quality_weighter: Any,
        attr_dim: int,
        feature_dim: int,
        noise_dim: int,
        num_classes: int,
        names: Mapping[str, str] | None = None,
        params: Mapping[str, Mapping[str, Any]] | None = None,
        recipe: str = "",
    ) -> None:
        super().__init__()
        self.generator = generator
        self.modulator = modulator
        self.critic = critic
        self.aux_classifier = aux_classifier
        self.attribute_decoder = attribute_decoder
        self.quality_weighter = quality_weighter
        self.attr_dim, self.feature_dim = attr_dim, feature_dim
        self.noise_dim, self.num_classes = noise_dim, num_classes
        self.names: dict[str, str] = dict(names or {})
        self.params: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (params or {}).items()}
        self.recipe = recipe

    # -- running ----------------------------------------------------------------------------------
    def modulation(self, task_attributes: Tensor) -> Modulation | None:
        """The modulator's output for task attribute sets ``(..., N, A)`` (``None``: unmodulated)."""
        return self.modulator(task_attributes)

    def networks(self) -> dict[str, nn.Module]:
        """The five networks by kind."""
        return {k: getattr(self, k) for k in NETWORK_KINDS}

    # -- parameters -------------------------------------------------------------------------------
    def parameter_groups(self) -> dict[str, dict[str, nn.Parameter]]:
        """The paper's parameter groups as ``{group: {name: Parameter}}``.

        ``d``: the critic (theta_d); ``am``: modulator and attribute decoder (theta_am);
        ``gc``: generator and auxiliary classifier (theta_gc). Names are those of
        ``named_parameters()``, so the dicts plug into ``torch.func.functional_call``.
        """
        out: dict[str, dict[str, nn.Parameter]] = {g: {} for g in PARAMETER_GROUPS}
        for name, p in self.named_parameters():
            kind = name.split(".", 1)[0]
            out[_GROUP_LABEL[kind]][name] = p
        return out

    def parameter_counts(self) -> dict[str, int]:
        """Number of parameters of each network kind (the five kinds, in build order)."""
        return {k: sum(p.numel() for p in getattr(self, k).parameters()) for k in NETWORK_KINDS}

    # -- checking ---------------------------------------------------------------------------------
    def smoke_check(self, origins: Mapping[str, str] | None = None) -> None:
        """One forward pass of every component on 2 tasks of 3 samples, checking output shapes.

        Run once after building (where data enters), so a component that breaks its contract
        fails before training with one line naming it, not deep inside the first episode.

        Args:
            origins: ``{kind: plugin}`` for the message (``builtin`` or a plugin's name).

        Raises:
            PluginError: a component raised or returned the wrong shape; the message names the
                kind, the component, its origin and what was expected.
        """
        from modgen.errors import PluginError

        dev = next((p.device for p in self.parameters()), torch.device("cpu"))
        if dev.type == "meta":
            return
        gen = torch.Generator().manual_seed(0)
        A, D, Z, C = self.attr_dim, self.feature_dim, self.noise_dim, self.num_classes
        z, a = torch.randn(2, 3, Z, generator=gen).to(dev), torch.rand(2, 3, A, generator=gen).to(dev)
        x = torch.randn(2, 3, D, generator=gen).to(dev)
        checks: list[tuple[str, Any, tuple[int, ...]]] = [
            ("generator", lambda: self.generator(z, a, self.modulator(a)), (2, 3, D)),
            ("critic", lambda: self.critic(x, a), (2, 3)),
            ("aux_classifier", lambda: self.aux_classifier(x), (2, 3, C)),
            ("attribute_decoder", lambda: self.attribute_decoder(x), (2, 3, A)),
            ("quality_weighter", lambda: self.quality_weighter.sample_weights(a, a), (2, 3)),
        ]
        modes = [(m, m.training) for m in self.modules()]
        self.eval()
        try:
            with torch.no_grad():
                for kind, call, shape in checks:
                    who = (
                        f"{kind} {self.names.get(kind, '?')!r} (from {(origins or {}).get(kind, 'builtin')})"
                    )
                    if kind == "generator":
                        who += f" with modulator {self.names.get('modulator', '?')!r}"
                    try:
                        out = call()
                    except Exception as err:  # noqa: BLE001 - report any failure of a component as one line
                        first = str(err).splitlines()[0] if str(err) else ""
                        raise PluginError(
                            f"{who} failed a forward pass: {type(err).__name__}: {first[:300]}"
                        ) from err
                    got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                    if got != shape:
                        raise PluginError(
                            f"{who} returned {got} for inputs of 2 tasks x 3 samples, expected a tensor {shape}"
                        )
        finally:
            for m, mode in modes:
                m.train(mode)

    def check_inputs(
        self,
        *,
        features: Tensor | None = None,
        attributes: Tensor | None = None,
        labels: Tensor | None = None,
        noise: Tensor | None = None,
        task_attributes: Tensor | None = None,
    ) -> None:
        """Check data against the assembly's dims; call it where data enters (once, not per step).

        Args:
            features: ``(..., n, D)`` real features.
            attributes: ``(..., n, A)`` per-sample attributes (same ``(..., n)`` as features).
            labels: ``(..., n)`` integer labels in ``[0, C)`` (checking values syncs a GPU).
            noise: ``(..., n, Z)``.
            task_attributes: ``(..., N, A)``.

        Raises:
            ShapeError: a width differs from the assembly's (the message gives both), leading
                dims disagree, or labels are not integers.
            DataError: a label is outside ``[0, C)``.
        """
        for name, t, dim, letter in (
            ("features", features, self.feature_dim, "D"),
            ("attributes", attributes, self.attr_dim, "A"),
            ("noise", noise, self.noise_dim, "Z"),
            ("task_attributes", task_attributes, self.attr_dim, "A"),
        ):
            if t is not None and (t.dim() < 1 or t.shape[-1] != dim):
                raise ShapeError(
                    f"{name} have shape {tuple(t.shape)}, but the assembly was built for {letter}={dim} "
                    f"(expected (..., {dim})); rebuild the assembly for this data or fix the data"
                )
        if features is not None and attributes is not None and features.shape[:-1] != attributes.shape[:-1]:
            raise ShapeError(
                f"features have shape {tuple(features.shape)} but attributes {tuple(attributes.shape)}; "
                "expected one attribute vector per feature (the same leading dims)"
            )
        if labels is None:
            return
        if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
            raise ShapeError(f"labels must be integer class indices, got dtype {labels.dtype}")
        if features is not None and labels.shape != features.shape[:-1]:
            raise ShapeError(
                f"labels have shape {tuple(labels.shape)} but features {tuple(features.shape)}; "
                "expected one label per feature"
            )
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise DataError(
                f"labels range over [{int(labels.min())}, {int(labels.max())}], but the assembly's "
                f"auxiliary classifier has num_classes={self.num_classes} (expected labels in "
                f"[0, {self.num_classes})); map labels to training-class indices"
            )

    def extra_repr(self) -> str:
        return (
            f"recipe={self.recipe!r}, attr_dim={self.attr_dim}, feature_dim={self.feature_dim}, "
            f"noise_dim={self.noise_dim}, num_classes={self.num_classes}, "
            f"quality_weighter={self.quality_weighter!r}"
        )


def _positive_dim(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"build_assembly: {name} must be a positive integer, got {value!r}")
    return value


def _noise_dim(spec: RecipeSpec) -> int:
    value = spec.generator.params.get("noise_dim", 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(
            f"generator.noise_dim: expected an integer >= 0 (0: the attribute dimension), got {value!r}"
        )
    return value


def _component_seed(seed: int, kind: str) -> int:
    """The initialisation seed of one network: the run's init seed and the network's kind."""
    digest = hashlib.blake2b(f"{seed}:{kind}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def build_assembly(
    spec: RecipeSpec,
    registries: Registries,
    *,
    attr_dim: int,
    feature_dim: int,
    num_classes: int,
    noise_dim: int | None = None,
    device: torch.device | str | None = None,
    seed: int | None = None,
) -> Assembly:
    """Build the networks of ``spec`` for data of the given shapes.

    Args:
        spec: the recipe (its ``generator``, ``modulator``, ``critic``, ``aux_classifier``,
            ``attribute_decoder`` and ``quality_weighter`` components).
        registries: where the component names are looked up.
        attr_dim: attribute dimension ``A``.
        feature_dim: feature dimension ``D``.
        num_classes: training classes ``C`` (the auxiliary classifier's width).
        noise_dim: ``Z``; ``None`` takes ``spec.trainer.noise_dim``, or ``A`` when that is 0.
        device: where the parameters live; ``"meta"`` builds shapes only (for counting
            parameters instantly). Parameters are initialised on the CPU and moved, so a seed
            gives the same weights on every device.
        seed: seeds the initialisation without touching the global RNG; ``None`` draws from
            torch's default generator, as ``nn.Module`` constructors do.

    Returns:
        The :class:`Assembly`.

    Raises:
        UnknownComponentError: a component name is not registered (the message lists the names).
        ConfigError: a dimension is not a positive integer, or a component's parameter is
            unknown or invalid (the message names the kind, the component and the parameter).

    Example:
        >>> from modgen.plugins import get_registries
        >>> from modgen.recipes import zsml
        >>> asm = build_assembly(zsml(), get_registries(entry_points=False), attr_dim=4,
        ...     feature_dim=6, num_classes=3, device="meta")
        >>> asm.parameter_counts()["modulator"]
        0
    """
    dims = {
        "attr_dim": _positive_dim("attr_dim", attr_dim),
        "feature_dim": _positive_dim("feature_dim", feature_dim),
        "num_classes": _positive_dim("num_classes", num_classes),
    }
    if noise_dim is None:
        noise_dim = _noise_dim(spec) or attr_dim
    z = _positive_dim("noise_dim", noise_dim)
    a, d, c = dims["attr_dim"], dims["feature_dim"], dims["num_classes"]
    target = torch.device(device) if device is not None else None
    meta = target is not None and target.type == "meta"
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigError(f"build_assembly: seed must be a non-negative integer or None, got {seed!r}")

    with contextlib.ExitStack() as stack:
        if meta:
            stack.enter_context(torch.device("meta"))
        elif seed is not None:
            stack.enter_context(torch.random.fork_rng(devices=[]))
        comps = spec.components()
        built: dict[str, Any] = {}

        def make(kind: str, kind_dims: dict[str, Any]) -> Any:
            cs = comps[kind]
            params = {k: v for k, v in cs.params.items() if not (kind == "generator" and k == "noise_dim")}
            if seed is not None:  # one stream per network: a recipe's other networks do not shift it
                torch.manual_seed(_component_seed(seed, kind))
            built[kind] = registries.kind(kind).build(cs.name, params, fixed=kind_dims)
            return built[kind]

        generator = make("generator", {"attr_dim": a, "feature_dim": d, "noise_dim": z})
        target_dims = getattr(generator, "modulated_dims", None)
        if target_dims is None:
            raise ConfigError(
                f"generator {comps['generator'].name!r}: the generator has no modulated_dims attribute; "
                "a Generator must list the widths of its modulated outputs"
            )
        modulator_dims: dict[str, Any] = {"attr_dim": a, "target_dims": list(target_dims)}
        accepted = registries.modulator.accepts(comps["modulator"].name)
        if accepted is not None and "bn_cancelled_shifts" in accepted:
            # the generator says which modulated outputs a per-task BatchNorm follows
            modulator_dims["bn_cancelled_shifts"] = list(getattr(generator, "bn_cancelled_shifts", []))
        make("modulator", modulator_dims)
        make("critic", {"feature_dim": d, "attr_dim": a})
        make("aux_classifier", {"feature_dim": d, "num_classes": c})
        make("attribute_decoder", {"feature_dim": d, "attr_dim": a})
        make("quality_weighter", {})
    for kind in NETWORK_KINDS:
        if not isinstance(built[kind], nn.Module):
            raise ConfigError(
                f"{kind} {comps[kind].name!r}: built a {type(built[kind]).__name__}, expected a torch.nn.Module"
            )
    assembly = Assembly(
        **{k: built[k] for k in ASSEMBLY_KINDS},
        attr_dim=a,
        feature_dim=d,
        noise_dim=z,
        num_classes=c,
        names={k: comps[k].name for k in ASSEMBLY_KINDS},
        params={k: comps[k].params for k in ASSEMBLY_KINDS},
        recipe=spec.name,
    )
    if target is not None and not meta:
        assembly.to(target)
    return assembly
