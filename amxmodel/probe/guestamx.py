"""Guest-side prices, where KVM offers AMX to its guests (a VMX host with AMX).

Runs in a worker process holding both permissions (ARCH_REQ_XCOMP_GUEST_PERM before the
first vCPU, ARCH_REQ_XCOMP_PERM for the threads that touch tiles). All guests list AMX in
CPUID and are real-mode loops (:mod:`.guestcode`); what differs is the guest fpstate's XFD,
set through KVM_SET_MSRS. A non-zero value there takes the same vmx_set_msr() path as a
guest write: the XFD intercept goes off for good and KVM then reads IA32_XFD after every
exit that leaves the fastpath (``fpu_sync_guest_vmexit_xfd_state``).

- ``rdmsr_xfd_cycles``: CPUID-exit slope with passthrough on minus the slope with it off
  (the same loop, two vCPUs, batches alternating): tglx's question, per exit.
- ``wrmsr_xfd_cycles`` (crossover): KVM_RUN with immediate_exit, armed VMM thread minus
  XFD-0 thread, once with guest XFD 0 (the armed thread writes twice) and once with guest
  XFD armed (the XFD-0 thread writes twice). The larger host fpstate enters the two
  differences with opposite signs, so their mean is the WRMSR pair without it.
- guest WRMSR(XFD) with the intercept on: the slope of a loop of guest writes of 0 (which
  never turn the intercept off): one exit handled in KVM each.
- guest #NM round: the slope of a 64-bit loop of TILEZERO with guest XFD armed
  (:mod:`.guest64`): #NM exit, RDMSR(XFD_ERR), #NM injected, the guest handler's
  intercepted WRMSR(XFD_ERR)=0, and the XFD_ERR writes around entry and exit.

Written but not run on the machine it was written on (its KVM does not offer AMX); the
loops, the 64-bit guest and the summaries were exercised there with the AMX steps left out.
"""

from __future__ import annotations

from collections.abc import Callable

from amxmodel.probe import checks, guest64, guestcode, kvm, stats
from amxmodel.probe.measure import FULL, QUICK, Pinned, alternate, pick_cpu


def measure_guest(quick: bool = False, progress: Callable[[str], None] = lambda s: None) -> dict:
    sizes = QUICK if quick else FULL
    k = kvm.Kvm()
    entries = k.supported_cpuid()
    offer = checks.offered(entries)
    if not offer["offered"]:
        return {"skipped": f"KVM does not offer AMX to guests (supported XCR0 "
                           f"{offer['supported_xcr0']})"}
    kvm.arch_prctl(kvm.ARCH_REQ_XCOMP_GUEST_PERM, kvm.XFEATURE_XTILEDATA)
    kvm.arch_prctl(kvm.ARCH_REQ_XCOMP_PERM, kvm.XFEATURE_XTILEDATA)
    cpu = pick_cpu()
    a1, a2, b1 = Pinned(cpu, False, "A1"), Pinned(cpu, False, "A2"), Pinned(cpu, True, "B1")
    vm = k.create_vm()
    guestcode.load(vm)
    cpuid = checks.amx_cpuid(entries)

    guest64.load(vm, xcr0=0x7)

    def vcpu(xfd: int, rip: int, long_mode: bool = True) -> kvm.Vcpu:
        v = vm.create_vcpu()
        v.set_cpuid(cpuid)
        if xfd and v.set_msr(kvm.MSR_IA32_XFD, xfd) != 1:
            raise RuntimeError("KVM refused KVM_SET_MSRS(IA32_XFD=0x40000) on a vCPU whose "
                               "CPUID lists XTILEDATA")
        (guest64.start if long_mode else guestcode.start)(v, rip)
        return v

    v_nm = None
    try:
        v_off, v_on = vcpu(0, guest64.CPUID64_ADDR), vcpu(kvm.XTILEDATA, guest64.CPUID64_ADDR)
        v_wr = vcpu(0, guestcode.WRMSR_XFD_LOOP_ADDR, long_mode=False)
        v_za, v_zb = vcpu(0, 0x1100), vcpu(0, 0x1100)
        v_xa, v_xb = vcpu(kvm.XTILEDATA, 0x1100), vcpu(kvm.XTILEDATA, 0x1100)
        owner = {v_off: a1, v_on: a2, v_wr: a1, v_za: a1, v_xa: a1, v_zb: b1, v_xb: b1}
        for v, t in owner.items():
            t.call(v.run)
            guestcode.expect_io(v, f"guest on vCPU {v.id}")
        c, extra = sizes.cpuid_batch, sizes.cpuid_extra

        def loop(v: kvm.Vcpu, count: int) -> float:
            guestcode.set_count(v.vm, count)
            t = owner[v]
            t.call(v.run)  # finishes the run begun with the old count
            x = t.call(lambda: _timed(v, c)) / c
            guestcode.expect_io(v, f"loop on vCPU {v.id}")
            return x

        progress("guest: exits with XFD passthrough on / off")
        slopes = alternate({"off_lo": lambda: loop(v_off, 1), "off_hi": lambda: loop(v_off, 1 + extra),
                            "on_lo": lambda: loop(v_on, 1), "on_hi": lambda: loop(v_on, 1 + extra),
                            "wr_lo": lambda: loop(v_wr, 1), "wr_hi": lambda: loop(v_wr, 1 + extra)},
                           sizes, seed=5)
        progress("guest: #NM with XFD armed")
        v_nm = nm_vcpu(k, entries, cpuid, offer)
        owner[v_nm] = a1
        a1.call(v_nm.run)  # XSETBV (AMX in XCR0), LDTILECFG, OUT
        guestcode.expect_io(v_nm, "64-bit tile guest set-up")
        arm_xfd(v_nm)
        nm = alternate({"lo": lambda: loop(v_nm, 1), "hi": lambda: loop(v_nm, 1 + extra)},
                       sizes, seed=7)
        slopes.update({"nm_lo": nm["lo"], "nm_hi": nm["hi"]})
        progress("guest: KVM_RUN crossover")
        for v in (v_za, v_zb, v_xa, v_xb):
            v.immediate_exit = 1
        n = sizes.run_batch
        imm = alternate({name: (lambda v=v: owner[v].call(lambda: _timed(v, n)) / n)
                         for name, v in (("za", v_za), ("zb", v_zb), ("xa", v_xa), ("xb", v_xb))},
                        sizes, seed=6)
    finally:
        for t in (a1, a2, b1):
            t.stop()
        if v_nm is not None:
            v_nm.vm.close()
        vm.close()
        k.close()
    return summarize_guest(slopes, imm, sizes)


def nm_vcpu(k: kvm.Kvm, entries, cpuid, offer: dict) -> kvm.Vcpu:
    """A vCPU in a VM of its own for guest64.TILE_NM, XCR0 with AMX as KVM offers it; its
    XFD is armed by :func:`arm_xfd` (passthrough on, #NM trapped) after the set-up run."""
    vm = k.create_vm()
    xcr0 = int(offer["supported_xcr0"], 16) & (0x7 | 0xE0 | kvm.XTILECFG | kvm.XTILEDATA)
    guest64.load(vm, xcr0)
    v = vm.create_vcpu()
    v.set_cpuid(cpuid)
    guest64.start(v, guest64.TILE_NM_ADDR)
    return v


def arm_xfd(v: kvm.Vcpu) -> None:
    """Guest XFD[18] = 1 from the host, after the set-up run (LDTILECFG with XFD 0, in case
    it also counts as a tile-data access)."""
    if v.set_msr(kvm.MSR_IA32_XFD, kvm.XTILEDATA) != 1:
        raise RuntimeError("KVM refused KVM_SET_MSRS(IA32_XFD=0x40000) for the tile guest")


def _timed(v: kvm.Vcpu, n: int) -> int:
    from amxmodel.probe.hostcode import timed_ioctls

    return timed_ioctls(n, v.fd, kvm.KVM_RUN)


def summarize_guest(slopes: dict, imm: dict, sizes) -> dict:
    import numpy as np

    extra, rounds = sizes.cpuid_extra, sizes.rounds
    on = np.subtract(slopes["on_hi"], slopes["on_lo"])
    off = np.subtract(slopes["off_hi"], slopes["off_lo"])
    calls = 4 * sizes.cpuid_batch * rounds
    rdmsr = stats.paired_diff(on, off, calls).scaled(1 / extra)
    d1 = np.subtract(imm["za"], imm["zb"])  # 2 WRMSR - larger fpstate
    d2 = np.subtract(imm["xb"], imm["xa"])  # 2 WRMSR + larger fpstate
    both = (d1 + d2) / 4
    wrmsr = stats.median_ci(both, 4 * sizes.run_batch * rounds)
    return {
        "prices": {"rdmsr_xfd_cycles": rdmsr.as_dict(), "wrmsr_xfd_cycles": wrmsr.as_dict()},
        "components": {
            "cpuid_exit_xfd_passthrough_on": stats.paired_diff(
                slopes["on_hi"], slopes["on_lo"], calls // 2).scaled(1 / extra).as_dict(),
            "cpuid_exit_xfd_passthrough_off": stats.paired_diff(
                slopes["off_hi"], slopes["off_lo"], calls // 2).scaled(1 / extra).as_dict(),
            "guest_wrmsr_xfd_exit_intercepted": stats.paired_diff(
                slopes["wr_hi"], slopes["wr_lo"], calls // 2).scaled(1 / extra).as_dict(),
            "guest_nm_round_xfd_armed": stats.paired_diff(
                slopes["nm_hi"], slopes["nm_lo"], calls // 2).scaled(1 / extra).as_dict(),
            "fpstate_full_minus_default_per_kvm_run": stats.median_ci(
                (d2 - d1) / 2, 4 * sizes.run_batch * rounds).as_dict(),
        },
        "method": {"wrmsr_xfd_cycles": "crossover of guest XFD 0 / armed (no fpstate term)"},
    }
