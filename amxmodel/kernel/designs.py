"""The 2021 designs as variants of the upstream reference model.

Each class changes only the hooks of :class:`amxmodel.kernel.upstream.ReferenceModel` where
its design differs from what Linux 5.17 merged (docs/amx-xfd-kvm.md, section 2):

- ``sync-always`` (tglx, 87k0h85m65.ffs@tglx): no XFD intercept for AMX guests, and
  RDMSR XFD after every full exit of every vCPU on a host with dynamic features;
- ``xcr0-alloc`` / ``prealloc`` (Andy Lutomirski): the buffer grows when the guest's
  XCR0 enables XTILEDATA, or is full-size from KVM_CREATE_VCPU;
- ``lazy-exit-user`` (Jing Liu's "lazy passthrough"): XFD and XFD_ERR stay virtual until an
  intercepted XSETBV or WRMSR(XFD) leaves XCR0[18]=1 and XFD[18]=0; KVM then returns to the
  VMM, which reallocates and re-enters; afterwards as upstream. ``opt1-exit-clear`` and
  ``opt2-switch-check`` replace the per-exit RDMSR of that design with an XINUSE test at
  exit, or with a check where the host saves a guest fpstate;
- ``nm-first-use`` (Paolo Bonzini): the host keeps its XFD bit armed under the guest until
  the first #NM, after which the guest fpstate's and the vCPU thread's XFD are 0 and XFD is
  switched around every exit like SPEC_CTRL;
- ``rfc-switch`` (Feb 2021 RFC): full-size (order-2 kmalloc) buffers, XFD passed through,
  switched at every exit and entry and zeroed for the whole KVM_RUN;
- ``no-amx``: the zero reference, the same host with AMX absent from the host XCR0.

Every policy checks the permission at KVM_SET_CPUID2 (tglx's requirement), so one trace
means the same VMM under every design.
"""

from __future__ import annotations

import math
from typing import ClassVar

from amxmodel.kernel.upstream import ReferenceModel, Vcpu
from amxmodel.kernel.xfeatures import HOST_XFD, XTILEDATA


class SyncAlways(ReferenceModel):
    """tglx's seed: passthrough from KVM_SET_CPUID2, RDMSR after every full exit.

    The seed's diff (87k0h85m65.ffs@tglx) adds only the RDMSR after the fastpath loop,
    gated on fpu_state_size_dynamic(). Everything else this model runs is what 5.17 merged
    and the model adds to the seed: XFD passthrough (here from KVM_SET_CPUID2 instead of
    the first non-zero write), #NM trapped once passthrough is on with XFD_ERR read in
    handle_nm_fault_irqoff() and shuttled around entries (E0/E2), the eager reallocation
    at KVM_SET_CPUID2, and the guest fpstate's XFD reset value. That value only arrived in
    v6 05/21 "Make XFD initialization in __fpstate_reset() a function argument"; before it
    the guest fpstate took init_fpstate.xfd (0x40000 on an AMX host). Both readings are
    the design option ``xfd_reset``: ``zero`` (5.17, the default) or ``init``. It matters
    for vCPUs whose CPUID lacks AMX: fpstate_realloc() clears the AMX bit for the others
    (newfps->xfd = curfps->xfd & ~xfeatures), and with ``init`` a vCPU without AMX keeps
    XFD=0x40000, the VMM thread's value, so its exits to user space write no XFD.
    """

    name = "sync-always"
    OPTIONS: ClassVar[dict[str, tuple[str, ...]]] = {"xfd_reset": ("zero", "init")}

    def initial_fps_xfd(self) -> int:
        return HOST_XFD if self.options["xfd_reset"] == "init" else 0

    def after_set_cpuid(self, v: Vcpu) -> None:
        if v.cpuid_amx:
            v.passthrough = True  # no XFD write intercept ever for an AMX guest

    def after_full_exit(self, v: Vcpu) -> None:
        # "if (fpu_state_size_dynamic()) rdmsrl(MSR_IA32_XFD, ...)": every vCPU, every exit
        v.fps_xfd = self.rdmsr_xfd(v)


class Xcr0Alloc(ReferenceModel):
    """Andy: grow the buffer when XCR0 first enables XTILEDATA (in the kernel, no user exit)."""

    name = "xcr0-alloc"
    realloc_at_cpuid = False

    def room_for_xcr0(self, v: Vcpu) -> bool:
        return self.realloc(v)


class Prealloc(ReferenceModel):
    """Andy's alternative: a full-size buffer for every vCPU at KVM_CREATE_VCPU."""

    name = "prealloc"
    realloc_at_cpuid = False

    def create_buffer(self) -> tuple[int, bool]:
        return self.hw.amx_pages, True


class LazyExitUser(ReferenceModel):
    """Jing's lazy passthrough: virtual XFD/XFD_ERR until AMX is enabled, then upstream."""

    name = "lazy-exit-user"
    realloc_at_cpuid = False

    def initial_fps_xfd(self) -> int:
        return HOST_XFD  # the hardware keeps the host value while the guest runs

    def shuttles_xfd_err(self, v: Vcpu) -> bool:
        return v.passthrough

    def xfd_err_read_intercepted(self, v: Vcpu) -> bool:
        return not v.passthrough

    def emulate_wrmsr_xfd(self, v: Vcpu, value: int) -> None:
        v.guest_xfd = value  # virtual
        self.maybe_enable(v)

    def host_set_xfd(self, v: Vcpu, value: int) -> None:
        v.guest_xfd = value
        if v.passthrough:
            v.fps_xfd = value
        elif v.cpuid_amx and v.xcr0 & XTILEDATA and not value & XTILEDATA:
            self.enable(v)  # assumption (issue 17): a restore (live migration) that leaves
            # AMX enabled grows the buffer in the ioctl, as room_for_tiles() does

    def after_guest_xsetbv(self, v: Vcpu) -> None:
        self.maybe_enable(v)

    def maybe_enable(self, v: Vcpu) -> None:
        """XCR0[18]=1 and XFD[18]=0: exit to the VMM, reallocate there, re-enter."""
        if v.passthrough or not v.cpuid_amx:
            return
        if v.xcr0 & XTILEDATA and not v.guest_xfd & XTILEDATA:
            self.bounce_to_vmm(v, lambda: self.enable(v))

    def enable(self, v: Vcpu) -> None:
        if self.realloc(v):
            v.passthrough = True
            v.fps_xfd = v.guest_xfd

    def room_for_tiles(self, v: Vcpu) -> bool:
        """Assumption: a restore of live tiles reallocates in the ioctl and enables AMX."""
        self.enable(v)
        return v.passthrough


class Opt1ExitClear(LazyExitUser):
    """Option 1: at every full exit test XINUSE; with tiles live make sure XFD[18] is clear.

    Jing Liu, 2021-11-10: "clear XFD temporarily at VM exit time if the extended feature
    (AMX) is in use (XINUSE)". A guest with live tiles normally runs with XFD[18]=0 (its
    kernel clears XFD for an AMX task before the task touches the tiles), so the exit reads
    XFD and writes 0 only in the rare case where the guest armed XFD over live tiles (the
    Dec 2025 case), restoring the guest's value before the next entry. The read also
    syncs the guest fpstate's XFD and the per-CPU cache. Without live tiles there is no
    per-exit read, so the fpstate's XFD would go stale when the guest writes XFD directly
    (a non-AMX task arms it); the model reads it where the host relies on it, before the
    host saves or swaps out the guest fpstate (R2, N4) unless an exit already read it.
    The mail does not spell out either read: both are the cheapest correct completion.
    """

    name = "opt1-exit-clear"

    def after_full_exit(self, v: Vcpu) -> None:
        v.synced = False
        if not v.passthrough:
            return
        self.c.xinuse_checks += 1  # XGETBV(1)
        if v.tiles_live:
            self.sync_fps_xfd(v)
            if v.fps_xfd & XTILEDATA:  # armed over live tiles: clear for the host's XSAVES
                v.pending_xfd = v.fps_xfd
                self.wrmsr_xfd(v, 0)

    def sync_fps_xfd(self, v: Vcpu) -> None:
        """RDMSR XFD into fpstate->xfd and the per-CPU cache (once per exit)."""
        if not v.synced:
            v.fps_xfd = self.rdmsr_xfd(v)
            v.synced = True

    def before_host_save(self, v: Vcpu) -> None:
        if v.passthrough and v.pending_xfd is None:
            self.sync_fps_xfd(v)

    def vm_entry(self, v: Vcpu) -> None:
        if v.pending_xfd is not None:
            self.wrmsr_xfd(v, v.pending_xfd)
            v.pending_xfd = None


class Opt2SwitchCheck(LazyExitUser):
    """Option 2: no per-exit cost; a check (and RDMSR) where the host saves a guest fpstate.

    With tiles live and XFD[18] armed (the rare case) the check clears XFD before XSAVES,
    so the tile data is saved rather than dropped; the guest's value goes back into the
    MSR before the next entry (fpstate->xfd keeps it).
    """

    name = "opt2-switch-check"

    def after_full_exit(self, v: Vcpu) -> None:
        pass

    def before_host_save(self, v: Vcpu) -> None:
        if v.passthrough:
            self.c.switch_checks += 1
            v.fps_xfd = self.rdmsr_xfd(v)  # read the real value before XSAVES
            if v.tiles_live and v.fps_xfd & XTILEDATA:
                self.wrmsr_xfd(v, 0)
                v.pending_xfd = v.fps_xfd

    def vm_entry(self, v: Vcpu) -> None:
        if v.pending_xfd is not None:
            if self.pcpu(v).msr != v.pending_xfd:
                self.wrmsr_xfd(v, v.pending_xfd)
            v.pending_xfd = None

    def host_switches(self, count: int) -> None:
        self.c.switch_checks += count  # every task switch on the host pays the branch


class NmFirstUse(ReferenceModel):
    """Paolo: host XFD bit armed under the guest until its first #NM, then SPEC_CTRL-style.

    Three copies of XFD (Paolo Bonzini, 2021-10-13, as summarized in docs/amx-xfd-kvm.md,
    section 9; the message itself could not be retrieved here): the guest's architectural
    value, the guest fpstate's and the host task's. Until the first #NM the guest runs under
    ``guest_xfd | HOST_XFD`` (writes and #NM intercepted). The first #NM caused by the host
    bit is the vCPU thread's first use of AMX: its buffer grows, the guest fpstate's XFD
    "becomes zero", and so does the XFD of the task that owns the vCPU thread, which is
    what KVM restores after every VM exit (like SPEC_CTRL: read the guest value, write the
    host's if they differ; write the guest's back before entry when it differs). So after
    the first use the host runs with XFD=0 between exit and entry and saves live tiles
    under XFD=0; the WRMSR pair is paid while the guest's XFD is armed (S3), and R1/R2 find
    the cache equal to the task's XFD (0): no write.
    """

    name = "nm-first-use"
    realloc_at_cpuid = False

    def initial_fps_xfd(self) -> int:
        return HOST_XFD  # guest_xfd | HOST_XFD while the guest runs

    def shuttles_xfd_err(self, v: Vcpu) -> bool:
        return False  # emulated before passthrough, passed through after

    def xfd_err_read_intercepted(self, v: Vcpu) -> bool:
        return not v.passthrough

    def xfd_err_write_intercepted(self, v: Vcpu) -> bool:
        return not v.passthrough

    def emulate_wrmsr_xfd(self, v: Vcpu, value: int) -> None:
        v.guest_xfd = value
        v.fps_xfd = value | HOST_XFD
        if v.running:
            self.xfd_update_state(v, v.fps_xfd)

    def host_set_xfd(self, v: Vcpu, value: int) -> None:
        if v.passthrough:
            v.guest_xfd = value  # written at the next entry
        else:
            self.emulate_wrmsr_xfd(v, value)

    def nm_trapped(self, v: Vcpu) -> bool:
        return not v.passthrough

    def nm_fault_irqoff(self, v: Vcpu) -> None:
        pass

    def handle_nm(self, v: Vcpu) -> None:
        if v.guest_xfd & XTILEDATA:
            v.xfd_err = XTILEDATA  # the guest's own #NM, reflected with virtual XFD_ERR
        elif self.first_use(v):
            v.tiles_live = True  # re-entered, the instruction runs

    def first_use(self, v: Vcpu) -> bool:
        """The vCPU thread's first use of AMX: grow the buffer, clear its XFD copies."""
        if not self.realloc(v):
            return False
        v.passthrough = True
        v.fps_xfd = v.thread_xfd = 0
        self.xfd_update_state(v, 0)  # the host value from now on (the entry writes the guest's)
        return True

    def after_full_exit(self, v: Vcpu) -> None:
        self.save_guest_xfd(v)

    def after_fastpath_exit(self, v: Vcpu) -> None:
        self.save_guest_xfd(v)

    def save_guest_xfd(self, v: Vcpu) -> None:
        """Like vmx_spec_ctrl_restore_host(): read the guest value, restore the host's."""
        if not v.passthrough:
            return
        v.guest_xfd = self.rdmsr_xfd(v)
        if v.guest_xfd != v.thread_xfd:
            self.wrmsr_xfd(v, v.thread_xfd)

    def vm_entry(self, v: Vcpu) -> None:
        if v.passthrough and v.guest_xfd != self.pcpu(v).msr:
            self.wrmsr_xfd(v, v.guest_xfd)

    def room_for_tiles(self, v: Vcpu) -> bool:
        """Assumption: a restore of live tiles reallocates in the ioctl, as a first use."""
        self.first_use(v)
        return v.passthrough


class RfcSwitch(ReferenceModel):
    """Feb 2021 RFC, patch 3/7 "kvm: x86: XSAVE state and XFD MSRs context switch" (Jing Liu,
    20210207154256.52850-4-jing2.liu@linux.intel.com), read line by line:

    - kvm_arch_vcpu_create(): with dynamic features, ``guest_fpu->state_ptr =
      kmalloc(fpu_kernel_xstate_max_size)``: the full-size buffer at creation, a kmalloc of
      ~10.8 KB, which is above the largest kmalloc slab (8 KiB) and goes to the page
      allocator as an order-2 (16 KiB, 4-page) allocation (:meth:`rfc_pages`);
    - kvm_load_guest_fpu() -> vmx_xfd_load(): for a guest with XFD in CPUID,
      ``host_ia32_xfd = xfirstuse_not_detected(user_fpu)`` (the VMM thread's armed bits,
      0x40000) and, if non-zero, WRMSR XFD=0: "Keep IA32_XFD as zero in hypervisor";
    - kvm_put_guest_fpu() -> vmx_xfd_put(): WRMSR the VMM thread's value back, and WRMSR
      XFD_ERR=0 if the guest's saved XFD_ERR is non-zero. So XFD is zero only inside
      KVM_RUN; host tasks keep it armed until their own first use;
    - vmx_vcpu_run(): ``xfd_guest_enter()`` before every VM-entry (WRMSR the guest's XFD and
      XFD_ERR when non-zero) and ``xfd_guest_exit()`` after every VM-exit (RDMSR both, WRMSR
      XFD=0 if the guest's is non-zero), fastpath re-entries included.

    XFD and XFD_ERR are passed through, #NM is not trapped. The host of that series (Chang
    Bae's dynamic-xstate v3) wrote XFD in switch_to when the next task's value differed,
    which the base model's per-CPU cache reproduces for a preemption by a user task.
    """

    name = "rfc-switch"
    realloc_at_cpuid = False

    def rfc_pages(self) -> int:
        """Pages of ``kmalloc(fpu_kernel_xstate_max_size)``: the page allocator's order."""
        return 1 << math.ceil(math.log2(self.hw.amx_pages))

    def create_buffer(self) -> tuple[int, bool]:
        return self.rfc_pages(), True

    def after_set_cpuid(self, v: Vcpu) -> None:
        v.passthrough = v.cpuid_amx
        v.fps_xfd = 0 if v.passthrough else HOST_XFD  # XFD while the guest FPU is loaded

    def xfd_err_write_intercepted(self, v: Vcpu) -> bool:
        return not v.passthrough

    def shuttles_xfd_err(self, v: Vcpu) -> bool:
        return False  # switched by xfd_guest_enter/exit instead

    def nm_trapped(self, v: Vcpu) -> bool:
        return False

    def swap_in(self, v: Vcpu) -> None:
        """kvm_load_guest_fpu() -> vmx_xfd_load()."""
        v.running = True
        if v.passthrough and v.thread_xfd:
            self.wrmsr_xfd(v, 0)

    def swap_out(self, v: Vcpu) -> None:
        """kvm_put_guest_fpu(): save the guest state (under XFD=0), then vmx_xfd_put()."""
        self.host_save(v)
        v.running = False
        if v.passthrough:
            if v.thread_xfd:
                self.wrmsr_xfd(v, v.thread_xfd)
            if v.xfd_err:
                self.c.wrmsr_xfd_err += 1  # "User (qemu) IA32_XFD_ERR should be zero."

    def on_vcpu_switch(self, v: Vcpu) -> None:
        self.host_save(v)  # every host thread runs with XFD=0: nothing to switch

    def after_full_exit(self, v: Vcpu) -> None:
        self.xfd_guest_exit(v)

    def after_fastpath_exit(self, v: Vcpu) -> None:
        self.xfd_guest_exit(v)

    def xfd_guest_exit(self, v: Vcpu) -> None:
        """rdmsrl(XFD); rdmsrl(XFD_ERR); if (xfd) wrmsrl(XFD, 0)."""
        if not v.passthrough:
            return
        v.guest_xfd = self.rdmsr_xfd(v)
        self.c.rdmsr_xfd_err += 1
        if v.guest_xfd:
            self.wrmsr_xfd(v, 0)

    def vm_entry(self, v: Vcpu) -> None:
        """xfd_guest_enter(): guest values back, only when non-zero."""
        if not v.passthrough:
            return
        if v.guest_xfd:
            self.wrmsr_xfd(v, v.guest_xfd)
        if v.xfd_err:
            self.c.wrmsr_xfd_err += 1


class NoAmx(ReferenceModel):
    """The zero reference: the same host with AMX absent from its XCR0 (no dynamic
    features, no XFD, nothing to virtualize). A guest whose XCR0 is the AMX host's minus
    XTILECFG|XTILEDATA equals this host's XCR0: KVM switches no XCR0 for it."""

    name = "no-amx"
    amx_host = False
    realloc_at_cpuid = False

    def initial_fps_xfd(self) -> int:
        return HOST_XFD  # no XFD register: the model's cache never changes
