"""Every order of up to three of the built-in stages and the plugins (real, random, herding, edf,
detector_refine, clip_select, dgs) is planned — before any compute — exactly as the stacking rules
say, or refused with a sentence that says why and what to do.

The rules, restated independently of ddcore/pipeline.py:
  * a name that only synthesises (real, edf) must come first: after a pool exists it is refused;
  * detector_refine synthesises when first, and otherwise scores and refines the pool it gets;
  * a scorer or selector with no pool before it gets the implicit `real` pool;
  * refinement keeps the pool size; the last selection keeps IPC; the pool is pool_factor × IPC
    per class when any selection follows.
"""

from __future__ import annotations

import itertools

import pytest

from ddcore.errors import ConfigError
from ddcore.planning import RunSpec, plan_run
from ddcore.plugins import get_plugin_manager

SYNTH_ONLY = {"real", "edf"}
SELECT_ONLY = {"random", "herding", "dgs"}
NAMES = ["real", "random", "herding", "edf", "detector_refine", "clip_select", "dgs"]
IPC, FACTOR = 2, 5
# images per class after each selection, worked out by hand: the pool of 10 shrinks to IPC 2 in
# equal ratios, rounded (two selections: 10 → 4.47 → 2; three: 10 → 5.85 → 3.42 → 2)
AFTER_EACH_SELECTION = {0: [], 1: [2], 2: [4, 2], 3: [6, 3, 2]}


def expected(names: list[str]) -> list[tuple[str, str, int]] | str:
    """(stage, kind/mode, images per class) for each stage, or the reason the order is refused."""
    stages: list[tuple[str, str]] = []
    for name in names:
        if name in SYNTH_ONLY or (name == "detector_refine" and not stages):
            if stages:
                return "put"
            stages.append((name, "synthesizer"))
            if name == "detector_refine":
                stages += [(name, "scorer"), (name, "refine")]
            continue
        if not stages:
            stages.append(("real", "synthesizer"))
        if name == "detector_refine":
            stages += [(name, "scorer"), (name, "refine")]
        elif name == "clip_select":
            stages += [(name, "scorer"), (name, "select")]
        else:
            stages.append((name, "select"))
    selects = [kind for _, kind in stages].count("select")
    steps = iter(AFTER_EACH_SELECTION[selects])
    pool = IPC * FACTOR if selects else IPC
    sizes, current = [], pool
    for _, kind in stages:
        if kind == "select":
            current = next(steps)
        sizes.append(pool if kind == "synthesizer" else current)
    return [(n, k, s) for (n, k), s in zip(stages, sizes)]


ORDERS = [list(p) for r in (1, 2, 3) for p in itertools.permutations(NAMES, r)]


@pytest.fixture(scope="module")
def pm():
    manager = get_plugin_manager()
    missing = {"edf", "detector_refine", "clip_select", "dgs"} - set(manager.registry.stage_names())
    if missing:
        pytest.skip(f"plugins not installed: {sorted(missing)} (the README's test command installs them)")
    return manager


def test_every_order_is_planned_by_the_rules_or_refused_with_a_reason(pm):
    refused = 0
    for names in ORDERS:
        want = expected(names)
        spec = RunSpec(dataset="digits", ipc=IPC, plugins=names, pool_factor=FACTOR)
        if isinstance(want, str):
            with pytest.raises(ConfigError) as err:
                plan_run(spec, pm)
            message = str(err.value)
            assert "already made one" in message and want in message, f"{names}: {message}"
            refused += 1
            continue
        plan = plan_run(spec, pm)
        got = [(s.name, getattr(s.component, "mode", None) if s.kind == "selector" else s.kind, s.per_class) for s in plan.stages]
        assert got == want, f"--plugins {','.join(names)}"
        assert got[-1][2] == IPC  # every accepted chain ends with IPC per class
    assert refused and refused < len(ORDERS)


def test_the_refusal_names_the_order_that_would_work(pm):
    with pytest.raises(ConfigError, match=r"put 'edf' first \(--plugins edf,clip_select\)"):
        plan_run(RunSpec(plugins=["clip_select", "edf"]), pm)
