"""The 2021 designs as variants of the upstream reference model.

Each class changes only the hooks of :class:`amxmodel.kernel.upstream.ReferenceModel` where
its design differs from what Linux 5.17 merged (domain page, section 2):

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
  the first #NM; then XFD is switched around every exit like SPEC_CTRL;
- ``rfc-switch`` (Feb 2021 RFC): full-size buffers, XFD passed through and switched at
  every exit and entry;
- ``no-amx``: a host without dynamic features, the zero reference.

Every policy checks the permission at KVM_SET_CPUID2 (tglx's requirement), so one trace
means the same VMM under every design.
"""

from __future__ import annotations

from amxmodel.common.errors import unknown
from amxmodel.inputs.scenario import Hardware
from amxmodel.inputs.designs import POLICY_NAMES
from amxmodel.kernel.upstream import HOST_XFD, XTILEDATA, ReferenceModel, Vcpu


class SyncAlways(ReferenceModel):
    """tglx's seed: passthrough from KVM_SET_CPUID2, RDMSR after every full exit."""

    name = "sync-always"

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
    """Option 1: at every full exit test XINUSE; with tiles live clear XFD, restore at entry."""

    name = "opt1-exit-clear"

    def after_full_exit(self, v: Vcpu) -> None:
        """Jing Liu, 2021-11-10: "clear XFD temporarily at VM exit time if the extended
        feature (AMX) is in use (XINUSE)". Restoring it before entry needs the guest's value,
        so the clear is preceded by a read (the mail does not say how; this is the cheapest
        way that restores the right value)."""
        if not v.passthrough:
            return
        self.c.xinuse_checks += 1  # XGETBV(1)
        if v.tiles_live:
            v.pending_xfd = self.rdmsr_xfd(v)
            self.wrmsr_xfd(v, 0)

    def vm_entry(self, v: Vcpu) -> None:
        if v.pending_xfd is not None:
            self.wrmsr_xfd(v, v.pending_xfd)
            v.pending_xfd = None


class Opt2SwitchCheck(LazyExitUser):
    """Option 2: no per-exit cost; a check (and RDMSR) where the host saves a guest fpstate."""

    name = "opt2-switch-check"

    def after_full_exit(self, v: Vcpu) -> None:
        pass

    def before_host_save(self, v: Vcpu) -> None:
        if v.passthrough:
            self.c.switch_checks += 1
            v.fps_xfd = self.rdmsr_xfd(v)  # read the real value before XSAVES

    def host_switches(self, count: int) -> None:
        self.c.switch_checks += count  # every task switch on the host pays the branch


class NmFirstUse(ReferenceModel):
    """Paolo: host XFD bit armed under the guest until its first #NM, then SPEC_CTRL-style."""

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
        elif self.realloc(v):  # caused by the host bit: first use of AMX by this guest
            v.passthrough = True
            v.tiles_live = True  # re-entered, the instruction runs

    def after_full_exit(self, v: Vcpu) -> None:
        self.save_guest_xfd(v)

    def after_fastpath_exit(self, v: Vcpu) -> None:
        self.save_guest_xfd(v)

    def save_guest_xfd(self, v: Vcpu) -> None:
        """Like vmx_spec_ctrl_restore_host(): read the guest value, restore the host's."""
        if not v.passthrough:
            return
        v.guest_xfd = self.rdmsr_xfd(v)
        if v.guest_xfd != HOST_XFD:
            self.wrmsr_xfd(v, HOST_XFD)

    def vm_entry(self, v: Vcpu) -> None:
        if v.passthrough and v.guest_xfd != HOST_XFD:
            self.wrmsr_xfd(v, v.guest_xfd)

    def save_xfd(self, v: Vcpu) -> int:
        return v.guest_xfd  # assumption: the guest state is saved under the guest's XFD

    def room_for_tiles(self, v: Vcpu) -> bool:
        """Assumption: a restore of live tiles reallocates in the ioctl, as a first use."""
        if self.realloc(v):
            v.passthrough = True
        return v.passthrough


class RfcSwitch(ReferenceModel):
    """Feb 2021 RFC, patch 3/7 "Dynamic XSAVE and XFD MSRs context switch" (Jing Liu).

    The guest buffer is allocated at full size, XFD and XFD_ERR are passed through, and
    vmx_vcpu_run() switches them around every VM-entry, fastpath re-entries included:
    ``xfd_guest_exit()`` reads both MSRs and writes XFD=0 if the guest's value is set
    ("set IA32_XFD as zero during vmexit"); ``xfd_guest_enter()`` writes the guest's XFD and
    XFD_ERR back when they are non-zero. The host of that time ran with XFD=0 and knew no
    per-CPU XFD cache, so the FPU swap at KVM_RUN does not touch XFD; #NM is not trapped.
    """

    name = "rfc-switch"
    realloc_at_cpuid = False

    def create_buffer(self) -> tuple[int, bool]:
        return self.hw.amx_pages, True

    def on_create_vcpu(self, _v: None) -> None:
        super().on_create_vcpu(_v)
        assert self.ev is not None and self.ev.vcpu is not None
        p = self.pcpus[self.ev.vcpu]
        p.msr = p.cache = 0  # the host runs with XFD clear

    def after_set_cpuid(self, v: Vcpu) -> None:
        v.passthrough = v.cpuid_amx

    def xfd_err_write_intercepted(self, v: Vcpu) -> bool:
        return not v.passthrough

    def shuttles_xfd_err(self, v: Vcpu) -> bool:
        return False  # switched by xfd_guest_enter/exit instead

    def nm_trapped(self, v: Vcpu) -> bool:
        return False

    def swap_in(self, v: Vcpu) -> None:
        v.running = True

    def swap_out(self, v: Vcpu) -> None:
        self.host_save(v)
        v.running = False

    def on_host_preempt(self, v: Vcpu) -> None:
        self.host_save(v)  # under XFD=0: the host switched it off at the exit

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
    """A host without dynamic features: no XFD, nothing to virtualize."""

    name = "no-amx"
    amx_host = False
    realloc_at_cpuid = False

    def initial_fps_xfd(self) -> int:
        return HOST_XFD  # no XFD register: the model's cache never changes


MODELS: dict[str, type[ReferenceModel]] = {
    cls.name: cls
    for cls in (ReferenceModel, SyncAlways, Opt1ExitClear, Opt2SwitchCheck, LazyExitUser,
                NmFirstUse, Xcr0Alloc, Prealloc, RfcSwitch, NoAmx)
}
assert tuple(MODELS) == POLICY_NAMES, "one reference model per policy, in catalogue order"


def make_model(policy: str, hardware: Hardware) -> ReferenceModel:
    """A fresh reference model for ``policy``."""
    if policy not in MODELS:
        raise unknown("policy", policy, MODELS)
    return MODELS[policy](hardware)
