"""The vocabulary shared by the cost table, the fleet engine and the mean-field model.

A vCPU is in one of six pricing states. They are what decides, for a given design, what a
VM exit or a host preemption costs:

=====  ===============================================================================
S0     guest CPUID without AMX: the guest never touches XFD
S1     CPUID lists AMX, guest kernel not AMX-aware (< 5.16): XFD stays 0, XCR0 lacks AMX
S2     AMX-aware guest (wrote XFD=0x40000 at boot), AMX not used yet on this vCPU
S3     AMX used on this vCPU, a non-AMX task runs (XFD=0x40000, tiles in init state)
S4     an AMX task runs with live tiles (XFD=0, XINUSE[18]=1)
S5     an AMX task runs with tiles released (XFD=0, XINUSE[18]=0)
=====  ===============================================================================

Rated events happen at a rate per vCPU in every state (VM exits by kind, host
preemptions); point events move a vCPU between states or happen at a known moment (boot,
the first AMX use on a vCPU, a new AMX thread, a switch between AMX and non-AMX tasks,
a host context switch). Counts of kernel mechanisms (:data:`MECHS`) are what the tables
give; cycles come from multiplying by a hardware profile, so one simulation serves every
cost assumption.
"""

from __future__ import annotations

STATES = ("S0", "S1", "S2", "S3", "S4", "S5")
STATE_HELP = {
    "S0": "CPUID without AMX",
    "S1": "AMX in CPUID, legacy guest",
    "S2": "AMX-aware guest, AMX unused",
    "S3": "AMX used, non-AMX task",
    "S4": "AMX task, tiles live",
    "S5": "AMX task, tiles released",
}
VM_EXIT_KINDS = ("fastpath", "kernel", "user")
# What runs while the guest fpstate is loaded after an exit (host_preempt ``by``): another
# user task, a kernel thread or idle (HLT blocking included), a kernel_fpu_begin_mask() user.
PREEMPT_KINDS = ("preempt_user", "preempt_kthread", "kernel_fpu")
EXIT_KINDS = VM_EXIT_KINDS + PREEMPT_KINDS
POINTS = ("boot_plain", "boot_legacy", "boot_aware", "first_use", "new_thread", "amx_switch",
          "host_switch")
# Counted kernel mechanisms; the hardware profile gives each a price in cycles.
MECHS = ("rdmsr_xfd", "wrmsr_xfd", "rdmsr_xfd_err", "wrmsr_xfd_err", "intercept_exits",
         "nm_exits", "extra_user_exits", "switch_checks", "xinuse_checks", "xsaves_tiles",
         "reallocs", "xsetbv")
# Hardware parameter (or derived property) that prices one count of each mechanism.
MECH_PRICE = {
    "rdmsr_xfd": "rdmsr_xfd_cycles",
    "wrmsr_xfd": "wrmsr_xfd_cycles",
    "rdmsr_xfd_err": "rdmsr_xfd_err_cycles",
    "wrmsr_xfd_err": "wrmsr_xfd_err_cycles",
    "intercept_exits": "exit_kernel_cycles",
    "nm_exits": "exit_kernel_cycles",
    "extra_user_exits": "exit_user_cycles",
    "switch_checks": "switch_check_cycles",
    "xinuse_checks": "xinuse_check_cycles",
    "xsaves_tiles": "xsaves_tiles_cycles",
    "reallocs": "realloc_cycles",
    "xsetbv": "xsetbv_cycles",  # XCR0 switch that AMX in the host XCR0 causes
}
# The split of host overhead reported by the metrics (mechanism group -> counted mechanisms).
OVERHEAD_GROUPS = {
    "rdmsr_xfd": ("rdmsr_xfd",),
    "wrmsr_xfd": ("wrmsr_xfd",),
    "xfd_err": ("rdmsr_xfd_err", "wrmsr_xfd_err"),
    "intercept_exits": ("intercept_exits",),
    "nm_exits": ("nm_exits",),
    "switch_check": ("switch_checks",),
    "user_exits": ("extra_user_exits",),
    "realloc": ("reallocs",),
    "xinuse": ("xinuse_checks",),
    "xsaves_tiles": ("xsaves_tiles",),
    "xsetbv": ("xsetbv",),
}


def mech_prices(hardware) -> list[float]:
    """Cycles per count of each mechanism, in :data:`MECHS` order."""
    out = []
    for m in MECHS:
        key = MECH_PRICE[m]
        out.append(float(getattr(hardware, key)))
    return out
