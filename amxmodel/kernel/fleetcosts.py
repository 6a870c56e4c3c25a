"""What the fleet events of issue 17 cost under each design, measured on the reference.

The engine's exits and point events assume one vCPU per hardware thread, a VM that stays
on its host, L1 guests only and no blocking halts. Four more kinds of event price what
that leaves out; like :mod:`amxmodel.kernel.mechanisms`, every number here is the change
of the reference model's counters when one more event is replayed on a vCPU prepared in
a pricing state, so the engine and the reference agree on prices by construction.

=================  ======================================================================
``halt``           a blocking HLT (``vcpu_halt``): the host saves the guest fpstate, only
                   the idle task runs, no WRMSR(XFD); per state of the halting vCPU
``vcpu_switch``    the vCPU thread is scheduled back after another vCPU thread ran on its
                   hardware thread (``vcpu_switch``): WRMSR(XFD) when the two fpstates'
                   XFD differ; per (state of the other vCPU, state of this vCPU)
``migration``      a live migration (``exit`` to user, ``migrate``, ``run_enter``) and the
                   guest's next AMX task round trip, minus that round trip alone: the state
                   that does not carry over (passthrough off after a saved XFD of 0, a lazy
                   buffer that must grow again) is paid at that round trip; per state
``nested``         the extra cost of a first AMX use, a new AMX thread and an AMX task switch
                   when they happen in an L2 guest (``guest_nested``)
=================  ======================================================================

The columns of an exposure row (:data:`NFCOL`) follow this order; the engine, the
mean-field model and the metrics use the slices defined here.
"""

from __future__ import annotations

import numpy as np

from amxmodel.kernel.measure import (
    FIRST_AMX,
    PREP,
    SETTLE,
    TO_AMX_TASK,
    TO_NON_AMX_TASK,
    delta,
    marginal,
)
from amxmodel.kernel.vocabulary import MECHS, STATES

NJ = len(STATES)
HALT = slice(0, NJ)  # (state of the halting vCPU)
SWITCH = slice(NJ, NJ + NJ * NJ)  # index i * NJ + j: after a vCPU in state i, this one in j
MIGRATION = slice(NJ + NJ * NJ, 2 * NJ + NJ * NJ)
NESTED_POINTS = ("first_use", "new_thread", "amx_switch")
NESTED = slice(2 * NJ + NJ * NJ, 2 * NJ + NJ * NJ + len(NESTED_POINTS))
NFCOL = NESTED.stop
DAY_S = 86400.0

KERNEL_EXIT = [{"event": "exit", "kind": "kernel"}]
MIGRATE = [{"event": "exit", "kind": "user"}, {"event": "migrate"}, {"event": "run_enter"}]
NESTED_ON = [{"event": "guest_nested", "l2": True}]
# the guest's next AMX task round trip after a migration, by state
AMX_ROUND_TRIP = {"S3": TO_AMX_TASK + TO_NON_AMX_TASK, "S4": TO_NON_AMX_TASK + TO_AMX_TASK,
                  "S5": TO_NON_AMX_TASK + TO_AMX_TASK}


def switch_out_xfd(policy: str, hardware, state: str) -> int:
    """IA32_XFD a vCPU thread in ``state`` leaves in ``xfd_state`` when the scheduler takes
    it off its CPU after a VM exit (what the next vCPU thread finds there)."""
    from amxmodel.kernel.registry import make_model
    from amxmodel.kernel.trace import parse_events

    model = make_model(policy, hardware)
    for ev in parse_events(PREP[state] + SETTLE + KERNEL_EXIT):
        model.apply(ev)
    return model.pcpus[0].cache


def build_fleet_counts(hardware, policies) -> np.ndarray:
    """(P, NFCOL, MECHS) mechanism counts per fleet event (cached per sizes and policies)."""
    key = (hardware.values["page_size_bytes"], hardware.values["fpstate_default_bytes"],
           hardware.values["fpstate_amx_bytes"], tuple(policies))
    if key not in _CACHE:
        _CACHE[key] = _build(hardware, tuple(policies))
    return _CACHE[key]


_CACHE: dict = {}


def _build(hardware, policies: tuple[str, ...]) -> np.ndarray:
    out = np.zeros((len(policies), NFCOL, len(MECHS)))
    for p, pol in enumerate(policies):
        leave = [switch_out_xfd(pol, hardware, st) for st in STATES]
        for j, st in enumerate(STATES):
            prep = PREP[st] + SETTLE
            exit_alone = marginal(pol, hardware, prep, KERNEL_EXIT)
            out[p, HALT.start + j] = (marginal(pol, hardware, prep, KERNEL_EXIT + [{"event": "vcpu_halt"}])
                                      - exit_alone)
            for i, xfd in enumerate(leave):
                sw = KERNEL_EXIT + [{"event": "vcpu_switch", "from_xfd": xfd}]
                out[p, SWITCH.start + i * NJ + j] = marginal(pol, hardware, prep, sw) - exit_alone
            cont = AMX_ROUND_TRIP.get(st, [])
            out[p, MIGRATION.start + j] = (delta(pol, hardware, prep, MIGRATE + cont)
                                           - delta(pol, hardware, prep, cont))
        s2, s3 = PREP["S2"] + SETTLE, PREP["S3"] + SETTLE
        nested = {
            "first_use": (s2, FIRST_AMX, 1.0),
            "new_thread": (s3, FIRST_AMX, 1.0),
            "amx_switch": (s3, TO_AMX_TASK + TO_NON_AMX_TASK, 0.5),  # half a round trip
        }
        for n, name in enumerate(NESTED_POINTS):
            prep, ev, scale = nested[name]
            out[p, NESTED.start + n] = scale * (delta(pol, hardware, prep + NESTED_ON, ev)
                                                - delta(pol, hardware, prep, ev))
    return out


def switch_follow_share(fleet: dict) -> float:
    """Share of a vCPU's reschedules that follow another vCPU thread: (n - 1) / n with
    n = vcpu_overcommit x occupancy vCPUs per hardware thread, 0 when n <= 1 (each vCPU
    has a thread to itself; only idle or host tasks run in between)."""
    n = float(fleet["vcpu_overcommit"]) * float(fleet["occupancy"])
    return max(0.0, (n - 1.0) / n) if n > 0 else 0.0


def class_rates(classes) -> dict[str, np.ndarray]:
    """Per-class means of the fleet-event rates, (C,) each, in events per vCPU-second
    (migrations: per VM-day / 86,400 s, paid by each vCPU of the VM)."""
    get = lambda f: np.array([float(c.mean(f)) for c in classes])  # noqa: E731
    return {"halt": get("halts_per_vcpu_s"), "switch": get("vcpu_switches_per_vcpu_s"),
            "migration": get("migrations_per_vm_day") / DAY_S, "nested": get("nested_amx_share")}


def exposure_rows(state_s: np.ndarray, points: np.ndarray, rates: dict[str, np.ndarray],
                  follow: float, partner_share: np.ndarray) -> np.ndarray:
    """Expected fleet-event exposures, (G, NFCOL), of groups of vCPUs (hosts, classes).

    ``state_s`` (G, C, NJ): vCPU-seconds per class and state; ``points`` (G, C, POINTS
    order of :data:`NESTED_POINTS`): the groups' first uses, new threads and AMX task
    switches; ``partner_share`` (G, NJ): the state mix of the vCPUs that share the
    hardware threads (the host's); ``follow``: :func:`switch_follow_share`.
    """
    G = state_s.shape[0]
    out = np.zeros((G, NFCOL))
    out[:, HALT] = np.einsum("gcj,c->gj", state_s, rates["halt"])
    out[:, MIGRATION] = np.einsum("gcj,c->gj", state_s, rates["migration"])
    sw = np.einsum("gcj,c->gj", state_s, rates["switch"]) * follow
    out[:, SWITCH] = (partner_share[:, :, None] * sw[:, None, :]).reshape(G, NJ * NJ)
    out[:, NESTED] = np.einsum("gcn,c->gn", points, rates["nested"])
    return out
