"""Built-in recipes: AMAZ, its baselines and the Table IV modulator variants.

A recipe is a function returning a :class:`~modgen.config.RecipeSpec`. Data-set presets
(:data:`DATASET_PRESETS`) adapt a recipe to a data set (the paper's episode counts, network
widths small enough for the embedded data sets).

Example:
    >>> spec = amaz()
    >>> spec.modulator.params["gate"], spec.trainer.alpha1, spec.trainer.beta2
    ('sigmoid', 0.001, 1e-05)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from attrs import evolve

from modgen.config import ComponentSpec, EvalConfig, RecipeSpec, TrainConfig, apply_overrides

__all__ = [
    "amaz",
    "zsml",
    "clswgan",
    "TABLE4_VARIANTS",
    "DATASET_PRESETS",
    "PRESET_TARGETS",
    "with_dataset_preset",
    "builtin_recipes",
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
        trainer=TrainConfig(name="meta"),
        evaluation=EvalConfig(),
    )


def zsml() -> RecipeSpec:
    """ZSML baseline: the same meta-learned GAN without modulation (paper's reference [7])."""
    return evolve(
        amaz(),
        name="zsml",
        description="Meta-learned conditional WGAN without modulation (ZSML baseline)",
        paper="Section III-B, ablation baseline ZSML [7]",
        modulator=ComponentSpec("none"),
        quality_weighter=ComponentSpec("cosine"),
    )


def clswgan() -> RecipeSpec:
    """Plain conditional WGAN-GP with an auxiliary classifier (f-CLSWGAN style), no meta-learning."""
    return evolve(
        amaz(),
        name="clswgan",
        description="Conditional WGAN-GP with auxiliary classifier, no meta-learning (f-CLSWGAN style)",
        paper="Related work [38] (f-CLSWGAN); non-meta baseline",
        modulator=ComponentSpec("none"),
        trainer=TrainConfig(name="plain", beta1=1e-4, beta2=1e-4, beta3=1e-4),
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


#: Overrides applied per data set (``--dataset``). The paper's episode counts for
#: AWA1/AWA2 (15,000) and CUB/SUN (25,000); CPU-sized networks for the embedded data sets.
DATASET_PRESETS: dict[str, list[str]] = {
    "AWA1": ["trainer.episodes=15000"],
    "AWA2": ["trainer.episodes=15000"],
    "CUB": ["trainer.episodes=25000"],
    "SUN": ["trainer.episodes=25000"],
    "APY": ["trainer.episodes=15000"],
    # digits: tuned on this CPU in a few minutes (see docs/recipes.md): G learns at 1e-3, no
    # dropout in G, and sigma_train = 1 (the paper's 0.1 left G's samples collapsed on 64-d pixels).
    "digits": [
        "trainer.episodes=600",
        "trainer.sigma_train=1.0",
        "generator.dropout=0.0",
        "trainer.log_every=25",
        "trainer.checkpoint_every=0",
        "generator.hidden=128",
        "modulator.hidden=128",
        "critic.hidden=(128, 64)",
        "aux_classifier.hidden=(64, 64)",
        "attribute_decoder.hidden=(128, 64)",
        "task_sampler.n_way=3",
        "task_sampler.k_support=5",
        "task_sampler.k_query=3",
        "task_sampler.tasks=4",
        "trainer.beta2=1e-3",
        "trainer.beta3=1e-3",
        "evaluation.classifier_params.softmax.epochs=20",
    ],
    # fashion-mnist: the digits preset's noise and dropout settings, meta learning rates 1e-4 (1e-3
    # diverged at these widths: loss/ad became inf by episode 278); not tuned further.
    "fashion-mnist": [
        "trainer.episodes=600",
        "trainer.sigma_train=1.0",
        "generator.dropout=0.0",
        "generator.hidden=512",
        "modulator.hidden=512",
        "critic.hidden=(512, 256)",
        "aux_classifier.hidden=(256, 256)",
        "attribute_decoder.hidden=(512, 256)",
        "task_sampler.n_way=3",
        "task_sampler.tasks=10",
        "trainer.beta2=1e-4",
        "trainer.beta3=1e-4",
    ],
}


#: The built-in component each preset key targets; a preset's component parameters are
#: applied only when the recipe uses that component (a plugin's modulator keeps its own).
PRESET_TARGETS: dict[str, str] = {
    "generator": "mlp",
    "modulator": "attribute",
    "critic": "mlp",
    "aux_classifier": "mlp",
    "attribute_decoder": "mlp",
    "task_sampler": "episodic",
}


def with_dataset_preset(spec: RecipeSpec, dataset: str) -> RecipeSpec:
    """``spec`` with the preset of ``dataset`` applied (unchanged if there is none).

    Component parameters of the preset apply only to the built-in component they were tuned
    for (:data:`PRESET_TARGETS`): ``modulator.hidden`` leaves ``zsml``'s ``none`` modulator alone.
    """
    overrides = []
    for item in DATASET_PRESETS.get(dataset, []):
        head = item.split(".", 1)[0]
        if head in PRESET_TARGETS and getattr(spec, head).name != PRESET_TARGETS[head]:
            continue
        overrides.append(item.replace("(", "[").replace(")", "]"))
    return apply_overrides(spec, overrides)


def builtin_recipes() -> dict[str, Callable[[], RecipeSpec]]:
    """Every built-in recipe by name."""
    out: dict[str, Callable[[], RecipeSpec]] = {"amaz": amaz, "zsml": zsml, "clswgan": clswgan}
    for name, params in TABLE4_VARIANTS.items():
        out[name] = _table4(name, params)
    return out
