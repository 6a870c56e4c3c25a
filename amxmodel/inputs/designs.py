"""The kernel designs that were on the table in 2021, as named policies.

Each policy is a way for KVM to keep the host's view of IA32_XFD consistent with a guest
that may write it, and a moment at which the guest's fpstate buffer grows to hold the
8 KiB of XTILEDATA. The names follow docs/amx-xfd-kvm.md (section
2); every policy's cost rule lives in :mod:`amxmodel.kernel.upstream` (event level) and is
priced in bulk by the fleet engine. ``upstream`` is what Linux merged in 5.17.
"""

from __future__ import annotations

from dataclasses import dataclass

from amxmodel.common.errors import InputError, unknown


@dataclass(frozen=True)
class Policy:
    """A design: its id, a one-line summary and where it comes from."""

    name: str
    summary: str
    source: str


POLICIES: dict[str, Policy] = {
    p.name: p
    for p in [
        Policy(
            "upstream",
            "eager realloc at KVM_SET_CPUID2; XFD writes intercepted until the first non-zero "
            "write, then passthrough with RDMSR XFD after every exit leaving the fastpath",
            "Linux 5.17 (v6 series 20220107185512.25321-1-pbonzini@redhat.com); "
            "fpu_sync_guest_vmexit_xfd_state(), vmx_set_msr(MSR_IA32_XFD)",
        ),
        Policy(
            "sync-always",
            "tglx's seed: RDMSR XFD after every exit leaving the fastpath on every vCPU of a "
            "host with dynamic features, AMX guest or not; realloc at KVM_SET_CPUID2. The seed's "
            "diff adds only that RDMSR; the model adds from 5.17 XFD passthrough (from "
            "KVM_SET_CPUID2), the #NM trap, XFD_ERR shuttling and the guest fpstate's xfd=0 "
            "reset value (v6 05/21; before it init_fpstate.xfd: option xfd_reset=init)",
            "87k0h85m65.ffs@tglx (2021-11-16)",
        ),
        Policy(
            "opt1-exit-clear",
            "Option 1: lazy realloc on exit to user space; at every full exit test XINUSE and, "
            "with tiles live, read XFD (syncing the guest fpstate) and clear it only if armed "
            "(restored before entry); the fpstate XFD is read before R2/N4 otherwise",
            "Jing Liu, 2021-11-10 (BYAPR11MB325685AB8E3DFD245846F854A9939@...)",
        ),
        Policy(
            "opt2-switch-check",
            "Option 2: lazy realloc on exit to user space; a check in every host context switch "
            "(XSAVES of a guest fpstate) instead of a per-exit cost",
            "Jing Liu, 2021-11-10; rejected in 87k0h85m65.ffs@tglx",
        ),
        Policy(
            "lazy-exit-user",
            "lazy passthrough: XSETBV/WRMSR(XFD) intercepted until the guest enables AMX, then "
            "an exit to user space to reallocate; per-exit RDMSR sync after passthrough",
            "Jing Liu, 2021-11-10 ('lazy passthrough')",
        ),
        Policy(
            "nm-first-use",
            "host keeps its XFD bits armed until the guest's first #NM, which reallocates and "
            "starts passthrough; from then on the guest fpstate's and the vCPU thread's XFD are "
            "0, and XFD is read after every exit (fastpath too) and switched like SPEC_CTRL "
            "when the guest's differs",
            "Paolo Bonzini, Oct 2021 (lkml 2110.1/05897 thread)",
        ),
        Policy(
            "xcr0-alloc",
            "realloc when guest XCR0 first enables AMX (XSETBV exit); passthrough and RDMSR sync "
            "as upstream",
            "Andy Lutomirski, Oct 2021 (same thread)",
        ),
        Policy(
            "prealloc",
            "full-size buffer for every vCPU at creation on an AMX host; sync as upstream",
            "Andy Lutomirski, Oct 2021 (same thread)",
        ),
        Policy(
            "rfc-switch",
            "Feb 2021 RFC: kmalloc(fpu_kernel_xstate_max_size) at vCPU creation (order 2, 16 "
            "KiB); XFD and XFD_ERR passed through, read after every exit and XFD zeroed when the "
            "guest's is set, written back before entry; XFD=0 for the whole KVM_RUN "
            "(vmx_xfd_load/put: a WRMSR pair per KVM_RUN)",
            "Feb 2021 RFC patch 3/7, 20210207154256.52850-4-jing2.liu@linux.intel.com",
        ),
        Policy(
            "no-amx",
            "the zero reference: the same host with AMX absent from the host XCR0 (no dynamic "
            "features, no XFD; guests whose XCR0 is the host's minus AMX pay no XSETBV)",
            "fpu_state_size_dynamic() false; kvm_host.xcr0 without XTILECFG|XTILEDATA",
        ),
    ]
}

POLICY_NAMES: tuple[str, ...] = tuple(POLICIES)


def resolve_policies(value, where: str = "policies") -> list[str]:
    """``all``, a comma-separated string or a list of names, as a checked list in catalogue order."""
    if value is None or value == "all" or value == ["all"]:
        return list(POLICY_NAMES)
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not value:
        raise InputError(f"{where}: expected 'all' or a list of policies; allowed: {', '.join(POLICY_NAMES)}")
    for name in value:
        if not isinstance(name, str):
            raise InputError(f"{where}: a policy is a name, got a {type(name).__name__}; allowed: "
                             f"{', '.join(POLICY_NAMES)}")
        if name not in POLICIES:
            raise unknown("policy", name, POLICY_NAMES, where)
    return [p for p in POLICY_NAMES if p in value]
