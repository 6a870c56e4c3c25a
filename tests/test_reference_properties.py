"""Properties of the reference model on random valid traces (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amxmodel.inputs.designs import POLICY_NAMES
from amxmodel.kernel.registry import make_model
from amxmodel.kernel.trace import parse_events
from amxmodel.kernel.upstream import COUNTER_NAMES

XFD_VALUES = st.sampled_from([0, 0x40000])
XCR0_VALUES = st.sampled_from([0x1, 0x7, 0x2E7, 0x602E7, 0x202E7, 0x0])  # incl. invalid ones
FAIL = st.sampled_from([False, False, False, True])

STOPPED = ("run_enter", "run_enter", "run_enter", "immediate", "host_set_msr", "host_set_xcr0",
           "host_set_xsave", "set_cpuid", "destroy_vcpu", "perm_request", "host_switch", "migrate")
RUNNING = ("guest_wrmsr_xfd", "guest_wrmsr_xfd_err", "guest_rdmsr_xfd", "guest_rdmsr_xfd_err",
           "guest_xsetbv", "guest_amx", "guest_amx", "guest_tile_release", "fastpath", "kernel",
           "kernel", "user", "guest_nested")
HOST_SAVES = ("host_preempt", "vcpu_switch", "vcpu_halt")  # after run_enter or a kernel exit


def _stopped_event(draw, kind: str, vid: int) -> dict:
    if kind in ("run_enter", "immediate"):
        return {"event": "run_enter", "vcpu": vid, "immediate_exit": kind == "immediate"}
    if kind == "host_set_msr":
        return {"event": kind, "vcpu": vid, "msr": draw(st.sampled_from(["xfd", "xfd_err"])),
                "value": draw(XFD_VALUES)}
    if kind == "host_set_xcr0":
        return {"event": kind, "vcpu": vid, "value": draw(XCR0_VALUES), "fail_alloc": draw(FAIL)}
    if kind == "host_set_xsave":
        return {"event": kind, "vcpu": vid, "tiles_live": draw(st.booleans()), "fail_alloc": draw(FAIL)}
    if kind == "set_cpuid":
        return {"event": kind, "vcpu": vid, "amx": draw(st.booleans()), "fail_alloc": draw(FAIL)}
    if kind == "host_switch":
        return {"event": kind, "count": draw(st.integers(1, 50))}
    if kind == "perm_request":
        return {"event": kind}
    if kind == "migrate":
        return {"event": kind, "vcpu": vid, "fail_alloc": draw(FAIL)}
    return {"event": kind, "vcpu": vid}


def _running_event(draw, kind: str, vid: int) -> dict:
    if kind in ("fastpath", "kernel", "user"):
        return {"event": "exit", "vcpu": vid, "kind": kind, "count": draw(st.integers(1, 3))}
    if kind in ("guest_wrmsr_xfd", "guest_wrmsr_xfd_err"):
        return {"event": kind, "vcpu": vid, "value": draw(XFD_VALUES), **(
            {"fail_alloc": draw(FAIL)} if kind == "guest_wrmsr_xfd" else {})}
    if kind == "guest_xsetbv":
        return {"event": kind, "vcpu": vid, "value": draw(XCR0_VALUES), "fail_alloc": draw(FAIL)}
    if kind == "guest_amx":
        return {"event": kind, "vcpu": vid, "fail_alloc": draw(FAIL)}
    if kind == "guest_nested":
        return {"event": kind, "vcpu": vid, "l2": draw(st.booleans())}
    if kind == "vcpu_switch":
        return {"event": kind, "vcpu": vid, "from_xfd": draw(XFD_VALUES)}
    return {"event": kind, "vcpu": vid}


@st.composite
def traces(draw) -> list[dict]:
    """Random event lists that obey the order rules of amxmodel.kernel.trace."""
    n = draw(st.integers(1, 3))
    events: list[dict] = [{"event": "perm_request"}] if draw(st.booleans()) else []
    state: dict[int, str] = {}
    preempt_ok: dict[int, bool] = {}
    for vid in range(n):
        events += [{"event": "create_vcpu", "vcpu": vid},
                   {"event": "set_cpuid", "vcpu": vid, "amx": draw(st.booleans()), "fail_alloc": draw(FAIL)}]
        state[vid] = "stopped"
    for _ in range(draw(st.integers(0, 40))):
        vid = draw(st.integers(0, n - 1))
        if state[vid] == "destroyed":
            ev, state[vid] = {"event": "create_vcpu", "vcpu": vid}, "stopped"
        elif state[vid] == "stopped":
            ev = _stopped_event(draw, draw(st.sampled_from(STOPPED)), vid)
            if ev["event"] == "destroy_vcpu":
                state[vid] = "destroyed"
            elif ev["event"] == "run_enter" and not ev["immediate_exit"]:
                state[vid] = "running"
            preempt_ok[vid] = ev["event"] == "run_enter" and not ev["immediate_exit"]
        else:
            kinds = RUNNING + HOST_SAVES if preempt_ok.get(vid) else RUNNING
            ev = _running_event(draw, draw(st.sampled_from(kinds)), vid)
            if ev["event"] == "exit" and ev["kind"] == "user":
                state[vid] = "stopped"
            preempt_ok[vid] = ev["event"] in HOST_SAVES or ev.get("kind") == "kernel"
        events.append(ev)
    return events


def replay_steps(policy, hardware, raw, check=None):
    """Replay ``raw`` under ``policy``, calling ``check(model)`` after every event."""
    model = make_model(policy, hardware)
    for ev in parse_events(raw):
        model.apply(ev)
        if check:
            check(model)
    return model


def check_memory(model) -> None:
    live = sum(v.pages for v in model.vcpus.values())
    assert all(v.pages >= 1 for v in model.vcpus.values())
    assert model.c.pages == live >= 0
    assert model.c.peak_pages >= model.c.pages


PROPS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(traces())
def test_pages_never_negative_and_peak_at_least_pages(spr, raw):
    for policy in POLICY_NAMES:
        replay_steps(policy, spr, raw, check_memory)


@PROPS
@given(traces())
def test_counters_are_non_negative_ints_and_cycles_split_adds_up(spr, raw):
    for policy in POLICY_NAMES:
        counters = replay_steps(policy, spr, raw).result()["counters"]
        for name in COUNTER_NAMES:
            assert isinstance(counters[name], int) and counters[name] >= 0, (policy, name)
        parts = sum(v for k, v in counters.items() if k.startswith("cycles_"))
        assert counters["cycles"] >= 0 and abs(parts - counters["cycles"]) < 1e-6 * (1 + parts)
        assert counters["nm_exits"] <= counters["xfd_exits"] <= counters["vm_exits"]
        assert counters["extra_user_exits"] <= counters["user_exits"]


@PROPS
@given(traces())
def test_no_amx_host_costs_nothing(spr, raw):
    res = replay_steps("no-amx", spr, raw).result()
    assert res["counters"]["cycles"] == 0
    # only an invalid XCR0 (x87 clear) and the VMM's requests for AMX (permission,
    # AMX in CPUID) or a CPUID change after the vCPU ran can fail on such a host
    allowed = {("host_set_xcr0", "-EINVAL"), ("perm_request", "-EOPNOTSUPP"),
               ("set_cpuid", "-EPERM"), ("set_cpuid", "-EINVAL")}
    assert all((e["event"], e["errno"]) in allowed for e in res["errors"])
    assert res["counters"]["wrmsr_xfd"] == res["counters"]["rdmsr_xfd"] == 0


@PROPS
@given(traces())
def test_upstream_passthrough_never_turns_off_for_a_live_vcpu(spr, raw):
    seen: dict[int, object] = {}  # id(vcpu) of vCPUs that had passthrough

    def check(model):
        for v in model.vcpus.values():
            if id(v) in seen:
                assert v.passthrough, f"passthrough turned off on vcpu {v.vid}"
            elif v.passthrough:
                seen[id(v)] = v  # keep the object alive so its id is not reused

    replay_steps("upstream", spr, raw, check)


@PROPS
@given(traces())
def test_sync_always_reads_xfd_at_least_as_often_as_upstream(spr, raw):
    up = replay_steps("upstream", spr, raw).c
    sync = replay_steps("sync-always", spr, raw).c
    assert sync.rdmsr_xfd >= up.rdmsr_xfd


@PROPS
@given(traces())
def test_replay_is_deterministic(spr, raw):
    a = replay_steps("lazy-exit-user", spr, raw).result()
    b = replay_steps("lazy-exit-user", spr, raw).result()
    assert a == b


@settings(max_examples=60, deadline=None)
@given(traces(), st.integers(2, 60))
def test_repeated_exits_in_closed_form_equal_exits_one_by_one(spr, raw, times):
    """An exit's ``count`` priced in closed form once the state repeats gives the counters
    (and errors) of replaying every exit."""
    from amxmodel.kernel import upstream

    raw = [{**ev, "count": ev["count"] * times} if ev["event"] == "exit" else ev for ev in raw]
    saved = upstream.SETTLE_EXITS, upstream.CLOSED_FORM_MIN
    try:
        upstream.CLOSED_FORM_MIN = 2  # closed form for every repeated exit of these traces
        closed = {p: replay_steps(p, spr, raw).result() for p in POLICY_NAMES}
        upstream.SETTLE_EXITS = 0  # never watch: every exit replayed
        looped = {p: replay_steps(p, spr, raw).result() for p in POLICY_NAMES}
    finally:
        upstream.SETTLE_EXITS, upstream.CLOSED_FORM_MIN = saved
    assert closed == looped


def test_a_billion_exits_take_no_time_and_scale_exactly(spr):
    import time

    def trace(n):
        return [{"event": "create_vcpu", "vcpu": 0}, {"event": "set_cpuid", "vcpu": 0, "amx": True},
                {"event": "run_enter", "vcpu": 0}, {"event": "guest_amx", "vcpu": 0},
                {"event": "exit", "vcpu": 0, "kind": "kernel", "count": n}]

    t0 = time.perf_counter()
    for p in POLICY_NAMES:
        small = replay_steps(p, spr, trace(10)).result()["counters"]
        big = replay_steps(p, spr, trace(10**9)).result()["counters"]
        assert big["vm_exits"] - small["vm_exits"] == 10**9 - 10
        per_exit = (big["rdmsr_xfd"] - small["rdmsr_xfd"]) / (10**9 - 10)
        assert per_exit in (0, 1, 2), per_exit
    assert time.perf_counter() - t0 < 10


def test_exits_that_never_settle_are_refused_past_the_bound(spr, monkeypatch):
    from amxmodel.common.errors import InputError
    from amxmodel.kernel import upstream

    monkeypatch.setattr(upstream, "SETTLE_EXITS", 0)  # as if no exit ever repeated the state
    monkeypatch.setattr(upstream, "MAX_UNSETTLED_EXITS", 10)
    raw = [{"event": "create_vcpu", "vcpu": 0}, {"event": "run_enter", "vcpu": 0},
           {"event": "exit", "vcpu": 0, "kind": "kernel", "count": 11}]
    with pytest.raises(InputError, match=r"events\[2\] \(exit, count 11\).*at most 10 such exits"):
        replay_steps("upstream", spr, raw)
