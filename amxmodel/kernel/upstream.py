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
exits, checks, tile saves, allocations. :func:`amxmodel.kernel.registry.run_events` replays a list of raw
events for one policy; :mod:`amxmodel.kernel.replay` does it per trace for many policies and prices
the counts with a hardware profile.

Every design also pays what AMX in the host XCR0 costs: KVM switches XCR0 with XSETBV
around VM-entries and exits whenever the guest has CR4.OSXSAVE and an XCR0 other than the
host's (:meth:`ReferenceModel.switch_xcr0`). Where kernel versions differ in a way that
changes counters or errors (where that switch sits, the Dec 2025 KVM_SET_XSAVE fix), the
``kernel`` argument selects the behaviour (:data:`KERNELS`, default the newest).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import astuple, dataclass, fields
from typing import Any, ClassVar

from amxmodel.common.errors import InputError, unknown
from amxmodel.inputs.hardware import Hardware
from amxmodel.kernel.trace import GUEST_EVENTS, Event, parse_event
from amxmodel.kernel.vocabulary import MECHS, OVERHEAD_GROUPS, mech_prices
from amxmodel.kernel.xfeatures import HOST_XCR0, HOST_XFD, XCR0_X87, XTILE, XTILEDATA

SETTLE_EXITS = 4  # repeated exits watched for a steady state before plain looping
CLOSED_FORM_MIN = 256  # exits per event from which watching for the steady state pays off
MAX_UNSETTLED_EXITS = 1_000_000  # about 4 s per policy when they do not settle
LEVEL_COUNTERS = ("pages", "peak_pages")  # levels, not sums: never extrapolated

# Host kernels whose behaviour differs in ways that change counters (``kernel`` of the
# replay). "5.17" and "6.18" (6.18.0-6.18.2) switch XCR0 inside vmx_vcpu_run(), i.e. on every
# VM-entry and VM-exit, fastpath re-entries included; "6.19" switches it once per
# vcpu_enter_guest(), outside the fastpath loop (Sean Christopherson, "KVM: x86: Load
# guest/host XCR0 and XSS outside of the fastpath run loop",
# 20251030224246.3456492-4-seanjc@google.com, v2 applied to kvm-x86 misc as 75c69c82f211 on
# 2025-11-21 for the 6.19 merge window) and has the Dec 2025 KVM_SET_XSAVE fix
# (20251224001249.1041934-1-pbonzini@redhat.com), which 5.17-6.18.2 lack.
KERNELS = ("5.17", "6.18", "6.19")
DEFAULT_KERNEL = KERNELS[-1]


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
    xsetbv: int = 0  # XSETBV by kvm_load_{guest,host}_xsave_state/_xfeatures (guest XCR0 != host's)
    xsetbv_amx: int = 0  # those of them that AMX in the host XCR0 causes (priced; 0 on no-amx)
    allocs: int = 0
    frees: int = 0
    reallocs: int = 0  # successful buffer growths (the vCPU-creation allocation excluded)
    realloc_failures: int = 0
    pages: int = 0  # guest fpstate pages resident now
    peak_pages: int = 0  # most pages resident at once (old + new during a reallocation)
    xsave2_allocs: int = 0  # KVM_GET_XSAVE2 buffers kzalloc'ed on a migration source
    xsave2_pages: int = 0  # their pages: 2**order of each (order 2 for 11,008 bytes)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


COUNTER_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Counters))


def mechanism_counts(counters: dict[str, Any]) -> dict[str, int]:
    """Counters as the priced mechanisms of :data:`amxmodel.kernel.vocabulary.MECHS`."""
    out = {m: counters[m] for m in MECHS if m in counters}
    out["intercept_exits"] = counters["xfd_exits"] - counters["nm_exits"]
    # only the XSETBVs that the same host without AMX in XCR0 would not execute are priced
    out["xsetbv"] = counters["xsetbv_amx"]
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
    xcr0: int = XCR0_X87  # vcpu->arch.xcr0 (reset value: x87 only)
    cr4_osxsave: bool = False  # guest CR4.OSXSAVE: KVM switches XCR0 only when it is set
    has_run: bool = False  # kvm_vcpu_has_run(): a VM-entry happened (last_vmentry_cpu != -1)
    cpuid_set: bool | None = None  # AMX flag of the CPUID set by KVM_SET_CPUID2 (None: none)
    bad_xstate: bool = False  # 5.17-6.18: XSTATE_BV[18] restored under guest XFD[18]=1
    cpuid_amx: bool = False  # XTILEDATA (and XFD) in the guest CPUID
    passthrough: bool = False  # xfd_no_write_intercept, or the design's "AMX enabled"
    tiles_live: bool = False  # XINUSE[18]
    running: bool = False  # guest fpstate swapped in (inside KVM_RUN)
    in_guest: bool = False  # VM-entry done; False while KVM handles an exit (entry pending)
    pending_xfd: int | None = None  # opt1/opt2: XFD to restore before the next entry
    thread_xfd: int = HOST_XFD  # the vCPU thread's own fpstate XFD (HOST_XFD: never used AMX)
    synced: bool = False  # opt1: fpstate->xfd read from the MSR since the last VM exit
    nested: bool = False  # the guest events come from an L2 guest of an L1 hypervisor


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

    # Design parameters (name -> allowed values) a policy takes besides hardware and kernel
    OPTIONS: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, hardware: Hardware, kernel: str = DEFAULT_KERNEL, **options: str):
        if kernel not in KERNELS:
            raise unknown("kernel", kernel, KERNELS)
        for key, value in options.items():
            if key not in self.OPTIONS:
                raise unknown(f"option of {self.name}", key, self.OPTIONS)
            if value not in self.OPTIONS[key]:
                raise unknown(f"{self.name} {key}", value, self.OPTIONS[key])
        self.options = {k: v[0] for k, v in self.OPTIONS.items()} | options
        self.hw = hardware
        self.kernel = kernel
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

    @property
    def host_xcr0(self) -> int:
        """kvm_host.xcr0: the AMX bits are in it only on a host with dynamic features."""
        return HOST_XCR0 if self.amx_host else HOST_XCR0 & ~XTILE

    def switch_xcr0(self, v: Vcpu, *, fastpath: bool = False) -> None:
        """One half of KVM's XCR0 switch, at a VM-entry or at a VM-exit (arch/x86/kvm/x86.c):
        ``if (kvm_is_cr4_bit_set(vcpu, X86_CR4_OSXSAVE)) { if (vcpu->arch.xcr0 !=
        kvm_host.xcr0) xsetbv(XCR_XFEATURE_ENABLED_MASK, ...); }``.

        Up to 6.18 this is kvm_load_guest_xsave_state()/kvm_load_host_xsave_state(), called
        by vmx_vcpu_run() around every VM-entry, so fastpath re-entries pay it too; since
        6.19 kvm_load_guest_xfeatures()/kvm_load_host_xfeatures() run in vcpu_enter_guest()
        before and after the fastpath loop, and a ``fastpath`` half costs nothing.

        ``xsetbv_amx`` counts the XSETBVs that AMX in the host XCR0 causes: the guest's XCR0
        is the host's minus XTILECFG|XTILEDATA, so the same host without AMX in XCR0 would
        match it and execute none. A guest whose XCR0 differs in other bits pays the XSETBV
        on either host (no AMX cost); a guest with AMX enabled equals the AMX host's XCR0.
        """
        if fastpath and self.kernel not in ("5.17", "6.18"):
            return
        host = self.host_xcr0
        if not v.cr4_osxsave or v.xcr0 == host:
            return
        self.c.xsetbv += 1
        if v.xcr0 == host & ~XTILE:
            self.c.xsetbv_amx += 1

    def _resident(self, delta: int) -> None:
        self.c.pages += delta
        self.c.peak_pages = max(self.c.peak_pages, self.c.pages)

    def realloc(self, v: Vcpu) -> bool:
        """fpstate_realloc(): vzalloc the full-size buffer, then vfree the old one.

        With ``fail_alloc`` on the event the vzalloc fails: -EFAULT to KVM, buffer unchanged.
        """
        if v.large:
            return True
        assert self.ev is not None
        if self.ev.args.get("fail_alloc"):
            self.c.realloc_failures += 1
            # __xfd_enable_feature(): "if (fpstate_realloc(...)) return -EFAULT;" -- the
            # vzalloc's -ENOMEM does not reach the caller
            self.error("-EFAULT")
            return False
        self.c.allocs += 1
        self._resident(self.hw.amx_pages)  # old and new both resident here: the peak
        self.c.frees += 1
        self._resident(-v.pages)
        v.pages, v.large = self.hw.amx_pages, True
        v.fps_xfd &= ~XTILEDATA  # fpstate_realloc(): newfps->xfd = curfps->xfd & ~xfeatures
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
        self.check_xrstor(v)

    def check_xrstor(self, v: Vcpu) -> None:
        """XRSTORS of a guest fpstate whose XSTATE_BV[18] is set while XFD[18]=1: #NM in the
        host kernel (5.17-6.18.2 after such a KVM_SET_XSAVE); the tile data is lost."""
        if v.bad_xstate:
            v.bad_xstate = False
            if self.pcpu(v).msr & XTILEDATA:
                self.error("host #NM in XRSTORS")
                v.tiles_live = False

    def swap_out(self, v: Vcpu) -> None:
        """R2: fpu_swap_kvm_fpstate(enter_guest=false): save guest state, back to HOST_XFD."""
        self.before_host_save(v)
        self.host_save(v)
        v.running = False
        self.xfd_update_state(v, self.vmm_thread_xfd(v))

    def ensure_in_guest(self, v: Vcpu) -> None:
        """The pending VM-entry, done when the guest runs again: vcpu_enter_guest() up to
        VM-entry, E0 (guest XFD_ERR back into the MSR) and the policy's entry work.

        Entries are lazy so that a ``host_preempt`` after an exit happens in the host,
        before the re-entry, as it does in the kernel.
        """
        if v.in_guest:
            return
        v.in_guest = v.has_run = True
        if self.shuttles_xfd_err(v) and v.xfd_err:
            self.c.wrmsr_xfd_err += 1
        self.switch_xcr0(v)
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
        self.switch_xcr0(v)  # host XCR0 back before anything touches xstate
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
        if not self.amx_host:  # (fpu_user_cfg.max_features & requested) != requested
            self.error("-EOPNOTSUPP")
            return
        if self.perm:  # "Lockless quick check": already permitted -> 0
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
        """A2/A2': kvm_set_cpuid() -> kvm_check_cpuid() -> fpu_enable_guest_xfd_features().

        - After the vCPU has entered the guest (kvm_vcpu_has_run()), kvm_set_cpuid() only
          accepts the CPUID it already has (kvm_cpuid_check_equal(): -EINVAL otherwise) and
          returns before kvm_check_cpuid(): no reallocation.
        - XTILEDATA in leaf 0xD needs the guest permission; on a host without AMX it can
          never be granted (the request fails with -EOPNOTSUPP), so
          __xfd_enable_feature() fails the same way: -EPERM ("If not permitted let it die").
        """
        amx = self.ev["amx"]
        if v.has_run:
            if v.cpuid_set is None or amx != v.cpuid_set:
                self.error("-EINVAL")
            return
        if amx and (not self.amx_host or not self.perm):
            self.error("-EPERM")
            return
        if amx and self.realloc_at_cpuid and not self.realloc(v):
            return
        v.cpuid_amx = amx
        v.cpuid_set = amx
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
            self.switch_xcr0(v, fastpath=True)
            self.after_fastpath_exit(v)
            self.switch_xcr0(v, fastpath=True)
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
        if intercepted or v.nested:  # L2: see on_guest_nested
            self.full_exit(v, xfd=True, handler=emulate)
        elif direct is not None:
            direct()

    def on_guest_wrmsr_xfd(self, v: Vcpu) -> None:
        """G1 (intercepted: exit, emulate) or G1' (passthrough: straight to the MSR)."""
        value = self.ev["value"]
        intercepted = self.xfd_write_intercepted(v)
        emulate = (lambda: self.emulate_wrmsr_xfd(v, value)) if intercepted or not v.nested \
            else (lambda: self.emulate_l2_wrmsr_xfd(v, value))
        self.guest_msr(v, intercepted, emulate, lambda: self.passthrough_wrmsr_xfd(v, value))

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
            if self.nm_trapped(v) or v.nested:
                self.full_exit(v, xfd=True, nm=True, handler=lambda: self.handle_nm(v))
                if v.nested:
                    self.reflect_nm_to_l1(v)
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
        """KVM_SET_XSAVE(2): tile data is kept only if the guest XFD leaves it enabled.

        6.19 (and the stable kernels that took the fix): XSTATE_BV[18] is cleared while the
        guest's XFD[18] is set (20251224001249.1041934-1-pbonzini@redhat.com). 5.17 to
        6.18.2 keep it: the next XRSTORS of the guest fpstate, under XFD[18]=1, raises #NM
        in the host (recorded as an error of that KVM_RUN, see :meth:`check_xrstor`).
        """
        if not self.amx_host:
            return
        if not self.ev["tiles_live"]:
            v.tiles_live = False
            return
        if not v.cpuid_amx:  # fpu_copy_uabi_to_guest_fpstate(): xfeatures & ~xcr0
            self.error("-EINVAL")
            return
        armed = bool(v.guest_xfd & XTILEDATA)
        if armed and self.kernel in ("5.17", "6.18"):
            v.bad_xstate = v.tiles_live = self.room_for_tiles(v)
            return
        v.tiles_live = not armed and self.room_for_tiles(v)

    def on_host_preempt(self, v: Vcpu) -> None:
        """N4: something else runs on this CPU while the guest fpstate is loaded.

        switch_fpu() (arch/x86/kernel/fpu/context.h and sched.h) only saves the registers
        (XSAVES, tile data included when live) and marks TIF_NEED_FPU_LOAD; XFD is written
        by restore_fpregs_from_fpstate() -> xfd_update_state() when a task's registers are
        restored on its way to user space (fpregs_restore_userregs()) or into the guest
        (vcpu_enter_guest() -> switch_fpu_return()), and that restore is skipped while
        fpregs_state_valid() (fpu_fpregs_owner_ctx still this fpstate on this CPU). So:

        - ``user``: another user task runs and its XFD (HOST_XFD) is restored; the vCPU
          thread's return restores the guest fpstate and its XFD: WRMSR when they differ;
        - ``kthread``: a kernel thread or idle (a vCPU blocking in HLT included) never
          restores user registers; the vCPU thread finds its registers valid: no WRMSR;
        - ``kernel_fpu``: kernel_fpu_begin_mask() saves the registers and invalidates them
          but does not touch XFD; the later restore of the guest fpstate finds the cache
          equal to its XFD: no WRMSR (the tile data is saved and restored).
        """
        self.before_host_save(v)
        self.host_save(v)
        if self.ev["by"] == "user":
            self.xfd_update_state(v, HOST_XFD)  # the other task never used AMX
            self.xfd_update_state(v, v.fps_xfd)

    def on_host_switch(self) -> None:
        """Host context switches that involve no guest fpstate."""
        self.host_switches(self.ev["count"])

    # ------------------------------------------------------------------ fleet events

    def on_vcpu_switch(self, v: Vcpu) -> None:
        """Overcommit: this vCPU thread leaves its CPU after an exit and is scheduled back
        after another vCPU thread, whose guest fpstate holds XFD ``from_xfd``, ran there.

        switch_to() -> switch_fpu_prepare() saves the guest fpstate (XSAVES, 8 KiB with
        live tiles); the other thread's restore left ``from_xfd`` in IA32_XFD and in the
        per-CPU ``xfd_state`` (that write is the other thread's own switch, counted there);
        back in vcpu_enter_guest(), ``TIF_NEED_FPU_LOAD`` -> switch_fpu_return() ->
        restore_fpregs_from_fpstate() -> xfd_update_state(): WRMSR only if the values
        differ. vCPU threads with equal XFD share a CPU for free.
        """
        if not self.amx_host:
            return
        self.before_host_save(v)
        self.host_save(v)
        p = self.pcpu(v)
        p.msr = p.cache = self.ev["from_xfd"]
        self.resume_after_switch(v)

    def on_vcpu_halt(self, v: Vcpu) -> None:
        """A blocking HLT: kvm_vcpu_halt() -> kvm_vcpu_block() -> schedule() with the guest
        FPU loaded (KVM_RUN holds it from kvm_load_guest_fpu() to kvm_put_guest_fpu()).

        switch_to() the idle task saves the guest fpstate (XSAVES; live tiles are saved,
        the guest's idle loop releases them only through the cpuidle driver's
        fpu_idle_fpregs(), which a HLT-idling guest does not use). Idle is a kernel thread:
        it never loads an fpstate, so IA32_XFD and ``xfd_state`` keep the vCPU's value, and
        on wake-up fpregs_state_valid() skips the restore: no WRMSR(XFD).
        """
        if not self.amx_host:
            return
        self.before_host_save(v)
        self.host_save(v)

    def on_migrate(self, v: Vcpu) -> None:
        """Live migration of a stopped vCPU: the VMM's ioctls on both hosts, in QEMU's order
        (target/i386/kvm/kvm.c: kvm_arch_get_registers / kvm_arch_put_registers).

        Source: KVM_GET_XSAVE2 kzalloc()s ``guest_fpu.uabi_size`` bytes (arch/x86/kvm/x86.c):
        11,008 with XTILEDATA in the buffer, above kmalloc's 8 KiB slab limit, so an order-2
        page allocation; KVM_GET_MSRS reads XFD and XFD_ERR, KVM_GET_XCRS the XCR0; the
        source vCPU is destroyed (A4). Destination, on a new CPU: KVM_CREATE_VCPU (A1),
        KVM_SET_CPUID2 (A2: the eager reallocation), KVM_SET_XSAVE2 (live tiles: the lazy
        designs reallocate here), KVM_SET_XCRS, then KVM_SET_MSRS with the saved XFD (a
        non-zero value turns passthrough on at once, vmx_set_msr()) and XFD_ERR. The VMM
        re-enters with ``run_enter``. ``fail_alloc`` fails the destination's reallocation
        (a realloc failure, -EFAULT); the restore stops at the first error.
        """
        ev = self.ev
        assert ev is not None
        amx, xcr0, xfd, xfd_err = v.cpuid_amx, v.xcr0, v.guest_xfd, v.xfd_err
        tiles, nested = v.tiles_live, v.nested  # KVM_GET/SET_NESTED_STATE carries L2 mode
        size = self.hw.xsave_uabi_amx_bytes if v.large else self.hw.xsave_uabi_bytes
        self.c.xsave2_allocs += 1
        self.c.xsave2_pages += 1 << max(0, math.ceil(math.log2(self.hw.pages(size))))
        self.on_destroy_vcpu(v)
        self.pcpus.pop(v.vid, None)  # the destination's CPU: xfd_state holds the host value
        steps = [{"event": "create_vcpu"},
                 {"event": "set_cpuid", "amx": amx, "fail_alloc": ev["fail_alloc"]},
                 {"event": "host_set_xsave", "tiles_live": tiles and amx, "fail_alloc": ev["fail_alloc"]},
                 {"event": "host_set_xcr0", "value": xcr0}]
        if amx:  # QEMU puts MSR_IA32_XFD / XFD_ERR only when the guest has XFD
            steps += [{"event": "host_set_msr", "msr": "xfd", "value": xfd},
                      {"event": "host_set_msr", "msr": "xfd_err", "value": xfd_err}]
        try:
            for raw in steps:
                before = len(self.errors)
                self.apply(parse_event(dict(raw, vcpu=v.vid), ev.index, "migrate"))
                if len(self.errors) > before:
                    break  # QEMU aborts the incoming migration at the first failed ioctl
        finally:
            self.ev = ev
        if v.vid in self.vcpus:
            self.vcpus[v.vid].nested = nested

    def on_guest_nested(self, v: Vcpu) -> None:
        """The vCPU's L1 hypervisor enters (``l2: true``) or leaves an L2 guest that uses AMX.

        nested_vmx_prepare_msr_bitmap() (arch/x86/kvm/vmx/nested.c) starts the vmcs02 MSR
        bitmap fully intercepted and merges only FS/GS/KERNEL_GS_BASE, SPEC_CTRL, PRED_CMD
        and FLUSH_CMD (and x2APIC) from L1's bitmap: every L2 access to XFD or XFD_ERR exits
        to L0, which emulates it (L1 upstream passes them through to its L2, so the exit is
        not reflected). The vmcs02 exception bitmap is L0's OR L1's, and an upstream L1 traps
        #NM for its passthrough L2: an L2 #NM exits to L0 (which reads XFD_ERR) and is
        reflected to L1 (:meth:`reflect_nm_to_l1`). VMLAUNCH/VMRESUME exits are baseline.
        """
        v.nested = self.ev["l2"]

    def reflect_nm_to_l1(self, v: Vcpu) -> None:
        """The L2 #NM goes to L1, which queues it for L2 and resumes it: L1's VMRESUME is
        one more exit to L0 (nested_vmx_run), handled in KVM; L0's entry into L1 comes first."""
        self.ensure_in_guest(v)
        self.full_exit(v, xfd=True)

    def emulate_l2_wrmsr_xfd(self, v: Vcpu, value: int) -> None:
        """An L2 write of XFD that L1's design would pass through: L0 emulates it with
        kvm_set_msr_common() -> fpu_update_guest_xfd(): fpstate->xfd = value and, with the
        guest FPU loaded, xfd_update_state(): WRMSR if the value differs. Upstream's E1 has
        just synced the per-CPU cache with the register; designs without that sync are
        given a correct write (compared with the register, not a stale cache)."""
        v.guest_xfd = v.fps_xfd = value
        if v.running and self.pcpu(v).msr != value:
            self.wrmsr_xfd(v, value)

    def resume_after_switch(self, v: Vcpu) -> None:
        """switch_fpu_return() when the vCPU thread runs again: restore its XFD."""
        self.xfd_update_state(v, v.fps_xfd)

    def set_xcr0(self, v: Vcpu, value: int, *, guest: bool) -> None:
        """__kvm_set_xcr() from XSETBV (guest) or KVM_SET_XCRS (host)."""
        if guest:  # XSETBV #UDs unless CR4.OSXSAVE=1: one that reached KVM means the bit
            v.cr4_osxsave = True  # is set (Linux: fpu__init_cpu_xstate() sets it first)
        if not self.xcr0_valid(value, v):
            if not guest:
                self.error("-EINVAL")
            return  # the guest gets #GP
        if value & XTILEDATA and not self.room_for_xcr0(v):
            return
        v.xcr0 = value
        if not guest:  # KVM_SET_XCRS comes with the KVM_SET_SREGS of the same restore
            assert self.ev is not None
            v.cr4_osxsave = bool(self.ev.args.get("osxsave", True))
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
        """handle_nm_fault_irqoff(): RDMSR XFD_ERR if the guest fpstate's XFD is non-zero
        (5.17), and since 6.15 only for an XFD #NM, i.e. also with guest CR0.TS=0
        (is_xfd_nm_fault(); "Fix a bug where KVM unnecessarily reads XFD_ERR from hardware
        ... on a #NM due to CR0.TS=1", KVM VMX pull for 6.15). The modelled guests run with
        CR0.TS=0 (Linux uses eager FPU switching), so both versions read it here, and after
        E1 the guest's XFD is the fpstate's."""
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

    def vmm_thread_xfd(self, v: Vcpu) -> int:
        """XFD of the vCPU thread's own (VMM) fpstate, restored at R2."""
        return v.thread_xfd
