"""What each event costs under each design, measured on the event-level reference model.

The fleet engine never re-implements a policy. For every policy and pricing state
(:mod:`amxmodel.kernel.vocabulary`) this module drives the reference state machine
(:mod:`amxmodel.kernel.upstream`) through a short trace that puts one vCPU in that state, then
replays one more event and records the change of every counter. The result is a table
of mechanism counts per event, which the engine multiplies by its exposures. So the
engine and the reference agree on prices by construction; the agreement tests check the
rest (the random events and the state dynamics).

The traces mirror what a Linux guest does (arch/x86/kernel/fpu/xstate.c
``fpu__init_cpu_xstate`` writes IA32_XFD=0x40000 before XSETBV at boot; the #NM handler
``handle_xfd_event`` reads XFD_ERR, clears it, and clears XFD for the task), and a VMM
that requests ARCH_REQ_XCOMP_GUEST_PERM before creating vCPUs (QEMU >= 7.0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from amxmodel.inputs.designs import POLICY_NAMES
from amxmodel.kernel.vocabulary import EXIT_KINDS, MECHS, POINTS, STATES

XFD_AMX = 0x40000  # XFEATURE_MASK_XTILEDATA
XCR0_LEGACY = 0x2E7  # x87|SSE|AVX|opmask|ZMM_Hi256|Hi16_ZMM (a pre-AMX guest)
XCR0_AMX = XCR0_LEGACY | 0x60000  # + XTILECFG | XTILEDATA

# Boot of one vCPU by guest type; the VMM requests permission first when it lists AMX.
BOOT = {
    "S0": [{"event": "create_vcpu"}, {"event": "set_cpuid", "amx": False}, {"event": "run_enter"},
           {"event": "guest_xsetbv", "value": XCR0_LEGACY}],
    "S1": [{"event": "perm_request"}, {"event": "create_vcpu"}, {"event": "set_cpuid", "amx": True},
           {"event": "run_enter"}, {"event": "guest_xsetbv", "value": XCR0_LEGACY}],
    "S2": [{"event": "perm_request"}, {"event": "create_vcpu"}, {"event": "set_cpuid", "amx": True},
           {"event": "run_enter"}, {"event": "guest_wrmsr_xfd", "value": XFD_AMX},
           {"event": "guest_xsetbv", "value": XCR0_AMX}],
}
# A guest task's first AMX instruction with XFD armed, and the guest #NM handler.
FIRST_AMX = [{"event": "guest_amx"}, {"event": "guest_rdmsr_xfd_err"},
             {"event": "guest_wrmsr_xfd_err", "value": 0}, {"event": "guest_wrmsr_xfd", "value": 0},
             {"event": "guest_amx"}]
TO_NON_AMX_TASK = [{"event": "guest_tile_release"}, {"event": "guest_wrmsr_xfd", "value": XFD_AMX}]
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
PREEMPT = [{"event": "exit", "kind": "kernel"}, {"event": "host_preempt"}]


@dataclass(frozen=True)
class CostTable:
    """Mechanism counts per event, per policy (in :data:`MECHS` order)."""

    policies: tuple[str, ...]
    exit_counts: np.ndarray  # (P, EXIT_KINDS, STATES, MECHS)
    point_counts: np.ndarray  # (P, POINTS, MECHS)
    pages: np.ndarray  # (P + 1, STATES): pages of one vCPU per state; last row: host without AMX
    peak_vcpu_pages: np.ndarray  # (P,): most pages one vCPU holds at once (old + new in a realloc)
    default_pages: int
    fleet_counts: np.ndarray | None = None  # (P, fleetcosts.NFCOL, MECHS): issue 17's events

    def policy_index(self, name: str) -> int:
        return self.policies.index(name)

    def pages_on(self, host_amx) -> np.ndarray:
        """(H, P, STATES) pages per vCPU on each host: a host without AMX holds the no-AMX
        row whatever the design; a fractional ``host_amx`` (a share of AMX hosts, as in
        mean-field) blends the two."""
        a = np.asarray(host_amx, float).reshape(-1, 1, 1)
        return a * self.pages[None, :-1] + (1 - a) * self.pages[None, -1:]


def _counts(policy: str, hardware, events: list[dict]) -> np.ndarray:
    from amxmodel.kernel.upstream import mechanism_counts, run_events

    mech = mechanism_counts(run_events(policy, hardware, events))
    return np.array([mech[m] for m in MECHS], dtype=float)


def _delta(policy: str, hardware, prep: list[dict], event: list[dict]) -> np.ndarray:
    """Mechanism counts that ``event`` adds after ``prep`` (one vCPU, fresh VM)."""
    return _counts(policy, hardware, prep + event) - _counts(policy, hardware, prep)


def _marginal(policy: str, hardware, prep: list[dict], event: list[dict]) -> np.ndarray:
    """Counts of a repeated event in steady state: the second repetition minus the first.

    VM-entries are lazy in the reference (done when the guest runs again), so the second
    repetition pays for the entry after the first: a whole exit-and-entry round trip.
    """
    once = _counts(policy, hardware, prep + event)
    return _counts(policy, hardware, prep + event + event) - once


def _counters(policy: str, hardware, events: list[dict]) -> dict:
    from amxmodel.kernel.upstream import run_events

    return run_events(policy, hardware, events)


def build_cost_table(hardware, policies=POLICY_NAMES) -> CostTable:
    """Measure the table on the reference model (cached per hardware sizes and policies)."""
    key = (hardware.values["page_size_bytes"], hardware.values["fpstate_default_bytes"],
           hardware.values["fpstate_amx_bytes"], tuple(policies))
    return _build(key, hardware, tuple(policies))


_CACHE: dict = {}


def _build(key, hardware, policies: tuple[str, ...]) -> CostTable:
    if key in _CACHE:
        return _CACHE[key]
    P = len(policies)
    exit_counts = np.zeros((P, len(EXIT_KINDS), len(STATES), len(MECHS)))
    point_counts = np.zeros((P, len(POINTS), len(MECHS)))
    pages = np.zeros((P + 1, len(STATES)))
    peak = np.zeros(P)
    for pi, pol in enumerate(policies):
        for j, st in enumerate(STATES):
            prep = PREP[st] + SETTLE
            for e, kind in enumerate(EXIT_KINDS):
                if kind == "preempt":  # the host preemption alone, without its exit
                    exit_counts[pi, e, j] = (_marginal(pol, hardware, prep, PREEMPT)
                                             - _marginal(pol, hardware, prep, EXIT_EVENT["kernel"]))
                else:
                    exit_counts[pi, e, j] = _marginal(pol, hardware, prep, EXIT_EVENT[kind])
            pages[pi, j] = _counters(pol, hardware, PREP[st])["pages"]
        pt = {name: POINTS.index(name) for name in POINTS}
        point_counts[pi, pt["boot_plain"]] = _delta(pol, hardware, [], BOOT["S0"])
        point_counts[pi, pt["boot_legacy"]] = _delta(pol, hardware, [], BOOT["S1"])
        point_counts[pi, pt["boot_aware"]] = _delta(pol, hardware, [], BOOT["S2"])
        point_counts[pi, pt["first_use"]] = _delta(pol, hardware, PREP["S2"] + SETTLE, FIRST_AMX)
        point_counts[pi, pt["new_thread"]] = _delta(pol, hardware, PREP["S3"] + SETTLE, FIRST_AMX)
        # one switch between an AMX and a non-AMX task: half of a round trip
        point_counts[pi, pt["amx_switch"]] = 0.5 * _delta(
            pol, hardware, PREP["S3"] + SETTLE, TO_AMX_TASK + TO_NON_AMX_TASK)
        point_counts[pi, pt["host_switch"]] = _delta(
            pol, hardware, PREP["S0"] + SETTLE, [{"event": "host_switch", "count": 1}])
        peak[pi] = _counters(pol, hardware, PREP["S3"])["peak_pages"]
    pages[P] = _counters("no-amx", hardware, PREP["S0"])["pages"]
    from amxmodel.kernel.fleetcosts import build_fleet_counts

    table = CostTable(tuple(policies), exit_counts, point_counts, pages, peak,
                      int(pages[P, 0]), build_fleet_counts(hardware, policies))
    _CACHE[key] = table
    return table
