"""One test per row of the event table (docs/amx-xfd-kvm.md, section 3) under ``upstream``.

Numbers are derived by hand from the kernel: the per-CPU ``xfd_state`` cache starts at
0x40000 (HOST), a fresh guest fpstate has xfd 0, so the first KVM_RUN writes XFD once.
"""

from __future__ import annotations

import pytest

from amxmodel.inputs.scenario import load_hardware
from amxmodel.kernel.registry import run_events

HW = load_hardware("spr")
XFD = 0x40000
XCR0_AMX = 0x602E7

PERM, CREATE = {"event": "perm_request"}, {"event": "create_vcpu"}
CPUID_AMX = {"event": "set_cpuid", "amx": True}
RUN = {"event": "run_enter"}
KERNEL, USER = {"event": "exit", "kind": "kernel"}, {"event": "exit", "kind": "user"}
AMX = {"event": "guest_amx"}


def wrxfd(value: int) -> dict:
    return {"event": "guest_wrmsr_xfd", "value": value}


# vCPU 0 inside KVM_RUN, AMX in CPUID, XFD 0, passthrough off
FRESH = [PERM, CREATE, CPUID_AMX, RUN]
# Linux boot order (fpu__init_cpu_xstate): XFD=0x40000 before XSETBV; passthrough on
AWARE = FRESH + [wrxfd(XFD), {"event": "guest_xsetbv", "value": XCR0_AMX}]


def test_a1_create_allocates_one_page():
    c = run_events("upstream", HW, [CREATE])
    assert (c["allocs"], c["pages"], c["peak_pages"], c["wrmsr_xfd"], c["cycles"]) == (1, 1, 1, 0, 0)


def test_a2_set_cpuid_reallocates_once_with_peak_of_old_plus_new():
    c = run_events("upstream", HW, [PERM, CREATE, CPUID_AMX, CPUID_AMX])
    assert (c["allocs"], c["frees"], c["reallocs"], c["pages"], c["peak_pages"]) == (2, 1, 1, 3, 4)
    assert c["cycles_realloc"] == pytest.approx(9000.0)  # 3 us at 3 GHz


def test_set_cpuid_after_the_vcpu_ran_accepts_only_the_same_cpuid_and_never_reallocates(ref_errors):
    # kvm_set_cpuid(): if (kvm_vcpu_has_run(vcpu)) return kvm_cpuid_check_equal(...)
    ran = [PERM, CREATE, {"event": "set_cpuid", "amx": False}, RUN, KERNEL, USER]
    assert ref_errors(ran + [CPUID_AMX]) == [(6, "set_cpuid", "-EINVAL")]
    assert run_events("upstream", HW, ran + [CPUID_AMX])["reallocs"] == 0
    assert ref_errors(ran + [{"event": "set_cpuid", "amx": False}]) == []
    # KVM_RUN with immediate_exit enters no guest: the vCPU has not run yet
    not_yet = [PERM, CREATE, RUN | {"immediate_exit": True}, CPUID_AMX]
    assert ref_errors(not_yet) == [] and run_events("upstream", HW, not_yet)["reallocs"] == 1


def test_host_without_amx_refuses_the_permission_and_amx_in_cpuid(ref_errors):
    # xstate_request_perm(): (fpu_user_cfg.max_features & requested) != requested ->
    # -EOPNOTSUPP; __xfd_enable_feature() then finds no permission -> -EPERM
    assert ref_errors([PERM, CREATE, CPUID_AMX], "no-amx") == [
        (0, "perm_request", "-EOPNOTSUPP"), (2, "set_cpuid", "-EPERM")]


def test_a2_prime_without_permission_is_eperm_and_amx_stays_hidden(ref_errors):
    events = [CREATE, CPUID_AMX, RUN, wrxfd(XFD)]
    assert ref_errors(events) == [(1, "set_cpuid", "-EPERM")]
    c = run_events("upstream", HW, events)
    assert (c["pages"], c["reallocs"]) == (1, 0)
    assert (c["vm_exits"], c["xfd_exits"]) == (1, 1)  # XFD not in CPUID: #GP-injected exit


def test_a2_failed_vzalloc_is_efault_and_keeps_the_buffer(ref_errors):
    # __xfd_enable_feature(): "if (fpstate_realloc(...)) return -EFAULT;"
    events = [PERM, CREATE, {"event": "set_cpuid", "amx": True, "fail_alloc": True}]
    assert ref_errors(events) == [(2, "set_cpuid", "-EFAULT")]
    c = run_events("upstream", HW, events)
    assert (c["realloc_failures"], c["reallocs"], c["pages"], c["peak_pages"]) == (1, 0, 1, 1)


def test_a4_destroy_frees_the_buffer():
    c = run_events("upstream", HW, [PERM, CREATE, CPUID_AMX, {"event": "destroy_vcpu"}])
    assert (c["frees"], c["pages"], c["peak_pages"]) == (2, 0, 4)


def test_perm_request_after_the_first_vcpu_is_ebusy(ref_errors):
    assert ref_errors([CREATE, PERM]) == [(1, "perm_request", "-EBUSY")]
    assert ref_errors([PERM, CREATE, PERM]) == []  # already permitted: the lockless check returns 0


def test_r1_first_run_writes_xfd_zero_once(ref_delta):
    assert ref_delta([PERM, CREATE, CPUID_AMX], [RUN]) == {"wrmsr_xfd": 1}


def test_r2_exit_to_user_restores_host_xfd_for_a_guest_with_xfd_zero(ref_delta):
    assert ref_delta(FRESH, [USER]) == {"vm_exits": 1, "user_exits": 1, "wrmsr_xfd": 1}
    assert ref_delta(FRESH + [USER], [RUN]) == {"wrmsr_xfd": 1}
    # KVM_RUN with immediate_exit: swapped in and out, no guest entry
    assert ref_delta(FRESH + [USER], [{"event": "run_enter", "immediate_exit": True}]) == {"wrmsr_xfd": 2}


def test_r2_guest_with_xfd_armed_pays_no_wrmsr(ref_delta):
    assert ref_delta(AWARE, [USER]) == {"vm_exits": 1, "user_exits": 1, "rdmsr_xfd": 1}
    assert ref_delta(AWARE + [USER], [RUN]) == {}


def test_g1_intercepted_nonzero_write_turns_passthrough_on(ref_delta):
    assert ref_delta(FRESH, [wrxfd(XFD)]) == {"vm_exits": 1, "xfd_exits": 1, "wrmsr_xfd": 1}
    # the exit that turned passthrough on paid no E1; the next full exit does
    assert ref_delta(FRESH + [wrxfd(XFD)], [KERNEL]) == {"vm_exits": 1, "rdmsr_xfd": 1}


def test_g1_zero_write_keeps_the_intercept(ref_delta):
    assert ref_delta(FRESH, [wrxfd(0), KERNEL, wrxfd(0)]) == {"vm_exits": 3, "xfd_exits": 2}


def test_g1_prime_passthrough_write_has_no_exit_and_is_synced_at_the_next_exit(ref_delta):
    assert ref_delta(AWARE, [wrxfd(0)]) == {}
    # E1 reads 0 into the cache, so R2 has to write 0x40000 back
    assert ref_delta(AWARE + [wrxfd(0)], [USER]) == {"vm_exits": 1, "user_exits": 1, "rdmsr_xfd": 1,
                                                 "wrmsr_xfd": 1}


def test_g2_rdmsr_xfd_exits_only_before_passthrough(ref_delta):
    assert ref_delta(FRESH, [{"event": "guest_rdmsr_xfd"}]) == {"vm_exits": 1, "xfd_exits": 1}
    assert ref_delta(AWARE, [{"event": "guest_rdmsr_xfd"}]) == {}


def test_g3_rdmsr_xfd_err_never_exits_with_xfd_in_cpuid(ref_delta):
    assert ref_delta(FRESH, [{"event": "guest_rdmsr_xfd_err"}]) == {}
    assert ref_delta(AWARE, [{"event": "guest_rdmsr_xfd_err"}]) == {}


def test_g4_wrmsr_xfd_err_always_exits_and_a_nonzero_value_is_shuttled(ref_delta):
    assert ref_delta(AWARE, [{"event": "guest_wrmsr_xfd_err", "value": 0}]) == {
        "vm_exits": 1, "xfd_exits": 1, "rdmsr_xfd": 1}
    # stored non-zero: E0 before the next entry, E2 after the next exit
    assert ref_delta(FRESH, [{"event": "guest_wrmsr_xfd_err", "value": XFD}, KERNEL]) == {
        "vm_exits": 2, "xfd_exits": 1, "wrmsr_xfd_err": 2}


def test_x1_xsetbv_exit_is_baseline_and_unpriced(ref_delta):
    d = ref_delta(FRESH, [{"event": "guest_xsetbv", "value": XCR0_AMX}])
    assert d == {"vm_exits": 1}
    assert run_events("upstream", HW, FRESH + [{"event": "guest_xsetbv", "value": XCR0_AMX}])[
        "cycles_intercept_exits"] == 0


def test_e1_rdmsr_on_full_exits_only_with_passthrough(ref_delta):
    assert ref_delta(AWARE, [KERNEL]) == {"vm_exits": 1, "rdmsr_xfd": 1}
    assert ref_delta(AWARE, [{"event": "exit", "kind": "fastpath", "count": 5}]) == {"vm_exits": 5}
    assert ref_delta(FRESH, [{"event": "exit", "kind": "kernel", "count": 5}]) == {"vm_exits": 5}


def test_e0_e2_xfd_err_round_trip_per_full_exit_until_the_guest_clears_it(ref_delta):
    nm = AWARE + [AMX]
    assert ref_delta(nm, [{"event": "exit", "kind": "kernel", "count": 3}]) == {
        "vm_exits": 3, "rdmsr_xfd": 3, "wrmsr_xfd_err": 6}
    assert ref_delta(nm, [{"event": "exit", "kind": "fastpath", "count": 3}]) == {
        "vm_exits": 3, "wrmsr_xfd_err": 1}  # E0 is outside the fastpath loop
    handled = nm + [{"event": "guest_wrmsr_xfd_err", "value": 0}]
    assert ref_delta(handled, [KERNEL]) == {"vm_exits": 1, "rdmsr_xfd": 1}


def test_n1_amx_with_xfd_clear_runs_natively(ref_delta):
    assert ref_delta(AWARE + [wrxfd(0)], [AMX]) == {}


def test_n2_amx_with_xfd_armed_is_an_nm_exit_with_xfd_err_read(ref_delta):
    d = ref_delta(AWARE, [AMX])
    assert d == {"vm_exits": 1, "xfd_exits": 1, "nm_exits": 1, "rdmsr_xfd": 1, "rdmsr_xfd_err": 1,
                 "wrmsr_xfd_err": 1}
    c = run_events("upstream", HW, AWARE + [AMX])
    before = run_events("upstream", HW, AWARE)
    assert c["cycles_nm_exits"] - before["cycles_nm_exits"] == 3000
    assert c["cycles_xfd_err"] - before["cycles_xfd_err"] == 50 + 200
    # Linux handle_xfd_event(): RDMSR XFD_ERR (no exit), WRMSR XFD_ERR 0 (exit), XFD 0, retry
    handler = [{"event": "guest_rdmsr_xfd_err"}, {"event": "guest_wrmsr_xfd_err", "value": 0},
               wrxfd(0), AMX]
    assert ref_delta(AWARE + [AMX], handler) == {"vm_exits": 1, "xfd_exits": 1, "rdmsr_xfd": 1,
                                             "wrmsr_xfd_err": 2}


def test_n4_preemption_with_live_tiles_saves_them_and_switches_xfd_twice(ref_delta):
    live = AWARE + [wrxfd(0), AMX, KERNEL]
    assert ref_delta(live, [{"event": "host_preempt"}]) == {"xsaves_tiles": 1, "wrmsr_xfd": 2}
    assert ref_delta(AWARE + [KERNEL], [{"event": "host_preempt"}]) == {}


@pytest.mark.parametrize("by", ["kthread", "kernel_fpu"])
def test_n4_kernel_thread_idle_or_kernel_fpu_saves_tiles_but_writes_no_xfd(ref_delta, by):
    # switch_fpu() saves only; fpregs_restore_userregs() skips the restore while the
    # registers are valid; kernel_fpu_begin_mask() does not touch XFD
    live = AWARE + [wrxfd(0), AMX, KERNEL]
    assert ref_delta(live, [{"event": "host_preempt", "by": by}]) == {"xsaves_tiles": 1}
    assert ref_delta(AWARE + [wrxfd(0), KERNEL], [{"event": "host_preempt", "by": by}]) == {}


def test_n4_tiles_live_under_armed_xfd_are_not_saved(ref_delta):
    armed = AWARE + [wrxfd(0), AMX, wrxfd(XFD), KERNEL]
    assert ref_delta(armed, [{"event": "host_preempt"}]) == {}
    # XSAVES treated XTILEDATA as init: nothing live any more after XFD is cleared again
    assert ref_delta(armed + [{"event": "host_preempt"}, wrxfd(0), KERNEL],
                 [{"event": "host_preempt"}]) == {"wrmsr_xfd": 2}


def test_ud_without_xcr0_tiles_is_a_baseline_exit(ref_delta):
    assert ref_delta(FRESH, [AMX]) == {"vm_exits": 1}


def test_host_set_msr_nonzero_xfd_turns_passthrough_on(ref_delta, ref_errors):
    restore = [PERM, CREATE, CPUID_AMX, {"event": "host_set_msr", "msr": "xfd", "value": XFD}]
    assert ref_delta(restore, [RUN, KERNEL]) == {"vm_exits": 1, "rdmsr_xfd": 1}
    no_amx = [CREATE, {"event": "set_cpuid", "amx": False},
              {"event": "host_set_msr", "msr": "xfd", "value": XFD}]
    assert ref_errors(no_amx) == [(2, "host_set_msr", "-EINVAL")]


def test_cycles_split_sums_to_cycles():
    c = run_events("upstream", HW, AWARE + [AMX, USER])
    parts = sum(v for k, v in c.items() if k.startswith("cycles_"))
    assert parts == pytest.approx(c["cycles"])
    # realloc; G1 and #NM exits; RDMSR XFD at XSETBV, #NM and user exit (E1); WRMSR XFD at
    # R1 and G1; RDMSR XFD_ERR at #NM; WRMSR XFD_ERR: E2 at #NM, E0 and E2 around the user exit
    assert c["cycles"] == pytest.approx(9000 + 2 * 3000 + 3 * 50 + 2 * 200 + 50 + 3 * 200)
