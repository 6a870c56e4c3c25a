"""Properties of input handling: anything a user can type is accepted or one InputError.

- valid override sets (every catalogue parameter inside its allowed range) always load;
- arbitrary override sets (typos, wrong types, NaN, junk distributions) load or raise
  InputError, never another exception;
- arbitrary event lists replay or raise InputError, never another exception;
- a sampled run never allocates more than :func:`amxmodel.fleet.footprint.estimate_bytes`.
"""

from __future__ import annotations

import math
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amxmodel.common.errors import InputError
from amxmodel.fleet.footprint import estimate_bytes
from amxmodel.inputs import catalog
from amxmodel.inputs.designs import POLICY_NAMES
from amxmodel.inputs.scenario import Scenario, load_scenario
from amxmodel.inputs.workloads import PROBABILITY_FIELDS
from amxmodel.kernel.replay import replay_trace
from amxmodel.kernel.trace import EVENTS
from amxmodel.runs.grid import format_override
from amxmodel.runs.run import run

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Cross-field rules (amx >= default fpstate, fastpath + user exit shares <= 1, user-task +
# kernel-FPU preemption shares <= 1) are left to the invalid strategy; the valid one moves
# every other number within its allowed range.
COUPLED = {"fpstate_default_bytes", "fpstate_amx_bytes", "exit_share_fastpath", "exit_share_user",
           "preempt_share_user_task", "preempt_share_kernel_fpu"}
CLASSES = ["web", "database", "hpc", "idle", "ai-inference", "*", "webb"]


def _in_range(spec) -> st.SearchStrategy:
    lo, hi = spec.allowed
    if spec.integer:
        return st.integers(int(math.ceil(lo)), int(min(hi, 10**6)))
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def valid_overrides(draw) -> list[str]:
    """Overrides that name real parameters with values inside their allowed ranges."""
    sets = [f"workload={draw(st.sampled_from(CLASSES[:5]))}"] if draw(st.booleans()) else []
    for section in ("hardware", "fleet", "run"):
        specs = {n: s for n, s in catalog.section(section).items() if n not in COUPLED}
        for name in draw(st.lists(st.sampled_from(sorted(specs)), max_size=3, unique=True)):
            sets.append(format_override(f"{section}.{name}", draw(_in_range(specs[name]))))
    fields = {n: s for n, s in catalog.section("workload").items()
              if n in PROBABILITY_FIELDS and n not in COUPLED}
    for name in draw(st.lists(st.sampled_from(sorted(fields)), max_size=2, unique=True)):
        sets.append(format_override(f"workloads.*.{name}", draw(_in_range(fields[name]))))
    if draw(st.booleans()):
        pols = draw(st.lists(st.sampled_from(POLICY_NAMES), min_size=1, max_size=3, unique=True))
        sets.append("policies=" + ",".join(pols))
    return sets


JUNK = st.one_of(
    st.integers(-10**12, 10**12), st.floats(), st.booleans(), st.none(), st.text(max_size=8),
    st.lists(st.integers(-3, 3), max_size=3),
    st.fixed_dictionaries({"dist": st.sampled_from(["lognormal", "uniform", "choice", "normal"])},
                          optional={"median": st.floats(), "sigma": st.floats(-2, 8),
                                    "low": st.floats(), "high": st.floats(),
                                    "values": st.lists(st.floats(), max_size=3),
                                    "weights": st.lists(st.floats(-1, 2), max_size=3),
                                    "value": st.floats()}),
)


def _keys() -> list[str]:
    keys = ["hardware", "fleet", "workload", "policies", "mix.web", "mix.nosuch", "hostz",
            "rdmsr_xfd_cycles", "run.bogus", "workloads.web.nosuch", "nosuch.section"]
    keys += [f"{s}.{n}" for s in ("hardware", "fleet", "run") for n in catalog.section(s)]
    keys += [f"workloads.{c}.{n}" for c in CLASSES for n in catalog.section("workload")]
    keys += [f"workloads.web.{n}.{p}" for n in ("exits_per_vcpu_s", "vm_lifetime_s", "p_uses_amx")
             for p in ("median", "sigma", "low", "nosuch")]
    return keys


@st.composite
def any_overrides(draw) -> list[str]:
    """Override sets mixing real and misspelled keys with values of every type."""
    pairs = draw(st.lists(st.tuples(st.sampled_from(_keys()), JUNK), min_size=1, max_size=4))
    sets = [format_override(k, v) for k, v in pairs]
    if draw(st.booleans()):
        sets.append(draw(st.text(max_size=12)))  # maybe no '=', maybe unparsable YAML
    return sets


@FAST
@given(valid_overrides())
def test_valid_overrides_always_load(sets):
    assert isinstance(load_scenario(None, sets), Scenario)


@FAST
@given(any_overrides())
def test_any_override_set_loads_or_is_one_input_error(sets):
    try:
        load_scenario(None, sets)
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)


ARGS = {"vcpu": st.one_of(st.integers(-1, 3), st.just("0"), st.just(5000)),
        "kind": st.sampled_from(["fastpath", "kernel", "user", "usr", 1]),
        "value": st.sampled_from([0, 0x40000, 0x7, 0x602E7, -1, 2**64, "0x40000", 1.5]),
        "msr": st.sampled_from(["xfd", "xfd_err", "xcr0"]),
        "count": st.one_of(st.integers(-1, 4), st.just(True)),
        "amx": st.one_of(st.booleans(), st.just(1)), "fail_alloc": st.booleans(),
        "immediate_exit": st.booleans(), "tiles_live": st.booleans(), "bogus": st.just(1)}


@st.composite
def any_event(draw):
    """An event mapping with a real or misspelled name and a random subset of arguments."""
    if draw(st.integers(0, 30)) == 0:
        return draw(st.one_of(st.none(), st.integers(), st.text(max_size=5), st.just({})))
    name = draw(st.sampled_from([*EVENTS, "guest_amxx", 3, None]))
    keys = draw(st.lists(st.sampled_from(sorted(ARGS)), max_size=3, unique=True))
    return {"event": name, **{k: draw(ARGS[k]) for k in keys}}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(any_event(), max_size=25), st.sampled_from([None, ["upstream"], ["nosuch"]]))
def test_any_event_list_replays_or_is_one_input_error(events, policies):
    trace = {"name": "random", "source": "hypothesis", "events": events}
    try:
        results = replay_trace(trace, policies)
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert len(results) == (1 if policies else len(POLICY_NAMES))


@pytest.mark.parametrize("hosts, steps", [(16, 5), (200, 5), (1000, 2), (5000, 2)])
def test_a_run_never_allocates_more_than_its_estimate(hosts, steps):
    sc = load_scenario(None, [f"fleet.hosts={hosts}", f"run.steps={steps}"])
    tracemalloc.start()
    try:
        run(sc, jobs=1, progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 0 < peak <= estimate_bytes(sc, jobs=1), (peak, estimate_bytes(sc, jobs=1))
