"""Measuring counts on the event-level reference model: the traces that put one vCPU in a
pricing state, and the counter change one more event causes.

The traces mirror what a Linux guest does (arch/x86/kernel/fpu/xstate.c
``fpu__init_cpu_xstate`` writes IA32_XFD=0x40000 before XSETBV at boot; the #NM handler
``handle_xfd_event`` reads XFD_ERR, clears it, and clears XFD for the task), and a VMM
that requests ARCH_REQ_XCOMP_GUEST_PERM before creating vCPUs (QEMU >= 7.0). The cost
table (:mod:`amxmodel.kernel.mechanisms`) and the fleet events' counts
(:mod:`amxmodel.kernel.fleetcosts`) are both measured with these.
"""

from __future__ import annotations

import numpy as np

from amxmodel.kernel.registry import run_events
from amxmodel.kernel.upstream import mechanism_counts
from amxmodel.kernel.vocabulary import MECHS, PREEMPT_KINDS
from amxmodel.kernel.xfeatures import XCR0_AMX, XCR0_LEGACY, XTILEDATA

# The host kernel whose behaviour the table prices. Every LTS kernel in service (6.1, 6.6,
# 6.12, 6.18) switches XCR0 inside vmx_vcpu_run(), fastpath re-entries included; 6.19 moved
# it out of the fastpath loop (amxmodel.kernel.upstream.KERNELS). The fleet parameter
# xcr0_fastpath_host_share scales the fastpath XSETBVs for hosts on newer kernels
# (amxmodel.fleet.engine.xcr0_kinds); no other counter differs between them in the fleet.
FLEET_KERNEL = "6.18"

# Boot of one vCPU by guest type; the VMM requests permission first when it lists AMX.
BOOT = {
    "S0": [{"event": "create_vcpu"}, {"event": "set_cpuid", "amx": False}, {"event": "run_enter"},
           {"event": "guest_xsetbv", "value": XCR0_LEGACY}],
    "S1": [{"event": "perm_request"}, {"event": "create_vcpu"}, {"event": "set_cpuid", "amx": True},
           {"event": "run_enter"}, {"event": "guest_xsetbv", "value": XCR0_LEGACY}],
    "S2": [{"event": "perm_request"}, {"event": "create_vcpu"}, {"event": "set_cpuid", "amx": True},
           {"event": "run_enter"}, {"event": "guest_wrmsr_xfd", "value": XTILEDATA},
           {"event": "guest_xsetbv", "value": XCR0_AMX}],
}
# A guest task's first AMX instruction with XFD armed, and the guest #NM handler.
FIRST_AMX = [{"event": "guest_amx"}, {"event": "guest_rdmsr_xfd_err"},
             {"event": "guest_wrmsr_xfd_err", "value": 0}, {"event": "guest_wrmsr_xfd", "value": 0},
             {"event": "guest_amx"}]
TO_NON_AMX_TASK = [{"event": "guest_tile_release"}, {"event": "guest_wrmsr_xfd", "value": XTILEDATA}]
TO_AMX_TASK = [{"event": "guest_wrmsr_xfd", "value": 0}, {"event": "guest_amx"}]
WARM = [{"event": "exit", "kind": "kernel"}]  # one full exit: caches and XFD_ERR settle
# ... and one fastpath exit, which performs the pending VM-entry: the vCPU is in the guest
SETTLE = WARM + [{"event": "exit", "kind": "fastpath"}]

# Trace that puts a freshly booted vCPU into each state.
PREP = {
    "S0": BOOT["S0"],
    "S1": BOOT["S1"],
    "S2": BOOT["S2"],
    "S3": BOOT["S2"] + FIRST_AMX + WARM + TO_NON_AMX_TASK,
    "S4": BOOT["S2"] + FIRST_AMX,
    "S5": BOOT["S2"] + FIRST_AMX + [{"event": "guest_tile_release"}],
}
# A rated event as a round trip: its exit work and, for exits, the VM-entry that follows.
EXIT_EVENT = {
    "fastpath": [{"event": "exit", "kind": "fastpath"}],
    "kernel": [{"event": "exit", "kind": "kernel"}],
    "user": [{"event": "exit", "kind": "user"}, {"event": "run_enter"}],
}
# A host preemption after an exit, by what preempts (states.PREEMPT_KINDS)
PREEMPT = {kind: [{"event": "exit", "kind": "kernel"}, {"event": "host_preempt", "by": by}]
           for kind, by in zip(PREEMPT_KINDS, ("user", "kthread", "kernel_fpu"), strict=True)}


def counts(policy: str, hardware, events: list[dict]) -> np.ndarray:
    mech = mechanism_counts(run_events(policy, hardware, events, FLEET_KERNEL))
    return np.array([mech[m] for m in MECHS], dtype=float)


def delta(policy: str, hardware, prep: list[dict], event: list[dict]) -> np.ndarray:
    """Mechanism counts that ``event`` adds after ``prep`` (one vCPU, fresh VM)."""
    return counts(policy, hardware, prep + event) - counts(policy, hardware, prep)


def marginal(policy: str, hardware, prep: list[dict], event: list[dict]) -> np.ndarray:
    """Counts of a repeated event in steady state: the second repetition minus the first.

    VM-entries are lazy in the reference (done when the guest runs again), so the second
    repetition pays for the entry after the first: a whole exit-and-entry round trip.
    """
    once = counts(policy, hardware, prep + event)
    return counts(policy, hardware, prep + event + event) - once


def counters(policy: str, hardware, events: list[dict]) -> dict:
    return run_events(policy, hardware, events, FLEET_KERNEL)
