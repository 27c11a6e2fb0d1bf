"""Built-in recipes (AMAZ, its baselines, the Table IV variants) and presets.

A **recipe** is a function returning a :class:`~modgen.config.RecipeSpec`: which components,
which trainer. A **preset** is a function ``(spec, registries) -> spec`` that sizes a recipe for
a data set or a machine (episode counts, network widths, learning rates); presets are
registered under ``preset`` like recipes, so plugins can add their own, and
:func:`modgen.pipeline.resolve_spec` applies the one a data set names (or ``--preset``).

Presets set component parameters through :func:`tune`, which gives a parameter to whatever
component fills the slot *if that component accepts it* — a plugin modulator with a ``hidden``
argument is sized like the built-in one; one without it keeps its own defaults.

Example:
    >>> spec = amaz()
    >>> spec.modulator.params["gate"], spec.trainer.name
    ('sigmoid', 'meta')
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from attrs import evolve, fields, frozen

from modgen.config import COMPONENT_SLOTS, ComponentSpec, RecipeSpec, spec_from_dict, spec_to_dict

if TYPE_CHECKING:
    from modgen.registry import Registries

__all__ = [
    "amaz",
    "amaz_alpha0",
    "zsml",
    "clswgan",
    "TABLE4_VARIANTS",
    "builtin_recipes",
    "builtin_presets",
    "tune",
    "accepted_params",
    "DataShapes",
    "AutoSizes",
    "auto_sizes",
    "auto_preset",
    "FILLED_IN",
    "built_params",
]

_AMAZ_MODULATION = {"base": True, "operator": "add", "gate": "sigmoid", "bias": True}

#: Sampler defaults of Section III-A: support 10-way 5-shot, query 10-way 3-shot, 10 tasks.
_SAMPLER = {"n_way": 10, "k_support": 5, "k_query": 3, "tasks": 10}


def amaz() -> RecipeSpec:
    """AMAZ as in the paper: modulated generator, Algorithm 1 meta-training, Section III-A."""
    return RecipeSpec(
        name="amaz",
        description="Attribute-modulated generative meta-learning (AMAZ)",
        paper="Sections II-B to II-E, Algorithm 1, Section III-A hyper-parameters",
        modulator=ComponentSpec("attribute", dict(_AMAZ_MODULATION)),
        task_sampler=ComponentSpec("episodic", dict(_SAMPLER)),
        trainer=ComponentSpec("meta"),
    )


def amaz_alpha0() -> RecipeSpec:
    """AMAZ without inner adaptation: ``alpha1 = alpha2 = alpha3 = 0``, so the fast-adaptation
    step is the identity and the meta-gradient is the gradient of the query losses at the
    parameters themselves (episodic training, no meta-learning). Paired with ``amaz`` it asks
    whether meta-learning helps."""
    return evolve(
        amaz(),
        name="amaz-alpha0",
        description="AMAZ with the inner-loop learning rates at 0 (no fast adaptation)",
        paper="Algorithm 1 with alpha1 = alpha2 = alpha3 = 0 (does meta-learning help?)",
        trainer=ComponentSpec("meta", {"alpha1": 0.0, "alpha2": 0.0, "alpha3": 0.0}),
    )


def zsml() -> RecipeSpec:
    """ZSML baseline: the same meta-learned GAN without modulation (paper's reference [7])."""
    return evolve(
        amaz(),
        name="zsml",
        description="Meta-learned conditional WGAN without modulation (ZSML baseline)",
        paper="Section III-B, ablation baseline ZSML [7]",
        modulator=ComponentSpec("none"),
    )


def clswgan() -> RecipeSpec:
    """Plain conditional WGAN-GP with an auxiliary classifier (f-CLSWGAN style), no meta-learning."""
    return evolve(
        amaz(),
        name="clswgan",
        description="Conditional WGAN-GP with auxiliary classifier, no meta-learning (f-CLSWGAN style)",
        paper="Related work [38] (f-CLSWGAN); non-meta baseline",
        modulator=ComponentSpec("none"),
        trainer=ComponentSpec("plain"),
    )


#: The modulator variants of Table IV (ablation on AWA2), by recipe name:
#: ``(base, operator, gate, bias)``; ``amaz`` itself is the last row (+, sigmoid, bias).
TABLE4_VARIANTS: dict[str, dict[str, Any]] = {
    "amaz-t4-w": {"base": False, "operator": "mul", "gate": "none", "bias": False},
    "amaz-t4-sigmoid": {"base": False, "operator": "mul", "gate": "sigmoid", "bias": False},
    "amaz-t4-softmax": {"base": False, "operator": "mul", "gate": "softmax", "bias": False},
    "amaz-t4-add-sigmoid": {"base": True, "operator": "add", "gate": "sigmoid", "bias": False},
    "amaz-t4-sub-sigmoid": {"base": True, "operator": "sub", "gate": "sigmoid", "bias": False},
    "amaz-t4-add-softmax": {"base": True, "operator": "add", "gate": "softmax", "bias": False},
    "amaz-t4-sub-softmax": {"base": True, "operator": "sub", "gate": "softmax", "bias": False},
}


def _table4(name: str, params: dict[str, Any]) -> Callable[[], RecipeSpec]:
    def recipe() -> RecipeSpec:
        return evolve(
            amaz(),
            name=name,
            description=(recipe.__doc__ or "").rstrip("."),
            paper="Table IV (modulator operation ablation)",
            modulator=ComponentSpec("attribute", dict(params)),
        )

    gate, base = params["gate"], params["base"]
    op = {"add": "(1 + g(w)) * o", "sub": "(1 - g(w)) * o", "mul": "g(w) * o"}[
        params["operator"] if base else "mul"
    ]
    op = op.replace("g(w)", "w" if gate == "none" else f"{gate}(w)")
    recipe.__doc__ = f"AMAZ, Table IV modulator o_hat = {op}" + (" + g(b)" if params["bias"] else "") + "."
    return recipe


def builtin_recipes() -> dict[str, Callable[[], RecipeSpec]]:
    """Every built-in recipe by name."""
    out: dict[str, Callable[[], RecipeSpec]] = {
        "amaz": amaz,
        "amaz-alpha0": amaz_alpha0,
        "zsml": zsml,
        "clswgan": clswgan,
    }
    for name, params in TABLE4_VARIANTS.items():
        out[name] = _table4(name, params)
    return out


# ----------------------------------------------------------------------------------------------
# presets


def accepted_params(registries: Registries, slot: str, name: str) -> set[str] | None:
    """The parameters the component ``name`` of ``slot`` accepts; ``None`` means any.

    A trainer's are the fields of its ``settings_class``; another component's are its
    constructor's keyword parameters (``None`` when it takes ``**kwargs``).

    Example:
        >>> from modgen.plugins import get_registries
        >>> "hidden" in accepted_params(get_registries(entry_points=False), "modulator", "attribute")
        True
    """
    registry = registries.kind(slot)
    settings = getattr(registry.get(name), "settings_class", None)
    if settings is not None:
        return {f.name for f in fields(settings)}
    return registry.accepts(name)


#: Parameters modgen sets itself when it builds a component of a slot (from the data, the other
#: components or the device): never part of a spec, never listed as accepted.
FILLED_IN: dict[str, frozenset[str]] = {
    "generator": frozenset({"attr_dim", "feature_dim"}),
    "modulator": frozenset({"attr_dim", "target_dims", "bn_cancelled_shifts"}),
    "critic": frozenset({"attr_dim", "feature_dim"}),
    "aux_classifier": frozenset({"feature_dim", "num_classes"}),
    "attribute_decoder": frozenset({"attr_dim", "feature_dim"}),
    "quality_weighter": frozenset(),
    "task_sampler": frozenset({"data", "device"}),
}


def built_params(registries: Registries, slot: str, component: ComponentSpec) -> dict[str, Any]:
    """``component``'s parameters as it is built: the given ones, then every other keyword of its
    constructor with a default that a TOML file can hold (what a run's ``config.toml`` records).

    Parameters modgen fills in (:data:`FILLED_IN`) and defaults of ``None`` are left out; so is
    everything for a factory that takes ``**kwargs`` or is not a network or sampler slot.

    Example:
        >>> from modgen.plugins import get_registries
        >>> regs = get_registries(entry_points=False)
        >>> params = built_params(regs, "generator", ComponentSpec("mlp"))
        >>> "leaky_slope" in params and "attr_dim" not in params
        True
    """
    import inspect

    from modgen.config import check_toml_value
    from modgen.errors import ConfigError

    params = dict(component.params)
    if slot not in FILLED_IN:
        return params
    try:
        signature = inspect.signature(registries.kind(slot).get(component.name))
    except (TypeError, ValueError):
        return params
    for p in signature.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            return dict(component.params)
        if (
            p.name in params
            or p.name in FILLED_IN[slot]
            or p.default is p.empty
            or p.default is None
            or p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ):
            continue
        default = list(p.default) if isinstance(p.default, tuple) else p.default
        try:
            check_toml_value(f"{slot}.params.{p.name}", default)
        except ConfigError:
            continue
        params[p.name] = default
    return params


def tune(spec: RecipeSpec, registries: Registries, **sections: Mapping[str, Any]) -> RecipeSpec:
    """``spec`` with parameters set section by section, where the component accepts them.

    For a component slot (``generator``, ``modulator``, ..., ``trainer``) each parameter is set
    only if the component in that slot accepts it (see :func:`accepted_params`); for
    ``evaluation``, ``run`` and ``data`` the fields are set as given (and validated).

    Example:
        >>> from modgen.plugins import get_registries
        >>> regs = get_registries(entry_points=False)
        >>> spec = tune(zsml(), regs, modulator={"hidden": 128}, generator={"hidden": 128})
        >>> spec.modulator.params, spec.generator.params
        ({}, {'hidden': 128})
    """
    data = spec_to_dict(spec)
    for section, values in sections.items():
        if section in COMPONENT_SLOTS:
            comp = getattr(spec, section)
            accepted = accepted_params(registries, section, comp.name)
            params = data[section]["params"]
            for key, value in values.items():
                if accepted is None or key in accepted:
                    params[key] = value
        elif section in ("evaluation", "run", "data"):
            data[section].update(values)
        else:
            raise ValueError(f"tune: unknown section {section!r}")
    return spec_from_dict(RecipeSpec, data)


def _paper_episodes(episodes: int) -> Callable[[RecipeSpec, Registries], RecipeSpec]:
    def preset(spec: RecipeSpec, registries: Registries) -> RecipeSpec:
        return tune(spec, registries, trainer={"episodes": episodes})

    preset.__doc__ = f"The paper's schedule for this data set: {episodes:,} episodes (Section III-A)."
    return preset


def _cpu_sized(
    spec: RecipeSpec,
    registries: Registries,
    *,
    width: int,
    episodes: int,
    meta_lr: float,
    task_sampler: dict[str, Any],
    run: dict[str, Any] | None = None,
) -> RecipeSpec:
    """The CPU presets' common shape: widths ``width`` and ``width/2`` (auxiliary classifier
    ``width/2`` twice), ``sigma_train = 1`` and no dropout in G (the paper's 0.1 and 0.5 left G's
    samples collapsed on the small embedded sets), meta learning rates ``beta2 = beta3 = meta_lr``."""
    half = width // 2
    return tune(
        spec,
        registries,
        trainer={"episodes": episodes, "sigma_train": 1.0, "beta2": meta_lr, "beta3": meta_lr},
        generator={"hidden": width, "dropout": 0.0},
        modulator={"hidden": width},
        critic={"hidden": [width, half]},
        aux_classifier={"hidden": [half, half]},
        attribute_decoder={"hidden": [width, half]},
        task_sampler=task_sampler,
        **({"run": run} if run else {}),
    )


def digits_preset(spec: RecipeSpec, registries: Registries) -> RecipeSpec:
    """CPU-sized networks for the embedded digits (64-d pixels, 7 seen classes, 5 of them in the
    validation view).

    600 episodes; G learns at 1e-3, no dropout in G and sigma_train 1 (the paper's 0.1 left G's
    samples collapsed on 64-d pixels); widths 128/64; 2-way tasks (support and query classes
    are disjoint, and the validation view has 5 training classes), 4 per episode.
    """
    return _cpu_sized(
        spec,
        registries,
        width=128,
        episodes=600,
        meta_lr=1e-3,
        task_sampler={"n_way": 2, "k_support": 5, "k_query": 3, "tasks": 4},
        run={"log_every": 25, "checkpoint_every": 100},
    )


def fashion_preset(spec: RecipeSpec, registries: Registries) -> RecipeSpec:
    """CPU-sized networks for Fashion-MNIST, on 128-d CNN features.

    Features: the penultimate layer of a small CNN trained on the seen classes' training images
    only (``data.options.features=cnn``, cached; ``features=pixels`` gives the 784 pixels).
    Widths 128/64 as the digits preset, the digits preset's noise and dropout settings, meta
    learning rates 1e-4, 600 episodes; 2-way tasks (the validation view has 5 training
    classes), 10 per episode. Chosen on the validation view (Dress and Shirt): at widths
    512/256 amaz failed on some seeds (nearest-mean accuracy at chance) and zsml's synthetic
    class means lay 1.7x farther from the real ones; 2,000 episodes were worse than 600
    (docs/benchmarks.md, "What was tried").
    """
    tuned = _cpu_sized(
        spec, registries, width=128, episodes=600, meta_lr=1e-4, task_sampler={"n_way": 2, "tasks": 10}
    )
    if spec.data.dataset != "fashion-mnist":
        return tuned
    return tune(tuned, registries, data={"options": {"features": "cnn", **spec.data.options}})


def small_cpu_preset(spec: RecipeSpec, registries: Registries) -> RecipeSpec:
    """CPU-sized networks for any data set (e.g. your own xlsa17-layout folder on a laptop).

    Widths 512/256 (the paper's are 2048/4096), 2,000 episodes, 5-way tasks, 4 per episode, the
    noise and dropout settings of the embedded presets; a checkpoint every 200 episodes. Sizes
    chosen for minutes on a CPU, not tuned for accuracy on any data set.
    """
    return _cpu_sized(
        spec,
        registries,
        width=512,
        episodes=2000,
        meta_lr=1e-4,
        task_sampler={"n_way": 5, "k_support": 5, "k_query": 3, "tasks": 4},
        run={"log_every": 50, "checkpoint_every": 200},
    )


def builtin_presets() -> dict[str, Callable[..., RecipeSpec]]:
    """Every built-in preset by name. A preset named after a data set's label is that data set's
    own: :func:`modgen.pipeline.resolve_spec` applies it when no other is named."""
    return {
        "AWA1": _paper_episodes(15000),
        "AWA2": _paper_episodes(15000),
        "CUB": _paper_episodes(25000),
        "SUN": _paper_episodes(25000),
        "APY": _paper_episodes(15000),
        "digits": digits_preset,
        "fashion-mnist": fashion_preset,
        "small-cpu": small_cpu_preset,
        "auto": auto_preset,
    }


# ----------------------------------------------------------------------------------------------
# sizes from the data: the ``auto`` preset


@frozen
class DataShapes:
    """What the ``auto`` preset reads of a data set (see :func:`modgen.pipeline.data_shapes`).

    Attributes:
        feature_dim: ``D``.
        attr_dim: ``A``.
        samples: training samples of the final run (``trainval``).
        seen: seen classes (the final run's training classes).
        train: training classes of the validation view (0 when the data has none).
        min_per_class: the fewest training samples of any class, over both views.
        nonnegative: every training feature is >= 0 (ReLU-pooled CNN features are).
        unit_range: every training feature lies in ``[0, 1]`` (min-max scaled).
        scalable: the data set's loader takes a ``scaling`` option.
    """

    feature_dim: int
    attr_dim: int
    samples: int
    seen: int
    train: int
    min_per_class: int
    nonnegative: bool
    unit_range: bool
    scalable: bool


@frozen
class AutoSizes:
    """The sizes :func:`auto_sizes` chose, with the one-line reason printed at resolution."""

    width: int
    episodes: int
    n_way: int
    k_support: int
    k_query: int
    tasks: int
    scaling: str | None  # set data.options.scaling to this (None: leave the data as it is)
    output_activation: str
    reason: str
    checkpoint: str = "last"  # evaluation.checkpoint: "val" where there are >= 2 validation classes
    attribute_skip: bool = True  # generator.attribute_skip (where the generator takes it)
    selection: str = "val"  # evaluation.selection: "none" with fewer than 2 validation classes
    critic_lr: float = 1e-3  # the most the critic's Adam rate (trainer.beta1) may be at this width
    modulation_task: str = "nearest_seen"  # evaluation.modulation_task, for recipes with a modulator


#: The critic's Adam rate (``trainer.beta1``) the ``auto`` preset allows at width 128; wider
#: networks get at most ``CRITIC_LR_AT_128 * 128 / width`` (docs/benchmarks.md, "Divergence at
#: width 512").
CRITIC_LR_AT_128 = 1e-3

#: The fewest validation classes on which the ``auto`` preset chooses the training length
#: (``evaluation.checkpoint=val``). With 2 (the embedded data sets' splits) the criterion swings
#: between chance and 97% from one checkpoint to the next on the validation view
#: (docs/benchmarks.md, "Fitting and transfer, probed on the validation view"), so the first best
#: is often an early, unfitted checkpoint; 5 is a judgement (aPY's xlsa17 split has 5, the others
#: 13-65), not a measured threshold.
MIN_VAL_CLASSES_FOR_CHECKPOINT = 5


def auto_sizes(shapes: DataShapes) -> AutoSizes:
    """Sizes for a data set from its shapes (the ``auto`` preset's rule).

    * **Tasks**: support and query classes are disjoint, so ``n_way`` is half the classes of
      the smaller training view (the validation view's ``train`` classes, else the seen ones),
      at most the paper's 10; ``k_support``/``k_query`` the paper's 5/3, at most the fewest
      samples of a class; 10 tasks an episode from 20 classes on, else 4.
    * **Widths** (G, AM, D, AD; C half): CPU sizes by the number of training samples — 128
      below 5,000, 256 below 20,000, else 512 (the paper's 2048/4096 are GPU sizes: name
      no preset on a GPU to keep the recipe's own).
    * **Episodes**: 600 below 5,000 samples, 1,200 below 20,000, else 2,000; a checkpoint every
      tenth of them. With at least :data:`MIN_VAL_CLASSES_FOR_CHECKPOINT` validation classes the
      evaluated checkpoint is chosen on them (``evaluation.checkpoint=val``: the selection model is scored at every checkpoint
      and the final model trains the best episode's count), so these counts are an upper bound.
    * **The synthesis task of a modulated recipe** (``evaluation.modulation_task=nearest_seen``,
      where the recipe has a modulator): a class is modulated by the task of its nearest seen
      classes, the generator's input still carrying its own attribute. On the ImageNet-feature
      digits' validation view amaz's cosine nearest-mean accuracy on the val classes rose by
      +9.3 [+0.0, +18.6] points and its ZSL top-1 by +9.5 [+1.5, +17.5] (10 seeds; own task: 6
      of 10 seeds at chance, nearest: 3); docs/benchmarks.md, "Real pretrained-CNN features".
    * **The critic's learning rate** (``trainer.beta1``) at most ``1e-3 * 128 / width``
      (:data:`CRITIC_LR_AT_128`): 1e-3 at 128 (the digits preset's), 2.5e-4 at 512. At width 512
      the meta trainer's critic at 1e-3 diverged on 2 of the first 3 seeds of ImageNet-feature
      fashion-mnist (its gradient penalty exploded first); a trainer whose critic rate is
      already lower (``plain``: 1e-4) keeps it.
    * **A linear attribute path in G** (``generator.attribute_skip=true``, where the generator
      takes it): on the ImageNet-feature digits' validation view it lifted clswgan's cosine
      nearest-mean accuracy on the val classes by +35.7 [+13.4, +58.1] points and zsml's ZSL
      top-1 by +30.7 [+8.2, +53.2] (5 seeds each); amaz's was inconclusive (-6.4 [-24.3, +11.6]);
      docs/benchmarks.md, "Real pretrained-CNN features".
    * **Features and G's output**: non-negative features (a pretrained CNN's ReLU-pooled
      features) are min-max scaled to ``[0, 1]`` on ``trainval`` where the loader can, and G ends
      in a sigmoid, as f-CLSWGAN/tf-VAEGAN preprocess; on features already in ``[0, 1]`` the
      sigmoid alone. The field's convention, not a measured gain: on the ImageNet-feature digits'
      validation view, sigmoid against linear output was inconclusive (+5.4 [-40.2, +51.0] points
      of unseen nearest-mean accuracy, 5 seeds; docs/benchmarks.md, "Real pretrained-CNN features").

    Example:
        >>> s = auto_sizes(DataShapes(feature_dim=1280, attr_dim=18, samples=1150, seen=7, train=5,
        ...                           min_per_class=100, nonnegative=True, unit_range=False,
        ...                           scalable=True))
        >>> s.n_way, s.width, s.episodes, s.scaling, s.output_activation
        (2, 128, 600, 'minmax', 'sigmoid')
    """
    classes = min(shapes.seen, shapes.train) if shapes.train else shapes.seen
    n_way = max(1, min(10, classes // 2))
    k_support = max(1, min(5, shapes.min_per_class))
    k_query = max(1, min(3, shapes.min_per_class))
    tasks = 10 if classes >= 20 else 4
    if shapes.samples < 5000:
        width, episodes = 128, 600
    elif shapes.samples < 20000:
        width, episodes = 256, 1200
    else:
        width, episodes = 512, 2000
    if shapes.unit_range:
        scaling, activation, why = None, "sigmoid", "features in [0, 1]: G ends in a sigmoid"
    elif shapes.nonnegative and shapes.scalable:
        scaling, activation = "minmax", "sigmoid"
        why = "non-negative features: min-max scaled to [0, 1] on trainval, G ends in a sigmoid"
    elif shapes.nonnegative:
        scaling, activation, why = None, "relu", "non-negative features: G ends in a ReLU"
    else:
        scaling, activation, why = None, "none", "signed features: G's output stays linear"
    val = shapes.seen - shapes.train if shapes.train else 0
    checkpoint = "val" if val >= MIN_VAL_CLASSES_FOR_CHECKPOINT else "last"
    length = (
        f"at most {episodes} episodes, the checkpoint chosen on the {val} val classes"
        if checkpoint == "val"
        else f"{episodes} episodes"
    )
    selection = "val" if val >= 2 else "none"
    if selection == "none":
        why += f"; the classifiers keep their default settings ({val} val classes: too few to choose on)"
    reason = (
        f"auto preset: {n_way}-way tasks ({classes} classes in the smaller training view), "
        f"{k_support}/{k_query} shots, {tasks} tasks an episode; widths {width}/{width // 2} and "
        f"{length} for {shapes.samples:,} training samples of {shapes.feature_dim}-d "
        f"features; {why}; a linear attribute path in G; the critic's learning rate at most "
        f"{CRITIC_LR_AT_128 * 128 / width:g}; a modulator (if any) gets the nearest seen classes' "
        "task at synthesis"
    )
    return AutoSizes(
        width,
        episodes,
        n_way,
        k_support,
        k_query,
        tasks,
        scaling,
        activation,
        reason,
        checkpoint,
        True,
        selection,
        CRITIC_LR_AT_128 * 128 / width,
    )


def _trainer_setting(spec: RecipeSpec, registries: Registries, name: str) -> Any:
    """The value ``spec``'s trainer would use for ``name`` (its own default where unset), or
    ``None`` when the trainer has no such setting."""
    from modgen.train.settings import settings_of

    trainer = registries.trainer.get(spec.trainer.name)
    settings = settings_of(trainer, spec.trainer.params, name=spec.trainer.name)
    return settings.get(name) if isinstance(settings, dict) else getattr(settings, name, None)


def auto_preset(spec: RecipeSpec, registries: Registries, *, shapes: DataShapes) -> RecipeSpec:
    """Sizes from the data (:func:`auto_sizes`): what a data set without a preset of its own gets.

    Logs one line saying what it chose and why (``modgen train`` prints it).
    """
    sizes = auto_sizes(shapes)
    logging.getLogger("modgen").info(sizes.reason)
    tuned = _cpu_sized(
        spec,
        registries,
        width=sizes.width,
        episodes=sizes.episodes,
        meta_lr=1e-3,
        task_sampler={
            "n_way": sizes.n_way,
            "k_support": sizes.k_support,
            "k_query": sizes.k_query,
            "tasks": sizes.tasks,
        },
        run={"log_every": max(1, sizes.episodes // 24), "checkpoint_every": sizes.episodes // 10},
    )
    tuned = tune(
        tuned,
        registries,
        generator={"output_activation": sizes.output_activation, "attribute_skip": sizes.attribute_skip},
    )
    critic_lr = _trainer_setting(tuned, registries, "beta1")
    if critic_lr is not None and critic_lr > sizes.critic_lr:
        tuned = tune(tuned, registries, trainer={"beta1": sizes.critic_lr})
    evaluation = evolve(tuned.evaluation, checkpoint=sizes.checkpoint)
    if tuned.modulator.name != "none" and not evaluation.context_tasks:
        evaluation = evolve(evaluation, modulation_task=sizes.modulation_task)
    if sizes.selection == "none" and evaluation.selection == "val":
        evaluation = evolve(evaluation, selection="none")
    tuned = evolve(tuned, evaluation=evaluation)
    if sizes.scaling is not None:
        tuned = tune(tuned, registries, data={"options": {**spec.data.options, "scaling": sizes.scaling}})
    return tuned
