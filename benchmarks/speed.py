"""Meta-training speed of AMAZ at the paper's shapes, against a straightforward reference episode.

What is measured, in one process, on one device:

* **modgen's trainer** (:class:`modgen.train.meta.MetaTrainer`, the ``amaz`` recipe at the
  paper's widths: G hidden 2048, AP 2048, D (1024, 512), C (512, 512), AD (1024, 512)) with
  ``adaptation="batch"`` (the default: all T tasks stacked into ``(T, n, .)`` tensors) and
  ``"task"`` (per-task adaptation under ``torch.func.vmap``); optionally ``trainer.compile``.
* **the reference episode** (:class:`ReferenceEpisode`, below): Algorithm 1 as a careful
  researcher writes it first: a Python loop over the tasks, eager PyTorch with
  ``torch.func.functional_call``, each loss with its own forward pass, first-order
  meta-gradients accumulated task by task, ``torch.optim.Adam`` with its defaults. Same networks,
  same initial weights, same sampler, same losses (:mod:`modgen.functional.losses`).

For each: median seconds per episode (the device synchronised after every episode), episodes
per second, peak memory (CUDA allocator peak; on the CPU the process's peak RSS), FLOPs per
episode (``torch.utils.flop_counter.FlopCounterMode``: matrix products only), achieved FLOP/s
and, on a known GPU, the fraction of its data-sheet peak. The ratio is the reference's median
time over ours.

Data: AWA2 (85-d attributes, 40 seen classes) and CUB (1024-d sentence embeddings, 150 seen
classes) with semi-synthetic 2048-d features made from the real ``att_splits.mat``
(:func:`modgen.data.make_semisynthetic`) when ``--xlsa17`` holds them, else synthetic class
semantics of the same shapes. Tasks: support 10-way 5-shot, query 10-way 3-shot, 10 tasks.

Also the final-classifier stage at SUN shapes (717 classes x 300 synthetic features, 2048-d):
the torch one-vs-rest SVM against scikit-learn's ``LinearSVC``: fit time, accuracy on held-out
samples and how often the two agree.

Usage:
    python benchmarks/speed.py --smoke                    # tiny shapes, AWA2 only: a smoke test in seconds
    python benchmarks/speed.py --quick --json out/speed.json   # tiny shapes, every data set and variant
    python benchmarks/speed.py --device cuda --episodes 30 --json out/speed.json
    python benchmarks/speed.py --device cpu --episodes 3 --clf-per-class 10

Example:
    >>> result = main(["--quick", "--json", "/tmp/speed.json"])  # doctest: +SKIP
    >>> result["runs"][0]["name"]  # doctest: +SKIP
    'modgen batch'
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.func import functional_call

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    DEFAULT_XLSA17,
    PeakMemory,
    add_smoke_flag,
    count_flops,
    git_commit,
    gpu_peak_tflops,
    machine_info,
    median,
    paper_shaped_data,
    resolve_device,
    sync,
    time_calls,
    today,
    write_doc_block,
    write_json,
)

from modgen.assembly import build_assembly  # noqa: E402
from modgen.config import RecipeSpec, apply_overrides  # noqa: E402
from modgen.errors import ConfigError  # noqa: E402
from modgen.functional.losses import attribute_loss, critic_loss, generator_loss  # noqa: E402
from modgen.pipeline import validate_spec  # noqa: E402
from modgen.plugins import Registries, get_registries  # noqa: E402
from modgen.recipes import tune  # noqa: E402
from modgen.train.base import RandomStreams  # noqa: E402
from modgen.train.settings import settings_of  # noqa: E402

__all__ = ["ReferenceEpisode", "build_spec", "measure", "classifier_stage", "markdown", "main"]

Params = dict[str, Tensor]

#: Network widths and task sizes of ``--quick`` (a smoke test, not a measurement), given to each
#: component that takes them (see :func:`modgen.recipes.tune`).
QUICK_SIZES: dict[str, dict[str, Any]] = {
    "generator": {"hidden": 32},
    "modulator": {"hidden": 32},
    "critic": {"hidden": [32, 16]},
    "aux_classifier": {"hidden": [32, 16]},
    "attribute_decoder": {"hidden": [32, 16]},
    "task_sampler": {"n_way": 3, "k_support": 3, "k_query": 2, "tasks": 3},
}

GROUP_LR = {"d": "beta1", "am": "beta2", "gc": "beta3"}


# ----------------------------------------------------------------------------------------------
# the reference episode


class ReferenceEpisode:
    """Algorithm 1 written the straightforward way: a Python loop over tasks, eager PyTorch.

    Per task ``i``: the modulation from the support attribute set; ``L_D`` on the support set and
    its gradient (line 10); a fresh forward of G for ``L_AD`` and its gradient (line 11); the fast
    weights ``theta_d'``, ``theta_am'`` (lines 12-13); G again at the adapted modulation for
    ``L_GC`` and ``theta_gc'`` (lines 14-15); then ``L_D``, ``L_AD`` and ``L_GC`` on the query set
    at the fast weights, whose first-order gradients (the inner gradients are constants) are
    accumulated into each group's ``.grad`` divided by ``T`` (lines 17-19). Adam steps at the
    end of the episode. It follows :class:`~modgen.train.meta.MetaTrainer`'s defaults
    (``first_order``, one inner step, ``modulator_loss = "ad"``, ``real_anchor`` as configured),
    draws its tasks and noise from the same :class:`~modgen.train.base.RandomStreams` in the same
    order and so, with one task and no dropout, computes the same meta-gradients.

    Args:
        assembly: the networks (their parameters are updated in place).
        data: the training data (tasks are drawn from it).
        spec: the recipe (its ``trainer`` and ``task_sampler`` sections; the trainer's params are
            read through its settings class, :class:`~modgen.train.settings.MetaSettings`).
        registries: where the trainer and the task sampler are looked up.
        device: where the episode runs.

    Raises:
        ConfigError: the trainer options are ones the reference does not implement
            (second-order meta-gradients, several inner steps, the modulator learning from L_GC).

    Example:
        >>> ref = ReferenceEpisode(asm, data, spec, get_registries(), torch.device("cpu"))  # doctest: +SKIP
        >>> ref.step(RandomStreams.from_seed(0, torch.device("cpu")))  # doctest: +SKIP
    """

    def __init__(
        self, assembly: Any, data: Any, spec: RecipeSpec, registries: Registries, device: torch.device
    ) -> None:
        cfg = settings_of(
            registries.trainer.get(spec.trainer.name), spec.trainer.params, name=spec.trainer.name
        )
        if not cfg.first_order or cfg.inner_steps != 1 or cfg.modulator_loss != "ad":
            raise ConfigError(
                "ReferenceEpisode implements first-order meta-gradients with one inner step and the "
                f"modulator learning from L_AD; got trainer.first_order={cfg.first_order}, "
                f"trainer.inner_steps={cfg.inner_steps}, trainer.modulator_loss={cfg.modulator_loss!r}"
            )
        self.asm = assembly
        self.cfg = cfg
        self.device = device
        sampler_cls = registries.task_sampler.get(spec.task_sampler.name)
        self.sampler = sampler_cls(data, device=device, **spec.task_sampler.params)
        self.params: Params = dict(assembly.named_parameters())
        groups = assembly.parameter_groups()
        self.keys = {g: list(ps) for g, ps in groups.items()}
        self.alphas = {"d": cfg.alpha1, "am": cfg.alpha2, "gc": cfg.alpha3}
        self.optimizers = {
            g: torch.optim.Adam(list(ps.values()), lr=getattr(cfg, GROUP_LR[g]), betas=tuple(cfg.adam_betas))
            for g, ps in groups.items()
            if ps
        }

    def _net(self, kind: str, p: Params, *args: Any) -> Any:
        prefix = kind + "."
        sub = {k[len(prefix) :]: v for k, v in p.items() if k.startswith(prefix)}
        return functional_call(getattr(self.asm, kind), sub, args)

    def _fake(self, p: Params, z: Tensor, a: Tensor, attrs: Tensor) -> Tensor:
        return self._net("generator", p, z, a, self._net("modulator", p, attrs))

    def _critic(self, p: Params) -> Any:
        return lambda x, a: self._net("critic", p, x, a)

    def _real_ad(self, p: Params, x: Tensor, a: Tensor) -> Tensor:
        if not self.cfg.real_anchor:
            return x.new_zeros(())
        return attribute_loss(a, self._net("attribute_decoder", p, x))

    def _real_cls(self, p: Params, x: Tensor, y: Tensor) -> Tensor:
        if not self.cfg.real_anchor:
            return x.new_zeros(())
        return self.cfg.cls_weight * torch.nn.functional.cross_entropy(self._net("aux_classifier", p, x), y)

    def _grads(self, loss: Tensor, p: Params, keys: list[str], retain: bool = False) -> list[Tensor]:
        grads = torch.autograd.grad(loss, [p[k] for k in keys], retain_graph=retain, allow_unused=True)
        return [torch.zeros_like(p[k]) if g is None else g for k, g in zip(keys, grads, strict=True)]

    def compute_grads(self, streams: RandomStreams) -> None:
        """One episode's meta-gradients, accumulated into each parameter's ``.grad``."""
        cfg = self.cfg
        ep = self.sampler.sample(streams.tasks)
        z_dim = self.asm.noise_dim
        gen = streams.noise

        def noise(x: Tensor) -> tuple[Tensor, Tensor]:
            t, n = x.shape[:2]
            z = torch.randn(t, n, z_dim, generator=gen, device=x.device, dtype=x.dtype) * cfg.sigma_train
            return z, torch.rand(t, n, 1, generator=gen, device=x.device, dtype=x.dtype)

        z_s, eps_s = noise(ep.support_x)
        z_q, eps_q = noise(ep.query_x)
        q_attrs = ep.query_attrs if cfg.query_modulation == "query" else ep.support_attrs
        theta = self.params
        for p in theta.values():
            p.grad = None
        tasks = ep.tasks
        for i in range(tasks):
            x, a, y, attrs = ep.support_x[i], ep.support_a[i], ep.support_y[i], ep.support_attrs[i]
            # lines 10-13
            x_fake = self._fake(theta, z_s[i], a, attrs)
            l_d = critic_loss(self._critic(theta), x, x_fake.detach(), a, cfg.gp_lambda, epsilon=eps_s[i])[0]
            fast = dict(theta)
            for k, g in zip(self.keys["d"], self._grads(l_d, theta, self.keys["d"]), strict=True):
                fast[k] = theta[k] - self.alphas["d"] * g
            x_fake = self._fake(theta, z_s[i], a, attrs)
            l_am = attribute_loss(a, self._net("attribute_decoder", theta, x_fake)) + self._real_ad(
                theta, x, a
            )
            for k, g in zip(self.keys["am"], self._grads(l_am, theta, self.keys["am"]), strict=True):
                fast[k] = theta[k] - self.alphas["am"] * g
            # lines 14-15
            x_fake = self._fake(fast, z_s[i], a, attrs)
            l_gc = generator_loss(
                self._net("critic", fast, x_fake, a),
                a,
                self._net("attribute_decoder", fast, x_fake),
                self._net("aux_classifier", fast, x_fake),
                y,
                cfg.attr_weight,
                cfg.cls_weight,
            )[0] + self._real_cls(fast, x, y)
            for k, g in zip(self.keys["gc"], self._grads(l_gc, fast, self.keys["gc"]), strict=True):
                fast[k] = fast[k] - self.alphas["gc"] * g
            # lines 17-19, first order: d fast / d theta is the identity
            xq, aq, yq = ep.query_x[i], ep.query_a[i], ep.query_y[i]
            x_fake = self._fake(fast, z_q[i], aq, q_attrs[i])
            lq_d = critic_loss(self._critic(fast), xq, x_fake.detach(), aq, cfg.gp_lambda, epsilon=eps_q[i])[
                0
            ]
            a_rec = self._net("attribute_decoder", fast, x_fake)
            lq_ad = attribute_loss(aq, a_rec) + self._real_ad(fast, xq, aq)
            lq_gc = generator_loss(
                self._net("critic", fast, x_fake, aq),
                aq,
                a_rec,
                self._net("aux_classifier", fast, x_fake),
                yq,
                cfg.attr_weight,
                cfg.cls_weight,
            )[0] + self._real_cls(fast, xq, yq)
            for group, loss in (("d", lq_d), ("am", lq_ad), ("gc", lq_gc)):
                keys = self.keys[group]
                for k, g in zip(keys, self._grads(loss / tasks, theta, keys, retain=True), strict=True):
                    theta[k].grad = g if theta[k].grad is None else theta[k].grad + g

    def step(self, streams: RandomStreams) -> None:
        """One episode: meta-gradients, then one Adam step per parameter group."""
        self.asm.train()
        self.compute_grads(streams)
        for opt in self.optimizers.values():
            opt.step()
        for p in self.params.values():
            p.grad = None


# ----------------------------------------------------------------------------------------------
# building and measuring


def build_spec(
    *,
    device: torch.device,
    adaptation: str = "batch",
    quick: bool = False,
    compile: bool = False,
    bf16: bool = False,
    overrides: list[str] | None = None,
    recipe: str = "amaz",
    registries: Registries | None = None,
) -> RecipeSpec:
    """The ``recipe`` (default ``amaz``) at the paper's widths (or ``--quick`` widths) for ``device``.

    The flags go to the trainer where it takes them (``adaptation`` is the meta trainer's), then
    ``overrides`` (``--set``); the result is validated as ``modgen train`` validates it.
    """
    regs = registries if registries is not None else get_registries(entry_points=False)
    spec = regs.recipe.get(recipe)()
    if quick:
        spec = tune(spec, regs, **QUICK_SIZES)
    spec = tune(
        spec,
        regs,
        trainer={"adaptation": adaptation, "compile": compile, "bf16": bf16},
        run={"device": str(device)},
    )
    return validate_spec(apply_overrides(spec, overrides or []), regs)


def build_networks(
    spec: RecipeSpec, registries: Registries, data: Any, device: torch.device, seed: int
) -> Any:
    """The assembly of ``spec`` for ``data``'s shapes, seeded, on ``device``."""
    return build_assembly(
        spec,
        registries,
        attr_dim=data.attr_dim,
        feature_dim=data.feature_dim,
        num_classes=len(data.seen_classes),
        device=device,
        seed=seed,
    )


def measure(
    name: str,
    step: Any,
    *,
    episodes: int,
    warmup: int,
    device: torch.device,
    flops: bool = True,
) -> dict[str, Any]:
    """Time ``step()`` (one episode) and take its peak memory and FLOPs.

    Returns:
        ``name``, ``median_s``, ``min_s``, ``times_s``, ``cpu_median_s`` (process CPU seconds),
        ``episodes_per_s``, ``peak_bytes``,
        ``peak_kind``, ``flops`` (per episode, or ``None``) and ``flops_per_s``.
    """
    with PeakMemory(device) as mem:
        t0 = time.perf_counter()
        times, cpu = time_calls(step, repeats=episodes, warmup=warmup, device=device)
        wall = time.perf_counter() - t0
    f = count_flops(step) if flops else None
    sync(device)
    med = median(times)
    return {
        "name": name,
        "median_s": med,
        "min_s": min(times),
        "times_s": times,
        "cpu_median_s": median(cpu),
        "cpu_times_s": cpu,
        "warmup": warmup,
        "wall_s_with_warmup": wall,
        "episodes_per_s": 1.0 / med if med > 0 else None,
        "peak_bytes": mem.peak_bytes,
        "peak_kind": mem.kind,
        "flops": f,
        "flops_per_s": (f / med) if f and med > 0 else None,
    }


def run_dataset(
    dataset: str,
    *,
    args: argparse.Namespace,
    device: torch.device,
    registries: Registries,
    workdir: Path,
) -> dict[str, Any]:
    """Every variant and the reference on one data set's shapes."""
    data, source = paper_shaped_data(
        dataset,
        xlsa17=args.xlsa17,
        feature_dim=args.feature_dim,
        per_class=args.per_class,
        workdir=workdir,
        seed=args.seed,
    )
    runs = []
    n_params = None
    variants = [v for v in args.variants.split(",") if v]
    for variant in variants:
        adaptation, _, extra = variant.partition("+")
        spec = build_spec(
            device=device,
            adaptation=adaptation,
            quick=args.quick,
            compile=extra == "compile",
            bf16=args.bf16,
            overrides=args.set,
            registries=registries,
        )
        asm = build_networks(spec, registries, data, device, args.seed)
        n_params = sum(p.numel() for p in asm.parameters())
        trainer = registries.trainer.get(spec.trainer.name)(
            assembly=asm, data=data, spec=spec, registries=registries, device=device
        )
        streams = RandomStreams.from_seed(args.seed, device)
        runs.append(
            measure(
                f"modgen {variant}",
                lambda trainer=trainer, streams=streams: trainer.step(streams),
                episodes=args.episodes,
                warmup=args.warmup + (1 if extra == "compile" else 0),
                device=device,
                flops=not args.no_flops and extra != "compile",
            )
        )
        del trainer, asm
    if not args.no_reference:
        spec = build_spec(
            device=device, quick=args.quick, bf16=False, overrides=args.set, registries=registries
        )
        asm = build_networks(spec, registries, data, device, args.seed)
        n_params = sum(p.numel() for p in asm.parameters())
        ref = ReferenceEpisode(asm, data, spec, registries, device)
        streams = RandomStreams.from_seed(args.seed, device)
        runs.append(
            measure(
                "reference (task loop)",
                lambda: ref.step(streams),
                episodes=args.ref_episodes or args.episodes,
                warmup=args.warmup,
                device=device,
                flops=not args.no_flops,
            )
        )
    ref_run = next((r for r in runs if r["name"].startswith("reference")), None)
    peaks = gpu_peak_tflops(torch.cuda.get_device_name(device) if device.type == "cuda" else None)
    precision = "bf16" if args.bf16 else ("tf32" if args.tf32 else "fp32")
    for r in runs:
        r["speedup_vs_reference"] = (
            ref_run["median_s"] / r["median_s"] if ref_run is not None and r["median_s"] > 0 else None
        )
        r["cpu_speedup_vs_reference"] = (
            ref_run["cpu_median_s"] / r["cpu_median_s"]
            if ref_run is not None and r["cpu_median_s"] > 0
            else None
        )
        if peaks and r["flops_per_s"]:
            r["peak_fraction"] = {k: r["flops_per_s"] / (v * 1e12) for k, v in peaks.items()}
            r["peak_fraction_in_use"] = r["peak_fraction"][precision]
    return {
        "dataset": dataset,
        "source": source,
        "attr_dim": int(data.attr_dim),
        "feature_dim": int(data.feature_dim),
        "seen_classes": int(len(data.seen_classes)),
        "task_sampler": dict(
            build_spec(device=device, quick=args.quick, registries=registries).task_sampler.params
        ),
        "parameters": n_params,
        "runs": runs,
    }


# ----------------------------------------------------------------------------------------------
# the final-classifier stage


def classifier_stage(
    *,
    classes: int,
    per_class: int,
    test_per_class: int,
    dim: int,
    device: torch.device,
    seed: int,
    max_iter: int,
    svc: bool,
    svc_max_iter: int,
    svc_per_class: int | None = None,
    tols: tuple[float | None, ...] = (None,),
) -> dict[str, Any]:
    """Torch SVM vs ``LinearSVC`` on ``classes`` x ``per_class`` synthetic ``dim``-d features.

    Class means are a fixed random map of 64-d class codes (so classes overlap, as synthetic
    features of related classes do), samples are ``relu(mean + noise)``; accuracy is on
    ``test_per_class`` held-out samples per class. ``LinearSVC`` (single-threaded liblinear) is
    slow at SUN's full size, so with ``svc_per_class`` below ``per_class`` the torch SVM is
    fitted at the full size and on the first ``svc_per_class`` features of each class, where
    ``LinearSVC`` is fitted too and the two are compared. The torch SVM runs once per stopping
    tolerance in ``tols`` (``None``: the classifier's default).

    Returns:
        ``{"runs": [{"classifier", "tol", "device", "per_class", "fit_s", "n_iter", "accuracy",
        "objective", "agreement"}, ...], ...}``; ``objective`` is the SVM primal on the run's
        training set, ``agreement`` the fraction of held-out predictions equal to LinearSVC's
        (runs on LinearSVC's training set only).
    """
    from modgen.classify import LinearSVMClassifier, SklearnLinearSVC

    rng = np.random.default_rng(seed)
    codes = rng.standard_normal((classes, 64)).astype(np.float32)
    # scaled so that a linear SVM gets most, not all, of the 717 classes right at 10 per class
    mix = rng.standard_normal((64, dim)).astype(np.float32) / 32.0
    means = codes @ mix

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.repeat(np.arange(classes), n)
        x = np.maximum(means[y] + rng.standard_normal((y.size, dim), dtype=np.float32), 0.0)
        return x, y

    X, y = draw(per_class)
    Xt, yt = draw(test_per_class)
    k = min(svc_per_class or per_class, per_class)
    sub = np.flatnonzero(np.arange(y.size) % per_class < k)
    out: dict[str, Any] = {
        "classes": classes,
        "per_class": per_class,
        "svc_per_class": k,
        "dim": dim,
        "test_samples": int(yt.size),
        "runs": [],
    }

    def objective(coef: np.ndarray, intercept: np.ndarray, rows: np.ndarray) -> float:
        # 0.5 ||W||^2 + C sum max(0, 1 - y f)^2 with C = 1, in chunks of rows
        total = 0.5 * float((coef.astype(np.float64) ** 2).sum())
        for lo in range(0, rows.size, 4096):
            r = rows[lo : lo + 4096]
            scores = X[r] @ coef.T + intercept
            sign = -np.ones_like(scores)
            sign[np.arange(r.size), y[r]] = 1.0
            total += float((np.maximum(0.0, 1.0 - sign * scores) ** 2).sum())
        return total

    preds: dict[int, np.ndarray] = {}
    for tol in tols:
        for rows in [np.arange(y.size)] + ([sub] if k < per_class else []):
            svm = LinearSVMClassifier(C=1.0, max_iter=max_iter, device=str(device))
            if tol is not None:
                svm.set_params(tol=tol)
            Xd = torch.as_tensor(X[rows], device=device)
            sync(device)
            t0 = time.perf_counter()
            svm.fit(Xd, y[rows])
            sync(device)
            fit_s = time.perf_counter() - t0
            pred = np.asarray(svm.predict(Xt))
            if rows.size == sub.size:
                preds[len(out["runs"])] = pred
            out["runs"].append(
                {
                    "classifier": "torch SVM (L-BFGS)",
                    "tol": svm.tol,
                    "device": str(device),
                    "per_class": int(rows.size // classes),
                    "fit_s": fit_s,
                    "n_iter": int(svm.n_iter_),
                    "max_iter": max_iter,
                    "accuracy": float((pred == yt).mean()),
                    "objective": objective(svm.coef_, svm.intercept_, rows),
                }
            )
    if svc:
        sk = SklearnLinearSVC(C=1.0, max_iter=svc_max_iter)
        t0 = time.perf_counter()
        sk.fit(X[sub], y[sub])
        fit_s = time.perf_counter() - t0
        pred_s = np.asarray(sk.predict(Xt))
        out["runs"].append(
            {
                "classifier": "LinearSVC (liblinear)",
                "tol": sk.tol,
                "device": "cpu",
                "per_class": k,
                "fit_s": fit_s,
                "n_iter": int(np.max(sk.estimator_.n_iter_)),
                "max_iter": svc_max_iter,
                "accuracy": float((pred_s == yt).mean()),
                "objective": objective(sk.coef_, sk.intercept_, sub),
            }
        )
        for i, pred in preds.items():
            out["runs"][i]["agreement"] = float((pred == pred_s).mean())
            out["runs"][i]["speedup_over_linearsvc"] = fit_s / max(out["runs"][i]["fit_s"], 1e-12)
    return out


# ----------------------------------------------------------------------------------------------
# output


def _fmt_bytes(b: int | None) -> str:
    return "-" if b is None else f"{b / 2**30:.2f} GiB"


def _fmt_flops(f: float | None, unit: float, suffix: str) -> str:
    return "-" if not f else f"{f / unit:.3g}{suffix}"


def markdown(result: dict[str, Any]) -> str:
    """The speed tables of ``result`` (what :func:`main` returns) as Markdown."""
    m = result["machine"]
    threads = f"{m['cpu_threads']} thread{'' if m['cpu_threads'] == 1 else 's'}"
    where = m["cuda_device"] or f"{m['cpu_model']} ({threads} of {m['cpu_cores']} cores)"
    lines = [
        f"Measured {result['date']} on {where}, torch {m['torch']}, device `{result['device']}`, "
        f"commit `{result['commit']}`, load average {', '.join(map(str, m['load_average'])) or '-'}"
        f"{' (QUICK shapes: smoke test, not a measurement)' if result['quick'] else ''}.",
        "",
    ]
    for ds in result["datasets"]:
        lines += [
            f"**{ds['dataset']}** ({ds['source']}; A={ds['attr_dim']}, D={ds['feature_dim']}, "
            f"{ds['seen_classes']} seen classes, tasks {ds['task_sampler']}, {ds['parameters'] or 0:,} parameters)",
            "",
            "| run | ms / episode (median) | episodes / s | vs reference | CPU s / episode | vs reference (CPU s) "
            "| peak memory | GFLOP / episode | achieved | of peak |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in ds["runs"]:
            frac = r.get("peak_fraction_in_use")
            ratio, cpu_ratio = r["speedup_vs_reference"], r.get("cpu_speedup_vs_reference")
            lines.append(
                f"| {r['name']} | {1000 * r['median_s']:.1f} | {r['episodes_per_s']:.3g} | "
                f"{'-' if ratio is None else f'{ratio:.2f}x'} | {r['cpu_median_s']:.2f} | "
                f"{'-' if cpu_ratio is None else f'{cpu_ratio:.2f}x'} | "
                f"{_fmt_bytes(r['peak_bytes'])} | {_fmt_flops(r['flops'], 1e9, '')} | "
                f"{_fmt_flops(r['flops_per_s'], 1e9, ' GFLOP/s')} | {'-' if frac is None else f'{100 * frac:.1f}%'} |"
            )
        lines.append("")
    clf = result.get("classifier")
    if clf:
        lines += [
            f"**Final classifier** ({clf['classes']} classes, {clf['dim']}-d synthetic features; accuracy on "
            f"{clf['test_samples']} held-out samples; objective: the SVM primal on the run's training set)",
            "",
            "| classifier | tol | device | features / class | fit s | iterations | objective | accuracy "
            "| agrees with LinearSVC | faster than LinearSVC |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in clf["runs"]:
            agree, fast = r.get("agreement"), r.get("speedup_over_linearsvc")
            lines.append(
                f"| {r['classifier']} | {r['tol']:g} | {r['device']} | {r['per_class']} | {r['fit_s']:.2f} | "
                f"{r['n_iter']} / {r['max_iter']} | {r['objective']:.1f} | {100 * r['accuracy']:.1f}% | "
                f"{'-' if agree is None else f'{100 * agree:.1f}%'} | {'-' if fast is None else f'{fast:.1f}x'} |"
            )
        lines.append("")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module doc)."""
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="tiny shapes and few episodes")
    add_smoke_flag(
        p,
        "--quick shapes, synthetic AWA2 only, the batch variant, 1 episode, no warm-up, a small "
        "classifier stage; the JSON into a temporary folder unless --json",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument(
        "--episodes", type=int, default=None, help="timed episodes per run (default 10; quick 2; smoke 1)"
    )
    p.add_argument("--ref-episodes", type=int, default=None, help="timed episodes of the reference")
    p.add_argument(
        "--warmup", type=int, default=None, help="untimed episodes first (default 2; quick 1; smoke 0)"
    )
    p.add_argument(
        "--datasets", default=None, help="comma-separated: AWA2, CUB, SUN, AWA1, APY (default AWA2,CUB)"
    )
    p.add_argument(
        "--variants", default=None, help="trainer runs: batch, task, batch+compile, ... (default batch,task)"
    )
    p.add_argument("--no-reference", action="store_true", help="skip the reference episode")
    p.add_argument("--no-flops", action="store_true", help="skip FLOP counting")
    p.add_argument("--no-classifier", action="store_true", help="skip the final-classifier stage")
    p.add_argument("--only-classifier", action="store_true", help="only the final-classifier stage")
    p.add_argument("--xlsa17", default=None, help="folder of <DS>/att_splits.mat ('' for none; smoke none)")
    p.add_argument("--feature-dim", type=int, default=None, help="feature width D (default 2048; quick 64)")
    p.add_argument("--per-class", type=int, default=None, help="semi-synthetic samples per class and split")
    p.add_argument("--bf16", action="store_true", help="trainer.bf16 (autocast) for modgen's runs")
    p.add_argument("--tf32", action="store_true", help="allow TF32 matrix products on CUDA")
    p.add_argument(
        "--set", action="append", default=[], help="recipe override, e.g. --set trainer.real_anchor=false"
    )
    p.add_argument("--clf-classes", type=int, default=None, help="classifier stage classes (default 717)")
    p.add_argument("--clf-per-class", type=int, default=None, help="features per class (default 300)")
    p.add_argument("--clf-dim", type=int, default=None, help="feature width (default 2048)")
    p.add_argument("--clf-max-iter", type=int, default=300, help="torch SVM L-BFGS iterations (default 300)")
    p.add_argument(
        "--clf-tol",
        default="default",
        help="comma-separated torch SVM tolerances, 'default' for the classifier's own (e.g. default,1e-7)",
    )
    p.add_argument("--svc-max-iter", type=int, default=2000, help="LinearSVC iterations (default 2000)")
    p.add_argument("--no-svc", action="store_true", help="skip LinearSVC in the classifier stage")
    p.add_argument(
        "--svc-per-class",
        type=int,
        default=None,
        help="compare with LinearSVC on this many features per class",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's choice, the core count)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--doc", default=None, help="also write the tables into this page (e.g. docs/benchmarks.md)"
    )
    p.add_argument("--doc-key", default=None, help="the page's marker block (default speed:<device type>)")
    p.add_argument(
        "--json", default=None, help="write the results here (default benchmarks/results/speed-<dev>.json)"
    )
    args = p.parse_args(argv)
    if args.smoke and args.doc:
        p.error("--smoke is a smoke test, not a measurement: it writes nothing into docs/; drop --doc")
    smoke = args.smoke
    args.quick = q = args.quick or smoke
    args.datasets = args.datasets or ("AWA2" if smoke else "AWA2,CUB")
    args.variants = args.variants or ("batch" if smoke else "batch,task")
    args.episodes = args.episodes or (1 if smoke else 2 if q else 10)
    args.warmup = args.warmup if args.warmup is not None else (0 if smoke else 1 if q else 2)
    args.feature_dim = args.feature_dim or (64 if q else 2048)
    args.per_class = args.per_class or (6 if q else 8)
    args.clf_classes = args.clf_classes or (6 if smoke else 20 if q else 717)
    args.clf_per_class = args.clf_per_class or (8 if smoke else 10 if q else 300)
    args.clf_dim = args.clf_dim or (32 if q else 2048)
    if smoke and args.svc_per_class is None:
        args.svc_per_class = 4
    if args.xlsa17 is None:
        args.xlsa17 = "" if smoke else str(DEFAULT_XLSA17)
    args.xlsa17 = Path(args.xlsa17) if args.xlsa17 else None
    for name in ("episodes", "warmup", "feature_dim", "per_class", "clf_classes", "clf_per_class", "clf_dim"):
        value = getattr(args, name)
        if value < (0 if name == "warmup" else 1):
            p.error(
                f"--{name.replace('_', '-')} must be {'>= 0' if name == 'warmup' else 'positive'}, got {value}"
            )
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the tables, write JSON (and Markdown beside it); return the result."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.tf32 and device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    registries = get_registries(entry_points=False)
    result: dict[str, Any] = {
        "benchmark": "speed",
        "date": today(),
        "commit": git_commit(),
        "device": str(device),
        "quick": args.quick,
        "argv": list(argv if argv is not None else sys.argv[1:]),
        "machine": machine_info(device),
        "datasets": [],
    }
    print(f"modgen speed benchmark on {device}: {result['machine']}", flush=True)
    with tempfile.TemporaryDirectory(prefix="modgen-speed-smoke-") as smoke_dir:
        if args.json:
            out = Path(args.json)
        elif args.smoke:  # a smoke test writes nothing into the repository
            out = Path(smoke_dir) / f"speed-{device.type}.json"
        else:
            out = Path(__file__).resolve().parent / "results" / f"speed-{device.type}.json"
        return _measure_and_write(args, device, registries, result, out)


def _measure_and_write(
    args: argparse.Namespace, device: torch.device, registries: Registries, result: dict[str, Any], out: Path
) -> dict[str, Any]:
    """The measurements of :func:`main`, written to ``out`` (JSON) and beside it (Markdown)."""
    with tempfile.TemporaryDirectory(prefix="modgen-speed-") as tmp:
        if not args.only_classifier:
            for ds in [d for d in args.datasets.split(",") if d]:
                print(f"... {ds}", flush=True)
                result["datasets"].append(
                    run_dataset(ds, args=args, device=device, registries=registries, workdir=Path(tmp))
                )
                write_json(out, {**result, "partial": True})  # kept if a time limit stops the rest
    if not args.no_classifier:
        print("... final classifier stage", flush=True)
        result["classifier"] = classifier_stage(
            classes=args.clf_classes,
            per_class=args.clf_per_class,
            test_per_class=max(2, args.clf_per_class // 10),
            dim=args.clf_dim,
            device=device,
            seed=args.seed,
            max_iter=args.clf_max_iter,
            svc=not args.no_svc,
            svc_max_iter=args.svc_max_iter,
            svc_per_class=args.svc_per_class,
            tols=tuple(None if t == "default" else float(t) for t in args.clf_tol.split(",") if t),
        )
    result["machine"]["load_average_after"] = machine_info(device)["load_average"]
    md = markdown(result)
    print(md)
    write_json(out, result)
    out.with_suffix(".md").write_text(md, encoding="utf-8")
    kept = " (a temporary folder: --smoke keeps nothing)" if args.smoke and not args.json else ""
    print(f"wrote {out} and {out.with_suffix('.md')}{kept}")
    if args.doc:
        key = args.doc_key or f"speed:{device.type}"
        command = "python benchmarks/speed.py " + " ".join(result["argv"])
        write_doc_block(Path(args.doc), key, f"Command: `{command.strip()}`\n\n{md}")
        print(f"wrote the tables into {args.doc} ({key})")
    return result


if __name__ == "__main__":
    main()
