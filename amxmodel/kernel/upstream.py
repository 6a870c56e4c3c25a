"""The event-level reference model: one guest fpstate per vCPU, stepped event by event.

KVM gives each vCPU a guest fpstate (``fpu_alloc_guest_fpstate``): one page at
KVM_CREATE_VCPU, xfd 0. On a host with dynamic features the per-CPU variable
``xfd_state`` caches IA32_XFD, so ``xfd_update_state()`` executes WRMSR only when the value
changes; ``fpu_swap_kvm_fpstate()`` swaps the guest fpstate in when KVM_RUN starts and the
VMM thread's fpstate (xfd 0x40000) back on the way out. Once the guest may write IA32_XFD
without a VM exit, KVM reads the MSR after every exit that leaves the fastpath loop
(``fpu_sync_guest_vmexit_xfd_state``), traps #NM to read IA32_XFD_ERR with interrupts
off (``handle_nm_fault_irqoff``) and, while the saved XFD_ERR is non-zero, writes it
before each entry and clears it after each exit (``vcpu_enter_guest``).

:class:`ReferenceModel` is that machine as merged in Linux 5.17 (policy ``upstream``),
written for clarity: one method per event of the domain table (A1, A2, R1, R2, G1..G4,
X1, E0..E2, N1, N2, N4) and one hook per point where the 2021 designs differ; the other
designs are subclasses in :mod:`amxmodel.kernel.designs`. The model keeps one pCPU
per vCPU id (its ``xfd_state`` cache survives a vCPU being destroyed and created again,
as the VMM thread stays on its CPU) and counts what the host executes: MSR accesses,
exits, checks, tile saves, allocations. :func:`run_events` replays a list of raw events
for one policy; :mod:`amxmodel.kernel.replay` does it per trace for many policies and prices
the counts with a hardware profile.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import astuple, dataclass, fields
from typing import Any

from amxmodel.common.errors import InputError
from amxmodel.inputs.scenario import Hardware
from amxmodel.kernel.trace import GUEST_EVENTS, XTILEDATA, Event, parse_events
from amxmodel.kernel.vocabulary import MECHS, OVERHEAD_GROUPS, mech_prices

SETTLE_EXITS = 4  # repeated exits watched for a steady state before plain looping
CLOSED_FORM_MIN = 256  # exits per event from which watching for the steady state pays off
MAX_UNSETTLED_EXITS = 1_000_000  # about 4 s per policy when they do not settle
LEVEL_COUNTERS = ("pages", "peak_pages")  # levels, not sums: never extrapolated
HOST_XFD = XTILEDATA  # init_fpstate.xfd on an AMX host: what an ordinary host task runs with
XTILECFG = 0x20000
XTILE = XTILECFG | XTILEDATA  # XFEATURE_MASK_XTILE: XCR0 must set both bits or neither
XCR0_X87 = 0x1


@dataclass
class Counters:
    """What the host executed for one policy over a trace (all counts, no prices)."""

    vm_exits: int = 0  # every VM exit, the baseline ones from ``exit`` events included
    xfd_exits: int = 0  # intercepted XFD/XFD_ERR accesses (incl. #GP-injected) + XFD #NM exits
    nm_exits: int = 0
    user_exits: int = 0  # exits to the VMM in user space (policy-added ones included)
    extra_user_exits: int = 0  # the ones a policy adds
    rdmsr_xfd: int = 0
    wrmsr_xfd: int = 0
    rdmsr_xfd_err: int = 0
    wrmsr_xfd_err: int = 0
    switch_checks: int = 0
    xinuse_checks: int = 0
    xsaves_tiles: int = 0  # host XSAVES of live tile data
    allocs: int = 0
    frees: int = 0
    reallocs: int = 0  # successful buffer growths (the vCPU-creation allocation excluded)
    realloc_failures: int = 0
    pages: int = 0  # guest fpstate pages resident now
    peak_pages: int = 0  # most pages resident at once (old + new during a reallocation)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


COUNTER_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Counters))


def mechanism_counts(counters: dict[str, Any]) -> dict[str, int]:
    """Counters as the priced mechanisms of :data:`amxmodel.kernel.vocabulary.MECHS`."""
    out = {m: counters[m] for m in MECHS if m in counters}
    out["intercept_exits"] = counters["xfd_exits"] - counters["nm_exits"]
    return {m: out[m] for m in MECHS}


def price(counters: dict[str, Any], hardware: Hardware) -> dict[str, float]:
    """``cycles`` and its split by mechanism group (``cycles_<group>``, summing to it)."""
    mech = mechanism_counts(counters)
    per_mech = {m: mech[m] * p for m, p in zip(MECHS, mech_prices(hardware))}
    split = {f"cycles_{g}": round(sum(per_mech[m] for m in ms), 3) for g, ms in OVERHEAD_GROUPS.items()}
    return {"cycles": round(sum(per_mech.values()), 3), **split}


@dataclass
class Vcpu:
    """One vCPU's AMX-relevant state (struct fpu_guest and a few kvm_vcpu_arch fields)."""

    vid: int
    pages: int
    large: bool  # the buffer holds XTILEDATA (fpstate_amx_bytes)
    fps_xfd: int  # fpstate->xfd: the value the host restores with the guest fpstate
    guest_xfd: int = 0  # the guest's architectural IA32_XFD
    xfd_err: int = 0  # guest_fpu.xfd_err (shuttled by E0/E2 where the policy does so)
    xcr0: int = XCR0_X87
    cpuid_amx: bool = False  # XTILEDATA (and XFD) in the guest CPUID
    passthrough: bool = False  # xfd_no_write_intercept, or the design's "AMX enabled"
    tiles_live: bool = False  # XINUSE[18]
    running: bool = False  # guest fpstate swapped in (inside KVM_RUN)
    in_guest: bool = False  # VM-entry done; False while KVM handles an exit (entry pending)
    pending_xfd: int | None = None  # opt1: guest XFD to restore before the next entry


@dataclass
class Pcpu:
    """The physical CPU a vCPU runs on: the IA32_XFD register and the per-CPU cache."""

    msr: int = HOST_XFD
    cache: int = HOST_XFD  # xfd_state


class ReferenceModel:
    """Linux 5.17+ (``upstream``): the kernel's behaviour, event by event.

    Subclasses override the hooks (methods below ``# --- policy hooks``) only.
    """

    name = "upstream"
    amx_host = True  # fpu_state_size_dynamic()
    realloc_at_cpuid = True  # fpu_enable_guest_xfd_features() from kvm_check_cpuid()

    def __init__(self, hardware: Hardware):
        self.hw = hardware
        self.c = Counters()
        self.vcpus: dict[int, Vcpu] = {}
        self.pcpus: dict[int, Pcpu] = {}
        self.perm = False  # ARCH_REQ_XCOMP_GUEST_PERM granted for XTILEDATA
        self.perm_locked = False  # FPU_GUEST_PERM_LOCKED: set by the first vCPU
        self.errors: list[dict[str, Any]] = []
        self.ev: Event | None = None

    # ------------------------------------------------------------------ driving

    def apply(self, ev: Event) -> None:
        """Replay one checked event."""
        self.ev = ev
        handler = getattr(self, "on_" + ev.name)
        if ev.vcpu is None:
            return handler()
        v = self.vcpus.get(ev.vcpu)
        if v is not None and ev.name in GUEST_EVENTS:
            self.ensure_in_guest(v)
        handler(v)

    def result(self) -> dict[str, Any]:
        """``{"policy", "errors", "counters"}`` with prices included."""
        counts = self.c.as_dict()
        return {"policy": self.name, "errors": list(self.errors),
                "counters": {**counts, **price(counts, self.hw)}}

    def error(self, errno: str) -> None:
        """Record an error the kernel returns to the VMM (or injects) for this event."""
        assert self.ev is not None
        self.errors.append({"index": self.ev.index, "event": self.ev.name, "errno": errno})

    # ------------------------------------------------------------------ mechanics

    def pcpu(self, v: Vcpu) -> Pcpu:
        return self.pcpus.setdefault(v.vid, Pcpu())

    def wrmsr_xfd(self, v: Vcpu, value: int) -> None:
        self.c.wrmsr_xfd += 1
        p = self.pcpu(v)
        p.msr = p.cache = value

    def rdmsr_xfd(self, v: Vcpu) -> int:
        self.c.rdmsr_xfd += 1
        p = self.pcpu(v)
        p.cache = p.msr
        return p.msr

    def xfd_update_state(self, v: Vcpu, xfd: int) -> None:
        """arch/x86/kernel/fpu/xstate.h: WRMSR only when the per-CPU cache differs."""
        if self.pcpu(v).cache != xfd:
            self.wrmsr_xfd(v, xfd)

    def _resident(self, delta: int) -> None:
        self.c.pages += delta
        self.c.peak_pages = max(self.c.peak_pages, self.c.pages)

    def realloc(self, v: Vcpu) -> bool:
        """fpstate_realloc(): vzalloc the full-size buffer, then vfree the old one.

        With ``fail_alloc`` on the event the vzalloc fails: -ENOMEM, buffer unchanged.
        """
        if v.large:
            return True
        assert self.ev is not None
        if self.ev.args.get("fail_alloc"):
            self.c.realloc_failures += 1
            self.error("-ENOMEM")
            return False
        self.c.allocs += 1
        self._resident(self.hw.amx_pages)  # old and new both resident here: the peak
        self.c.frees += 1
        self._resident(-v.pages)
        v.pages, v.large = self.hw.amx_pages, True
        self.c.reallocs += 1
        return True

    def host_save(self, v: Vcpu) -> None:
        """XSAVES of the guest fpstate by the host (R2, N4).

        Live tiles cost an 8 KiB save, unless the XFD in force has bit 18 set: XSAVES then
        treats XTILEDATA as in its init state, and the tile data is gone.
        """
        if not v.tiles_live:
            return
        if self.save_xfd(v) & XTILEDATA:
            v.tiles_live = False
        else:
            self.c.xsaves_tiles += 1

    def swap_in(self, v: Vcpu) -> None:
        """R1: fpu_swap_kvm_fpstate(enter_guest=true) restores the guest fpstate and its XFD."""
        v.running = True
        self.xfd_update_state(v, v.fps_xfd)

    def swap_out(self, v: Vcpu) -> None:
        """R2: fpu_swap_kvm_fpstate(enter_guest=false): save guest state, back to HOST_XFD."""
        self.before_host_save(v)
        self.host_save(v)
        v.running = False
        self.xfd_update_state(v, HOST_XFD)

    def ensure_in_guest(self, v: Vcpu) -> None:
        """The pending VM-entry, done when the guest runs again: vcpu_enter_guest() up to
        VM-entry, E0 (guest XFD_ERR back into the MSR) and the policy's entry work.

        Entries are lazy so that a ``host_preempt`` after an exit happens in the host,
        before the re-entry, as it does in the kernel.
        """
        if v.in_guest:
            return
        v.in_guest = True
        if self.shuttles_xfd_err(v) and v.xfd_err:
            self.c.wrmsr_xfd_err += 1
        self.vm_entry(v)

    def full_exit(self, v: Vcpu, *, xfd: bool = False, nm: bool = False,
                  handler: Callable[[], None] | None = None, to_user: bool = False) -> None:
        """One VM exit that leaves the fastpath loop, handled in KVM.

        Order of vcpu_enter_guest(): E1 (sync) before handle_exit_irqoff (#NM: read
        XFD_ERR), E2 (XFD_ERR cleared) after it, then handle_exit (``handler``), then
        either the return to the VMM (R2) or a pending re-entry (E0, see ensure_in_guest).
        """
        v.in_guest = False
        self.c.vm_exits += 1
        self.c.xfd_exits += int(xfd)
        self.c.nm_exits += int(nm)
        self.after_full_exit(v)
        if nm:
            self.nm_fault_irqoff(v)
        if self.shuttles_xfd_err(v) and v.xfd_err:
            self.c.wrmsr_xfd_err += 1
        if handler is not None:
            handler()
        if to_user:
            self.c.user_exits += 1
            self.swap_out(v)

    def bounce_to_vmm(self, v: Vcpu, work: Callable[[], None]) -> None:
        """A policy-added exit to user space from an exit handler; the VMM re-enters."""
        self.c.user_exits += 1
        self.c.extra_user_exits += 1
        self.swap_out(v)
        work()
        self.swap_in(v)

    def gp_exit(self, v: Vcpu) -> None:
        """XFD/XFD_ERR access by a guest whose CPUID lacks XFD: exit, #GP injected."""
        self.full_exit(v, xfd=True)

    @staticmethod
    def xcr0_valid(value: int, v: Vcpu) -> bool:
        """__kvm_set_xcr(): x87 set, XTILECFG and XTILEDATA together, AMX only with CPUID."""
        tile = value & XTILE
        return bool(value & XCR0_X87) and tile in (0, XTILE) and (not tile or v.cpuid_amx)

    # ------------------------------------------------------------------ events

    def on_perm_request(self) -> None:
        """arch_prctl(ARCH_REQ_XCOMP_GUEST_PERM, XTILEDATA): xstate_request_perm()."""
        if not self.amx_host or self.perm:  # "Lockless quick check": already permitted -> 0
            return
        if self.perm_locked:  # "First vCPU allocation locks the permissions."
            self.error("-EBUSY")
            return
        self.perm = True

    def on_create_vcpu(self, _v: None) -> None:
        """A1: fpu_alloc_guest_fpstate(); fpu_init_guest_permissions() locks the permission."""
        ev = self.ev
        assert ev is not None and ev.vcpu is not None
        self.perm_locked = True
        pages, large = self.create_buffer()
        self.c.allocs += 1
        self._resident(pages)
        self.vcpus[ev.vcpu] = Vcpu(ev.vcpu, pages, large, fps_xfd=self.initial_fps_xfd())
        self.pcpus.setdefault(ev.vcpu, Pcpu())

    def on_destroy_vcpu(self, v: Vcpu) -> None:
        """A4: fpu_free_guest_fpstate()."""
        self.c.frees += 1
        self._resident(-v.pages)
        del self.vcpus[v.vid]

    def on_set_cpuid(self, v: Vcpu) -> None:
        """A2/A2': kvm_check_cpuid() -> fpu_enable_guest_xfd_features()."""
        amx = self.ev["amx"]
        if amx and not self.amx_host:
            v.cpuid_amx = False  # not in KVM_GET_SUPPORTED_CPUID: the VMM cannot expose it
            return
        if amx and not self.perm:
            self.error("-EPERM")  # __xfd_enable_feature(): "If not permitted let it die"
            return
        if amx and self.realloc_at_cpuid and not self.realloc(v):
            return
        v.cpuid_amx = amx
        self.after_set_cpuid(v)

    def on_run_enter(self, v: Vcpu) -> None:
        """R1 (kvm_load_guest_fpu), then E0 and VM-entry; ``immediate_exit``: R2 at once."""
        self.swap_in(v)
        v.in_guest = False  # entry pending until the guest runs
        if self.ev["immediate_exit"]:  # kvm_arch_vcpu_ioctl_run(): -EINTR before vcpu_run()
            self.swap_out(v)

    def on_exit(self, v: Vcpu) -> None:
        """A VM exit for a reason other than XFD (baseline, not priced), ``count`` times.

        Repeated exits reach a steady state within an exit or two: once one exit leaves the
        state that decides the next one (:meth:`_state`) exactly as it found it,
        every further exit adds the same counts, so the rest are priced in closed form,
        equal to running them one by one (``count: 1000000000`` takes microseconds)."""
        kind, count = self.ev["kind"], self.ev["count"]
        done = 0
        settle = SETTLE_EXITS if count >= CLOSED_FORM_MIN else 0  # a few: just replay them
        while done < count:
            if done == SETTLE_EXITS and count - done > MAX_UNSETTLED_EXITS:
                raise InputError(
                    f"events[{self.ev.index}] (exit, count {count}): under {self.name} these exits "
                    f"do not settle into a repeating state, so each one is replayed; allowed: "
                    f"at most {MAX_UNSETTLED_EXITS:,} such exits per event (split the event)")
            watch = done < settle
            if watch:
                state, before = self._state(v), self.c.as_dict()
            self._one_exit(v, kind)
            done += 1
            if watch and done < count and self._state(v) == state:
                delta = {k: n - before[k] for k, n in self.c.as_dict().items()}
                if all(delta[k] == 0 for k in LEVEL_COUNTERS):
                    for k, d in delta.items():
                        if d:
                            setattr(self.c, k, getattr(self.c, k) + d * (count - done))
                    return

    def _one_exit(self, v: Vcpu, kind: str) -> None:
        self.ensure_in_guest(v)
        if kind == "fastpath":  # EXIT_FASTPATH_REENTER_GUEST: stays in the loop
            self.c.vm_exits += 1
            self.after_fastpath_exit(v)
            self.vm_entry(v)
        else:
            self.full_exit(v, to_user=kind == "user")

    def _state(self, v: Vcpu) -> tuple:
        """What decides what the next exit of ``v`` does: ``v``, its CPU, the model's own
        fields (a policy's included), and how many vCPUs, CPUs and errors there are. An exit
        touches no other vCPU (test_reference_properties checks the closed form against
        replaying every exit, with several vCPUs)."""
        p = self.pcpus.get(v.vid)
        own = tuple((k, copy.deepcopy(val)) for k, val in vars(self).items()
                    if k not in ("c", "hw", "ev", "vcpus", "pcpus", "errors"))
        return (astuple(v), astuple(p) if p is not None else None, own,
                len(self.vcpus), len(self.pcpus), len(self.errors))

    def guest_msr(self, v: Vcpu, intercepted: bool, emulate: Callable[[], None] | None = None,
                  direct: Callable[[], None] | None = None) -> None:
        """A guest RDMSR/WRMSR of XFD or XFD_ERR: nothing on a host without AMX (the guest
        has no XFD), a #GP exit without XFD in CPUID, an exit with ``emulate`` as handler
        when intercepted, else ``direct`` (the access reaches the MSR, no exit)."""
        if not self.amx_host:
            return
        if not v.cpuid_amx:
            return self.gp_exit(v)
        if intercepted:
            self.full_exit(v, xfd=True, handler=emulate)
        elif direct is not None:
            direct()

    def on_guest_wrmsr_xfd(self, v: Vcpu) -> None:
        """G1 (intercepted: exit, emulate) or G1' (passthrough: straight to the MSR)."""
        value = self.ev["value"]
        self.guest_msr(v, self.xfd_write_intercepted(v), lambda: self.emulate_wrmsr_xfd(v, value),
                       lambda: self.passthrough_wrmsr_xfd(v, value))

    def on_guest_rdmsr_xfd(self, v: Vcpu) -> None:
        """G2 / G2'."""
        self.guest_msr(v, self.xfd_read_intercepted(v))

    def on_guest_rdmsr_xfd_err(self, v: Vcpu) -> None:
        """G3: not intercepted when the guest CPUID has XFD (vmx_recalc_msr_intercepts)."""
        self.guest_msr(v, self.xfd_err_read_intercepted(v))

    def on_guest_wrmsr_xfd_err(self, v: Vcpu) -> None:
        """G4: always intercepted upstream; kvm_set_msr_common() stores guest_fpu.xfd_err."""
        value = self.ev["value"]
        self.guest_msr(v, self.xfd_err_write_intercepted(v),
                       lambda: self.emulate_wrmsr_xfd_err(v, value),
                       lambda: self.emulate_wrmsr_xfd_err(v, value))

    def passthrough_wrmsr_xfd(self, v: Vcpu, value: int) -> None:
        """G1': the guest writes the register itself; the host's cache is now stale."""
        v.guest_xfd = self.pcpu(v).msr = value

    def on_guest_xsetbv(self, v: Vcpu) -> None:
        """X1: XSETBV always exits (baseline); an invalid XCR0 gets #GP."""
        value = self.ev["value"] if self.amx_host else self.ev["value"] & ~XTILE
        self.full_exit(v, handler=lambda: self.set_xcr0(v, value, guest=True))

    def on_guest_amx(self, v: Vcpu) -> None:
        """A tile instruction: #UD without XCR0[18], N2 (#NM) with XFD[18] armed, else N1."""
        if not self.amx_host:
            return
        if not v.xcr0 & XTILEDATA:
            return self.full_exit(v)  # #UD, intercepted for emulation (baseline)
        if self.pcpu(v).msr & XTILEDATA:
            if self.nm_trapped(v):
                self.full_exit(v, xfd=True, nm=True, handler=lambda: self.handle_nm(v))
            else:
                v.xfd_err = XTILEDATA  # native #NM: the CPU writes IA32_XFD_ERR
            return
        v.tiles_live = True  # N1

    def on_guest_tile_release(self, v: Vcpu) -> None:
        """TILERELEASE: XINUSE[18] back to 0."""
        v.tiles_live = False

    def on_host_set_msr(self, v: Vcpu) -> None:
        """KVM_SET_MSRS (host-initiated): kvm_set_msr_common() checks kvm_guest_supported_xfd()."""
        if not self.amx_host:
            return
        value = self.ev["value"]
        if value & ~(XTILEDATA if v.cpuid_amx else 0):
            self.error("-EINVAL")
            return
        if self.ev["msr"] == "xfd":
            self.host_set_xfd(v, value)
        else:
            v.xfd_err = value

    def on_host_set_xcr0(self, v: Vcpu) -> None:
        """KVM_SET_XCRS."""
        value = self.ev["value"] if self.amx_host else self.ev["value"] & ~XTILE
        self.set_xcr0(v, value, guest=False)

    def on_host_set_xsave(self, v: Vcpu) -> None:
        """KVM_SET_XSAVE(2): tile data is kept only if the guest XFD leaves it enabled."""
        if not self.amx_host:
            return
        if not self.ev["tiles_live"]:
            v.tiles_live = False
            return
        if not v.cpuid_amx:  # fpu_copy_uabi_to_guest_fpstate(): xfeatures & ~xcr0
            self.error("-EINVAL")
            return
        # XSTATE_BV[18] is cleared while guest XFD[18] is set (the Dec 2025 fix)
        v.tiles_live = not v.guest_xfd & XTILEDATA and self.room_for_tiles(v)

    def on_host_preempt(self, v: Vcpu) -> None:
        """N4: another task runs on this CPU while the guest fpstate is loaded.

        switch_to() saves the guest state; the next (user) task gets HOST_XFD; when the vCPU
        thread runs again, switch_fpu_return() restores the guest fpstate and its XFD.
        """
        self.before_host_save(v)
        self.host_save(v)
        self.xfd_update_state(v, HOST_XFD)
        self.xfd_update_state(v, v.fps_xfd)

    def on_host_switch(self) -> None:
        """Host context switches that involve no guest fpstate."""
        self.host_switches(self.ev["count"])

    def set_xcr0(self, v: Vcpu, value: int, *, guest: bool) -> None:
        """__kvm_set_xcr() from XSETBV (guest) or KVM_SET_XCRS (host)."""
        if not self.xcr0_valid(value, v):
            if not guest:
                self.error("-EINVAL")
            return  # the guest gets #GP
        if value & XTILEDATA and not self.room_for_xcr0(v):
            return
        v.xcr0 = value
        if guest:
            self.after_guest_xsetbv(v)

    # ------------------------------------------------------------------ policy hooks

    def create_buffer(self) -> tuple[int, bool]:
        """Pages and "holds XTILEDATA" of the buffer vzalloc'ed at KVM_CREATE_VCPU."""
        return self.hw.default_pages, False

    def initial_fps_xfd(self) -> int:
        """fpu_alloc_guest_fpstate(): "Leave xfd to 0 (the reset value defined by spec)"."""
        return 0

    def after_set_cpuid(self, v: Vcpu) -> None:
        """Upstream: the XFD write intercept stays until the first non-zero write."""

    def after_full_exit(self, v: Vcpu) -> None:
        """E1: vcpu_enter_guest(): ``if (vcpu->arch.xfd_no_write_intercept)
        fpu_sync_guest_vmexit_xfd_state();`` -- RDMSR into fpstate->xfd and xfd_state."""
        if v.passthrough:
            v.fps_xfd = self.rdmsr_xfd(v)

    def after_fastpath_exit(self, v: Vcpu) -> None:
        """Fastpath exits (EXIT_FASTPATH_REENTER_GUEST) pay nothing upstream."""

    def vm_entry(self, v: Vcpu) -> None:
        """Work right before every VM-entry, fastpath re-entries included."""

    def shuttles_xfd_err(self, v: Vcpu) -> bool:
        """E0/E2: ``if (vcpu->arch.guest_fpu.xfd_err) wrmsrl(MSR_IA32_XFD_ERR, ...)``."""
        return True

    def xfd_write_intercepted(self, v: Vcpu) -> bool:
        """vmx_set_msr(MSR_IA32_XFD) disables the intercept (RW) on a non-zero write."""
        return not v.passthrough

    def xfd_read_intercepted(self, v: Vcpu) -> bool:
        return not v.passthrough

    def xfd_err_read_intercepted(self, v: Vcpu) -> bool:
        return False

    def xfd_err_write_intercepted(self, v: Vcpu) -> bool:
        return True

    def emulate_wrmsr_xfd(self, v: Vcpu, value: int) -> None:
        """G1: fpu_update_guest_xfd() (WRMSR if in use and the cache differs); vmx_set_msr():
        ``if (!ret && data)`` disable the intercept, xfd_no_write_intercept = true."""
        v.guest_xfd = v.fps_xfd = value
        if v.running:
            self.xfd_update_state(v, value)
        if value:
            v.passthrough = True

    def emulate_wrmsr_xfd_err(self, v: Vcpu, value: int) -> None:
        v.xfd_err = value

    def host_set_xfd(self, v: Vcpu, value: int) -> None:
        """Host-initiated XFD write: same vmx_set_msr() path, no host_initiated check."""
        self.emulate_wrmsr_xfd(v, value)

    def nm_trapped(self, v: Vcpu) -> bool:
        """vmx_update_exception_bitmap(): #NM trapped once xfd_no_write_intercept."""
        return v.passthrough

    def nm_fault_irqoff(self, v: Vcpu) -> None:
        """handle_nm_fault_irqoff(): RDMSR XFD_ERR if guest XFD is non-zero and CR0.TS=0."""
        if v.guest_xfd:
            self.c.rdmsr_xfd_err += 1
            v.xfd_err = XTILEDATA

    def handle_nm(self, v: Vcpu) -> None:
        """handle_exception_nmi(): the #NM is queued for the guest; its handler runs next."""

    def after_guest_xsetbv(self, v: Vcpu) -> None:
        """Nothing happens upstream when the guest enables AMX in XCR0."""

    def room_for_xcr0(self, v: Vcpu) -> bool:
        """Whether XCR0 may enable XTILEDATA now (upstream: the buffer is already large)."""
        return True

    def room_for_tiles(self, v: Vcpu) -> bool:
        """Make room for restored tile data (policies with a lazy buffer grow it here)."""
        return self.realloc(v)

    def before_host_save(self, v: Vcpu) -> None:
        """Work before the host XSAVES a guest fpstate (R2, N4)."""

    def save_xfd(self, v: Vcpu) -> int:
        """The IA32_XFD value in force when the host XSAVES the guest state."""
        return self.pcpu(v).msr

    def host_switches(self, count: int) -> None:
        """Cost of ``count`` host context switches that involve no guest fpstate."""


def run_events(policy: str, hardware: Hardware, raw_events: list[dict]) -> dict[str, Any]:
    """Replay raw event mappings for one policy; return the counters with their prices."""
    from amxmodel.kernel.designs import make_model

    model = make_model(policy, hardware)
    for ev in parse_events(raw_events):
        model.apply(ev)
    return model.result()["counters"]
