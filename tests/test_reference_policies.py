"""Each design's cost rule on the reference model, and the shipped traces.

Expected numbers are derived by hand from the rules in amxmodel/kernel/designs.py
(docs/amx-xfd-kvm.md, section 2); the amx_test ledger is the one written in the trace's comments.
"""

from __future__ import annotations

import json
import re

import pytest

from amxmodel.common.datafiles import data_dir
from amxmodel.common.errors import InputError
from amxmodel.common.yamlio import load_yaml
from amxmodel.inputs.designs import POLICY_NAMES
from amxmodel.kernel.registry import parse_options, run_events
from amxmodel.kernel.replay import render, replay_file, replay_trace

XFD = 0x40000
PERM, CREATE = {"event": "perm_request"}, {"event": "create_vcpu"}
CPUID_AMX = {"event": "set_cpuid", "amx": True}
RUN = {"event": "run_enter"}
KERNEL, USER = {"event": "exit", "kind": "kernel"}, {"event": "exit", "kind": "user"}
FAST = {"event": "exit", "kind": "fastpath"}
AMX, RELEASE = {"event": "guest_amx"}, {"event": "guest_tile_release"}
PREEMPT = {"event": "host_preempt"}


def wrxfd(value: int) -> dict:
    return {"event": "guest_wrmsr_xfd", "value": value}


def xsetbv(value: int, **kw) -> dict:
    return {"event": "guest_xsetbv", "value": value, **kw}


def kernel(n: int) -> dict:
    return {"event": "exit", "kind": "kernel", "count": n}


FRESH = [PERM, CREATE, CPUID_AMX, RUN]
AWARE = FRESH + [wrxfd(XFD), xsetbv(0x602E7)]  # Linux boot: XFD before XSETBV
LEGACY = [CREATE, {"event": "set_cpuid", "amx": False}, RUN, xsetbv(0x2E7)]  # no AMX in CPUID
# Linux handle_xfd_event() on a task's first tile instruction, then the retried instruction
FIRST_USE = [AMX, {"event": "guest_rdmsr_xfd_err"}, {"event": "guest_wrmsr_xfd_err", "value": 0},
             wrxfd(0), AMX]
TRACES = sorted((data_dir() / "traces").glob("*.yaml"))


# ---------------------------------------------------------------- sync-always


def test_sync_always_never_intercepts_xfd_of_an_amx_guest(ref_delta):
    assert ref_delta(FRESH, [wrxfd(XFD), {"event": "guest_rdmsr_xfd"}], "sync-always") == {}


def test_sync_always_reads_xfd_after_every_full_exit_of_every_vcpu(ref_delta):
    assert ref_delta(AWARE, [kernel(10)], "sync-always") == {"vm_exits": 10, "rdmsr_xfd": 10}
    # the LEGACY guest's XCR0 is the AMX host's minus AMX: KVM also switches XCR0 around each
    # of its exits (an exit and the entry before it: 2 XSETBV), whatever the XFD design
    switch = {"xsetbv": 20, "xsetbv_amx": 20}
    assert ref_delta(LEGACY, [kernel(10)], "sync-always") == {"vm_exits": 10, "rdmsr_xfd": 10, **switch}
    assert ref_delta(LEGACY, [kernel(10)], "upstream") == {"vm_exits": 10, **switch}
    assert ref_delta(AWARE, [{**FAST, "count": 4}], "sync-always") == {"vm_exits": 4}


def test_sync_always_reallocates_at_set_cpuid_and_traps_nm(ref_delta, spr):
    c = run_events("sync-always", spr, [PERM, CREATE, CPUID_AMX])
    assert (c["reallocs"], c["pages"]) == (1, 3)
    assert ref_delta(AWARE, [AMX], "sync-always") == ref_delta(AWARE, [AMX], "upstream")


# ---------------------------------------------------------------- xcr0-alloc, prealloc


def test_xcr0_alloc_grows_the_buffer_at_the_xsetbv_that_enables_tiles(ref_delta, spr):
    assert run_events("xcr0-alloc", spr, [PERM, CREATE, CPUID_AMX])["pages"] == 1
    assert ref_delta(FRESH, [xsetbv(0x602E7)], "xcr0-alloc") == {
        "vm_exits": 1, "allocs": 1, "frees": 1, "reallocs": 1}
    assert run_events("xcr0-alloc", spr, FRESH + [xsetbv(0x2E7)])["pages"] == 1  # legacy XCR0
    restore = [PERM, CREATE, CPUID_AMX, {"event": "host_set_xcr0", "value": 0x602E7}]
    assert run_events("xcr0-alloc", spr, restore)["pages"] == 3  # KVM_SET_XCRS on migration


def test_xcr0_alloc_failed_growth_leaves_xcr0_without_tiles(ref_delta, ref_errors):
    events = FRESH + [xsetbv(0x602E7, fail_alloc=True)]
    assert ref_errors(events, "xcr0-alloc") == [(4, "guest_xsetbv", "-EFAULT")]
    # #UD, not #NM; XCR0 stayed x87-only with CR4.OSXSAVE set: KVM switches XCR0 around the
    # exit (2 XSETBV), but the same host without AMX would too (xsetbv_amx 0)
    assert ref_delta(events, [AMX], "xcr0-alloc") == {"vm_exits": 1, "xsetbv": 2}


def test_prealloc_gives_every_vcpu_the_full_buffer_at_creation(ref_delta, spr):
    c = run_events("prealloc", spr, [CREATE])
    assert (c["allocs"], c["pages"], c["peak_pages"], c["reallocs"]) == (1, 3, 3, 0)
    assert run_events("prealloc", spr, [PERM, CREATE, CPUID_AMX])["reallocs"] == 0
    assert ref_delta(AWARE, [KERNEL], "prealloc") == {"vm_exits": 1, "rdmsr_xfd": 1}


# ---------------------------------------------------------------- lazy passthrough family


@pytest.mark.parametrize("policy", ["lazy-exit-user", "opt1-exit-clear", "opt2-switch-check"])
def test_lazy_aware_guest_that_never_uses_amx_keeps_one_page_and_pays_nothing_per_exit(spr, policy):
    c = run_events(policy, spr, AWARE + [kernel(100)])
    assert (c["xfd_exits"], c["rdmsr_xfd"], c["wrmsr_xfd"], c["reallocs"], c["pages"]) == (1, 0, 0, 0, 1)


def test_lazy_first_use_exits_to_the_vmm_which_reallocates(ref_delta):
    # native #NM (no trap before passthrough); XFD_ERR read and write and the XFD write exit;
    # the XFD write enables AMX: exit to user space, realloc, re-entry writes XFD 0 (R1)
    assert ref_delta(AWARE, FIRST_USE, "lazy-exit-user") == {
        "vm_exits": 3, "xfd_exits": 3, "user_exits": 1, "extra_user_exits": 1, "wrmsr_xfd": 1,
        "allocs": 1, "frees": 1, "reallocs": 1}
    assert ref_delta(AWARE + FIRST_USE, [KERNEL], "lazy-exit-user") == {"vm_exits": 1, "rdmsr_xfd": 1}


def test_lazy_enables_at_xsetbv_when_xfd_is_already_clear(ref_delta):
    assert ref_delta(FRESH, [xsetbv(0x602E7)], "lazy-exit-user") == {
        "vm_exits": 1, "user_exits": 1, "extra_user_exits": 1, "wrmsr_xfd": 1,
        "allocs": 1, "frees": 1, "reallocs": 1}


def test_opt1_tests_xinuse_per_exit_and_clears_xfd_around_live_tiles(ref_delta, spr):
    live = AWARE + FIRST_USE + [KERNEL]
    # live tiles normally mean guest XFD[18]=0: read (and sync fpstate->xfd), no write
    assert ref_delta(live, [KERNEL], "opt1-exit-clear") == {
        "vm_exits": 1, "xinuse_checks": 1, "rdmsr_xfd": 1}
    # the rare case, XFD armed over live tiles: clear after the exit, restore before entry
    armed_live = AWARE + FIRST_USE + [wrxfd(XFD), KERNEL]
    assert ref_delta(armed_live, [KERNEL], "opt1-exit-clear") == {
        "vm_exits": 1, "xinuse_checks": 1, "rdmsr_xfd": 1, "wrmsr_xfd": 2}
    released = AWARE + FIRST_USE + [RELEASE, KERNEL]
    assert ref_delta(released, [KERNEL], "opt1-exit-clear") == {"vm_exits": 1, "xinuse_checks": 1}
    # no per-exit sync: with tiles in init state, exits read nothing
    assert run_events("opt1-exit-clear", spr, released + [kernel(50)])["rdmsr_xfd"] == 0
    # a non-AMX task armed XFD directly (S3): the swap-out reads the MSR, so fpstate->xfd
    # is 0x40000 = the VMM thread's and neither R2 nor R1 writes (was 2 needless WRMSRs)
    s3 = released + [wrxfd(XFD), KERNEL]
    assert ref_delta(s3, [USER, RUN, KERNEL], "opt1-exit-clear") == {
        "vm_exits": 2, "user_exits": 1, "xinuse_checks": 2, "rdmsr_xfd": 1}
    assert run_events("opt1-exit-clear", spr, s3 + [USER, RUN])["wrmsr_xfd"] == run_events(
        "opt1-exit-clear", spr, s3)["wrmsr_xfd"]


def test_opt2_pays_at_host_saves_and_every_host_switch(ref_delta, spr):
    assert run_events("opt2-switch-check", spr, [CREATE, {"event": "host_switch", "count": 7}])[
        "switch_checks"] == 7
    assert run_events("upstream", spr, [CREATE, {"event": "host_switch", "count": 7}])[
        "switch_checks"] == 0
    enabled = AWARE + FIRST_USE
    assert ref_delta(enabled, [KERNEL], "opt2-switch-check") == {"vm_exits": 1}
    assert ref_delta(enabled, [USER], "opt2-switch-check") == {
        "vm_exits": 1, "user_exits": 1, "switch_checks": 1, "rdmsr_xfd": 1, "xsaves_tiles": 1,
        "wrmsr_xfd": 1}
    assert ref_delta(enabled + [KERNEL], [PREEMPT], "opt2-switch-check") == {
        "switch_checks": 1, "rdmsr_xfd": 1, "xsaves_tiles": 1, "wrmsr_xfd": 2}
    # XFD armed over live tiles (rare): the check clears XFD so XSAVES keeps the tiles, and
    # the guest's value is back in the MSR before the next entry
    armed = enabled + [wrxfd(XFD), KERNEL]
    kthread = {"event": "host_preempt", "by": "kthread"}
    assert ref_delta(armed, [kthread], "opt2-switch-check") == {
        "switch_checks": 1, "rdmsr_xfd": 1, "xsaves_tiles": 1, "wrmsr_xfd": 1}
    assert ref_delta(armed, [kthread, KERNEL], "opt2-switch-check") == {
        "vm_exits": 1, "switch_checks": 1, "rdmsr_xfd": 1, "xsaves_tiles": 1, "wrmsr_xfd": 2}


# ---------------------------------------------------------------- nm-first-use, rfc-switch


def test_nm_first_use_two_nm_exits_then_in_kernel_realloc(ref_delta, spr):
    c = run_events("nm-first-use", spr, AWARE + [kernel(100)])
    assert (c["xfd_exits"], c["rdmsr_xfd"], c["wrmsr_xfd"], c["pages"]) == (1, 0, 0, 1)
    # the guest's own #NM (reflected), its handler's three emulated accesses, then the #NM
    # caused by the host bit: realloc in the kernel, no exit to user space; it is the vCPU
    # thread's first use, so the thread's XFD (the host value from now on) becomes 0: 1 WRMSR
    assert ref_delta(AWARE, FIRST_USE, "nm-first-use") == {
        "vm_exits": 5, "xfd_exits": 5, "nm_exits": 2, "allocs": 1, "frees": 1, "reallocs": 1,
        "wrmsr_xfd": 1}


def test_nm_first_use_switches_xfd_around_every_exit_like_spec_ctrl(ref_delta, spr):
    used = AWARE + FIRST_USE
    # an AMX task runs (guest XFD 0 = the thread's 0): read only, fastpath included
    assert ref_delta(used + [FAST], [FAST], "nm-first-use") == {"vm_exits": 1, "rdmsr_xfd": 1}
    assert ref_delta(used + [KERNEL], [KERNEL], "nm-first-use") == {"vm_exits": 1, "rdmsr_xfd": 1}
    # a non-AMX task armed XFD (S3): the host value 0 after the exit, the guest's before entry
    armed = used + [RELEASE, wrxfd(XFD), KERNEL]
    assert ref_delta(armed, [KERNEL], "nm-first-use") == {"vm_exits": 1, "rdmsr_xfd": 1, "wrmsr_xfd": 2}
    assert ref_delta(armed + [FAST], [FAST], "nm-first-use") == {
        "vm_exits": 1, "rdmsr_xfd": 1, "wrmsr_xfd": 2}
    # ... and per KVM_RUN round trip the same pair, R2 and R1 find the cache at the thread's 0
    assert ref_delta(armed, [USER, RUN, KERNEL], "nm-first-use") == {
        "vm_exits": 2, "user_exits": 1, "rdmsr_xfd": 2, "wrmsr_xfd": 4}
    assert ref_delta(used + [AMX], [kernel(3)], "nm-first-use").get("wrmsr_xfd_err", 0) == 0
    # live tiles are saved after an exit under the host value (0), not dropped; a kernel
    # thread costs no WRMSR, another user task (XFD 0x40000) two
    kthread = {"event": "host_preempt", "by": "kthread"}
    assert ref_delta(used + [KERNEL], [kthread], "nm-first-use") == {"xsaves_tiles": 1}
    assert ref_delta(used + [KERNEL], [PREEMPT], "nm-first-use") == {"xsaves_tiles": 1, "wrmsr_xfd": 2}
    assert run_events("nm-first-use", spr, used + [KERNEL, kthread, KERNEL])["xsaves_tiles"] == 1


def test_rfc_switch_full_buffers_and_switching_from_the_start(ref_delta, spr):
    # kmalloc(fpu_kernel_xstate_max_size ~ 10.8 KB) > 8 KiB: an order-2 page allocation
    c = run_events("rfc-switch", spr, [CREATE])
    assert (c["pages"], c["reallocs"]) == (4, 0)
    # RFC patch 3/7: xfd_guest_exit() reads XFD and XFD_ERR at every exit, fastpath too;
    # with the guest's XFD clear nothing is written (XFD is 0 inside KVM_RUN as well)
    assert ref_delta(FRESH + [FAST], [FAST], "rfc-switch") == {
        "vm_exits": 1, "rdmsr_xfd": 1, "rdmsr_xfd_err": 1}
    # an AMX-aware guest idles with XFD=0x40000: zeroed at exit, written back at entry
    assert ref_delta(AWARE + [FAST], [FAST], "rfc-switch") == {
        "vm_exits": 1, "rdmsr_xfd": 1, "rdmsr_xfd_err": 1, "wrmsr_xfd": 2}
    # vmx_xfd_load()/vmx_xfd_put(): XFD=0 at KVM_RUN, the VMM thread's 0x40000 back at its
    # return: a pair per KVM_RUN on top of the exit's pair
    assert ref_delta(AWARE + [FAST], [USER, RUN, FAST], "rfc-switch") == {
        "vm_exits": 2, "user_exits": 1, "rdmsr_xfd": 2, "rdmsr_xfd_err": 2, "wrmsr_xfd": 6}
    assert ref_delta(LEGACY + [KERNEL], [KERNEL], "rfc-switch") == {
        "vm_exits": 1, "xsetbv": 2, "xsetbv_amx": 2}
    # #NM not trapped: only the entry pending after the XSETBV exit (XFD written back)
    assert ref_delta(AWARE, [AMX], "rfc-switch") == {"wrmsr_xfd": 1}


# ---------------------------------------------------------------- no-amx and traces


# the only errors a host without AMX returns to a VMM that asks for AMX
NO_AMX_ERRORS = {("perm_request", "-EOPNOTSUPP"), ("set_cpuid", "-EPERM")}


def test_no_amx_ignores_amx_and_refuses_only_the_amx_requests(ref_delta, ref_errors):
    assert {e[1:] for e in ref_errors([CREATE, PERM, CPUID_AMX], "no-amx")} == NO_AMX_ERRORS
    assert ref_delta(FRESH, [wrxfd(XFD), {"event": "guest_rdmsr_xfd"}, AMX], "no-amx") == {}


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.stem)
def test_no_amx_costs_nothing_on_every_trace(path):
    (res,) = replay_file(path, ["no-amx"])
    assert res["counters"]["cycles"] == 0
    assert {(e["event"], e["errno"]) for e in res["errors"]} <= NO_AMX_ERRORS


def test_boot_of_an_aware_guest_upstream_pays_e1_lazy_does_not():
    res = {r["policy"]: r["counters"] for r in replay_file(
        data_dir() / "traces" / "linux-guest-boot-never-uses-amx.yaml",
        ["upstream", "lazy-exit-user"])}
    # full exits after each vCPU's boot-time XFD write: vCPU 0 2005, vCPU 1 1504
    assert res["upstream"]["rdmsr_xfd"] == 2005 + 1504
    assert res["upstream"]["reallocs"] == 2
    assert (res["lazy-exit-user"]["rdmsr_xfd"], res["lazy-exit-user"]["reallocs"]) == (0, 0)


AMX_TEST_LEDGER = {
    "vm_exits": 32, "xfd_exits": 6, "nm_exits": 1, "user_exits": 13, "extra_user_exits": 0,
    "rdmsr_xfd": 9, "wrmsr_xfd": 66, "rdmsr_xfd_err": 1, "wrmsr_xfd_err": 7,
    "switch_checks": 0, "xinuse_checks": 0, "xsaves_tiles": 16, "xsetbv": 0, "allocs": 24, "frees": 24,
    "reallocs": 12, "realloc_failures": 0, "pages": 0, "peak_pages": 4,
}


def test_amx_test_replay_equals_the_hand_derived_ledger():
    path = data_dir() / "traces" / "amx_test.yaml"
    (res,) = replay_file(path, ["upstream"])
    assert res["errors"] == []
    assert {k: res["counters"][k] for k in AMX_TEST_LEDGER} == AMX_TEST_LEDGER
    assert res["counters"]["cycles"] == pytest.approx(145_900)
    # the ledger written in the trace's comments says the same
    text = path.read_text()
    block = text[text.index("Expected upstream counters:"):text.index("Cycles on spr")]
    stated = {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", block)}
    assert stated == AMX_TEST_LEDGER


def test_render_table_fits_100_columns_and_json_has_the_schema():
    results = replay_file(data_dir() / "traces" / "vmm-forgets-permission.yaml")
    table = render(results, "table")
    assert max(len(line) for line in table.splitlines()) <= 100
    assert "upstream: events[1] set_cpuid -EPERM" in table
    data = json.loads(render(results, "json"))
    assert [d["policy"] for d in data] == list(POLICY_NAMES)
    assert data[0]["errors"][1] == {"index": 2, "event": "perm_request", "errno": "-EBUSY"}
    assert set(data[0]) == {"policy", "errors", "counters"}


# ---------------------------------------------------------------- XCR0 switch (XSETBV)

XCR0_TRACE = data_dir() / "traces" / "xcr0-switch-on-an-amx-host.yaml"
AMX_DESIGNS = [p for p in POLICY_NAMES if p != "no-amx"]


@pytest.mark.parametrize(("kernel", "amx", "plain"), [("5.17", (96, 54), (42, 0)),
                                                      ("6.18", (96, 54), (42, 0)),
                                                      ("6.19", (56, 34), (22, 0))])
def test_xcr0_trace_matches_its_ledger(kernel, amx, plain):
    out = {r["policy"]: r["counters"] for r in json.loads(render(replay_file(XCR0_TRACE, kernel=kernel), "json"))}
    for p in AMX_DESIGNS:
        assert (out[p]["xsetbv"], out[p]["xsetbv_amx"]) == amx, p
        assert out[p]["cycles_xsetbv"] == 150 * amx[1]
    assert (out["no-amx"]["xsetbv"], out["no-amx"]["xsetbv_amx"]) == plain
    assert out["no-amx"]["cycles"] == 0


@pytest.mark.parametrize("version", ["5.17", "6.18", "6.19"])
def test_amx_in_host_xcr0_costs_xsetbv_only_to_guests_without_it(spr, version):
    boot = lambda amx, xcr0: [PERM, CREATE, {"event": "set_cpuid", "amx": amx}, RUN,
                              *([wrxfd(XFD)] if amx else []), xsetbv(xcr0)]
    work = [kernel(10), {"event": "exit", "kind": "fastpath", "count": 10}, USER]
    count = lambda p, ev: run_events(p, spr, ev + work, version)["xsetbv"]
    for p in AMX_DESIGNS:
        assert count(p, boot(False, 0x2E7)) > count("no-amx", boot(False, 0x2E7)) == 0, p
        assert count(p, boot(True, 0x602E7)) == count("no-amx", boot(True, 0x602E7)) == 0, p
        # a guest whose XCR0 differs in other bits pays on either host
        assert count(p, boot(False, 0x207)) == count("no-amx", boot(False, 0x207)) > 0, p


def test_no_xcr0_switch_before_the_guest_sets_cr4_osxsave(spr):
    assert run_events("upstream", spr, [CREATE, RUN, kernel(10)])["xsetbv"] == 0
    restore = [CREATE, {"event": "host_set_xcr0", "value": 0x2E7, "osxsave": False}, RUN, kernel(10)]
    assert run_events("upstream", spr, restore)["xsetbv"] == 0
    restore[1] = {"event": "host_set_xcr0", "value": 0x2E7}
    assert run_events("upstream", spr, restore)["xsetbv"] == 20


def test_kvm_set_xsave_under_armed_xfd_crashes_before_the_dec_2025_fix():
    # amx_test line 302 (TEST_RESTORE_TILEDATA): KVM_SET_XSAVE with live tiles while the
    # guest's XFD[18] is set. 6.19 clears XSTATE_BV[18]; 5.17-6.18.2 keep it and the next
    # KVM_RUN's XRSTORS of the guest fpstate takes #NM in the host.
    path = data_dir() / "traces" / "amx_test.yaml"
    for kernel in ("5.17", "6.18"):
        (res,) = replay_file(path, ["upstream"], kernel=kernel)
        errors = [(e["event"], e["errno"]) for e in res["errors"]]
        assert errors == [("run_enter", "host #NM in XRSTORS")], kernel
    (res,) = replay_file(path, ["upstream"], kernel="6.19")
    assert res["errors"] == []


def test_sync_always_xfd_reset_is_a_design_option(spr):
    # a vCPU whose CPUID lacks AMX, with exits to user space: with the 5.17 reset value 0
    # R1 writes 0 and R2 writes 0x40000 back (and the per-exit RDMSR keeps reading 0);
    # with init_fpstate.xfd (before v6 05/21) the guest fpstate equals the VMM thread's
    # XFD and nothing is written
    plain = [CREATE, {"event": "set_cpuid", "amx": False}, RUN, KERNEL, USER, RUN, KERNEL, USER]
    zero = run_events("sync-always", spr, plain)
    init = replay_trace({"name": "t", "source": "test", "events": plain}, ["sync-always"], spr,
                        options={"sync-always": {"xfd_reset": "init"}})[0]["counters"]
    assert (zero["wrmsr_xfd"], zero["rdmsr_xfd"]) == (4, 4)
    assert (init["wrmsr_xfd"], init["rdmsr_xfd"]) == (0, 4)
    # an AMX guest: fpstate_realloc() clears the bit at KVM_SET_CPUID2, both readings agree
    amx = [PERM, CREATE, CPUID_AMX, RUN, KERNEL, USER, RUN, KERNEL, USER]
    both = [replay_trace({"name": "t", "source": "test", "events": amx}, ["sync-always"], spr,
                         options={"sync-always": {"xfd_reset": r}})[0]["counters"] for r in ("zero", "init")]
    assert both[0] == both[1]
    with pytest.raises(InputError, match="allowed: init, zero"):
        parse_options(["sync-always.xfd_reset=seed"])
    with pytest.raises(InputError, match="option of upstream"):
        parse_options(["upstream.xfd_reset=init"])


def test_preemption_trace_phases_equal_their_hand_derived_ledger(spr):
    path = data_dir() / "traces" / "preemption-and-xfd-switching-by-design.yaml"
    text = path.read_text()
    events = load_yaml(path, "trace")["events"]
    for phase, (lo, hi) in (("A", (15, 22)), ("B", (22, len(events)))):
        block = text[text.index(f"Expected phase {phase}:"):]
        block = block[:block.index(".\n")]
        found = re.findall(r"([a-z0-9-]+) ((?:[a-z_]+ \d+ ?)+)", block)
        assert {p for p, _ in found} == {"upstream", "opt1-exit-clear", "opt2-switch-check",
                                         "nm-first-use", "rfc-switch"}
        for policy, body in found:
            stated = {k: int(v) for k, v in re.findall(r"([a-z_]+) (\d+)", body)}
            before = run_events(policy, spr, events[:lo])
            after = run_events(policy, spr, events[:hi])
            got = {k: after[k] - before[k] for k in stated}
            assert got == stated, (phase, policy)
