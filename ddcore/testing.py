"""Helpers for testing plugins: register plugin objects in-process, run a tiny pipeline, and run a
modifier inside a tiny optimising synthesizer to see what it weighted.

Typical use in a plugin's tests::

    from ddcore import testing
    import dd_myplugin

    def test_my_stage(tmp_path):
        with testing.use_plugins(dd_myplugin):
            result = testing.run_tiny(["my_stage"], tmp_path, ipc=2)
        testing.assert_artifact(result, ipc=2, num_classes=10)
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from .components import MatchingTerms, PixelGradients, Synthesizer
from .plugins import PluginManager, get_plugin_manager, using

if TYPE_CHECKING:  # pragma: no cover
    from .artifact import DistilledSet


def make_plugin_manager(*plugins: Any, entry_points: bool = False) -> PluginManager:
    """A fresh manager with the built-ins, ``plugins`` registered in-process, and optionally
    the installed entry points. Pass a module/object (named after its ``__name__``) or a
    ``(plugin, name)`` pair. Raises if a plugin is invalid, so tests see the reason."""
    manager = PluginManager(load_entry_points=entry_points)
    names = []
    for item in plugins:
        plugin, name = item if isinstance(item, tuple) else (item, getattr(item, "__name__", repr(item)))
        if not manager.add(plugin, name=name):
            raise AssertionError(f"plugin {name!r} did not register: {manager.records[name].error}")
        names.append(name)
    manager.registry  # registration hooks run now, so a plugin that cannot register fails here
    for name in names:
        if manager.records[name].error:
            raise AssertionError(f"plugin {name!r} did not register: {manager.records[name].error}")
    return manager


@contextmanager
def use_plugins(*plugins: Any, entry_points: bool = False) -> Iterator[PluginManager]:
    """Make a manager with ``plugins`` the process-wide one for the duration of the block."""
    with using(make_plugin_manager(*plugins, entry_points=entry_points)) as manager:
        yield manager


def run_tiny(
    plugins: list[str],
    out: str | Path,
    *,
    ipc: int = 1,
    dataset: str = "digits",
    options: dict[str, dict[str, Any]] | None = None,
    pool_factor: int = 2,
    seed: int = 0,
    manager: PluginManager | None = None,
    resume: bool = False,
) -> DistilledSet:
    """Run ``plugins`` on a small dataset (digits by default) without evaluation, quietly.

    ``out`` is the run folder (a pytest ``tmp_path`` is fine). Returns the written artifact.
    """
    from .artifact import DistilledSet
    from .planning import RunSpec
    from .run import run

    spec = RunSpec(
        dataset=dataset, ipc=ipc, plugins=list(plugins), pool_factor=pool_factor, seed=seed, device="cpu",
        out=str(out), options=options or {}, evaluate=False,
    )
    run(spec, manager or get_plugin_manager(), resume=resume, quiet=True)
    return DistilledSet.load(out)


def assert_artifact(dset: DistilledSet, ipc: int, num_classes: int | None = None, *, stages: list[str] | None = None,
                    distinct: bool = True, changed_from: DistilledSet | None = None) -> None:
    """What a plugin's run should have made, beyond the counts the pipeline enforces itself:
    ``ipc`` images per class (of ``num_classes``), finite and, with ``distinct``, no image an exact
    copy of another (a selector that picks one image twice passes every count); the stages the
    manifest records, in order, equal to ``stages`` when given; and, with ``changed_from`` (the set
    an optimising or refining stage received), images that moved."""
    import torch

    dset.validate()
    counts = dset.per_class_counts()
    if num_classes is not None:
        assert len(counts) == num_classes, f"expected {num_classes} classes, got {len(counts)}"
    assert all(c == ipc for c in counts), f"expected {ipc} images per class, got {counts}"
    recorded = [s["stage"] for s in dset.facts.get("stages", [])]
    assert recorded, "the artifact records no stages"
    assert stages is None or recorded == list(stages), f"the artifact records stages {recorded}, expected {list(stages)}"
    assert torch.isfinite(dset.images).all(), "some pixels are not finite"
    if distinct:
        copies = len(dset) - len(torch.unique(dset.images.flatten(1), dim=0))
        assert copies == 0, f"{copies} image(s) are exact copies of others"
    if changed_from is not None:
        assert not torch.equal(dset.images, changed_from.images), "the images are the ones the stage received"


@dataclass
class WeightingTrace:
    """What a modifier weighted in ``run_modifier``: one entry per iteration of the probe synthesizer.

    ``term_weights[i]`` is the product of every active weighting answer for ``terms[i]`` (ones
    when none answered); ``weighted_grads[i]`` is ``pixels[i].grad`` after the pixel weighting.
    """

    terms: list[MatchingTerms] = field(default_factory=list)
    term_weights: list[Any] = field(default_factory=list)
    pixels: list[PixelGradients] = field(default_factory=list)
    weighted_grads: list[Any] = field(default_factory=list)
    result: DistilledSet | None = None


class _Probe(Synthesizer):
    """A tiny optimising synthesizer: noise pulled towards one real image per class by gradient descent."""

    name = "testing_probe"
    description = "ddcore.testing's optimising synthesizer for modifier tests"
    optimizes = True

    def __init__(self, trace: WeightingTrace, iterations: int):
        self.trace, self.iterations = trace, iterations

    def synthesize(self, ctx, data, per_class):
        import torch

        from .artifact import DistilledSet

        classes = torch.arange(data.num_classes).repeat_interleave(per_class)
        targets = data.images_of("train", torch.stack([data.class_indices(int(c))[0] for c in classes]))
        images = torch.randn(targets.shape, generator=ctx.generator("probe"))
        for step in range(self.iterations):
            x = images.clone().requires_grad_(True)
            terms = MatchingTerms(numerator=((x - targets) ** 2).flatten(), denominator=(targets ** 2 + 1).flatten(), iteration=step)
            weights = ctx.weight_matching_terms(terms)
            loss = (weights * terms.numerator).sum() / (weights * terms.denominator).sum().clamp_min(1e-12)
            (grad,) = torch.autograd.grad(loss, x)
            pixels = PixelGradients(grad=grad, images=x.detach(), labels=classes, iteration=step)
            weighted = ctx.weight_pixel_gradients(pixels)
            self.trace.terms.append(terms)
            self.trace.term_weights.append(weights.detach())
            self.trace.pixels.append(pixels)
            self.trace.weighted_grads.append(weighted.detach())
            images = (x - 0.1 * weighted * x.numel()).detach()
        return DistilledSet.from_real(data, images=images, classes=classes)


def run_modifier(plugin: Any, modifier: str, out: str | Path, *, options: dict[str, dict[str, Any]] | None = None,
                 iterations: int = 3, dataset: str = "digits") -> WeightingTrace:
    """Run a tiny optimising synthesizer with ``modifier`` active and return what it weighted.

    ``plugin`` is your package (or a ``(plugin, name)`` pair) as for ``make_plugin_manager``;
    ``modifier`` is the name users type in ``--plugins``; ``options`` the run's options, e.g.
    ``{"mymod": {"strength": 2}}``. One image per class; ``out`` is the run folder.
    """
    from .hookspecs import hookimpl

    trace = WeightingTrace()
    probe = _Probe(trace, iterations)

    class ProbePlugin:
        @hookimpl
        def register_synthesizers(self, register):
            register(probe)

    manager = make_plugin_manager(plugin, (ProbePlugin(), "ddcore.testing"))
    trace.result = run_tiny([probe.name, modifier], out, dataset=dataset, options=options, manager=manager)
    return trace
