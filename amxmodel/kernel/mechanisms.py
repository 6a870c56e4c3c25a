"""What each event costs under each design, measured on the event-level reference model.

The fleet engine never re-implements a policy. For every policy and pricing state
(:mod:`amxmodel.kernel.vocabulary`) this module drives the reference state machine
(:mod:`amxmodel.kernel.upstream`) through a short trace that puts one vCPU in that state, then
replays one more event and records the change of every counter. The result is a table
of mechanism counts per event, which the engine multiplies by its exposures. So the
engine and the reference agree on prices by construction; the agreement tests check the
rest (the random events and the state dynamics).

The traces and the measuring helpers are in :mod:`amxmodel.kernel.measure`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from amxmodel.inputs.designs import POLICY_NAMES
from amxmodel.kernel.fleetcosts import build_fleet_counts
from amxmodel.kernel.measure import (
    BOOT,
    EXIT_EVENT,
    FIRST_AMX,
    PREEMPT,
    PREP,
    SETTLE,
    TO_AMX_TASK,
    TO_NON_AMX_TASK,
    counters,
    delta,
    marginal,
)
from amxmodel.kernel.vocabulary import EXIT_KINDS, MECHS, POINTS, STATES


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
                if kind in PREEMPT:  # the host preemption alone, without its exit
                    exit_counts[pi, e, j] = (marginal(pol, hardware, prep, PREEMPT[kind])
                                             - marginal(pol, hardware, prep, EXIT_EVENT["kernel"]))
                else:
                    exit_counts[pi, e, j] = marginal(pol, hardware, prep, EXIT_EVENT[kind])
            pages[pi, j] = counters(pol, hardware, PREP[st])["pages"]
        pt = {name: POINTS.index(name) for name in POINTS}
        point_counts[pi, pt["boot_plain"]] = delta(pol, hardware, [], BOOT["S0"])
        point_counts[pi, pt["boot_legacy"]] = delta(pol, hardware, [], BOOT["S1"])
        point_counts[pi, pt["boot_aware"]] = delta(pol, hardware, [], BOOT["S2"])
        point_counts[pi, pt["first_use"]] = delta(pol, hardware, PREP["S2"] + SETTLE, FIRST_AMX)
        point_counts[pi, pt["new_thread"]] = delta(pol, hardware, PREP["S3"] + SETTLE, FIRST_AMX)
        # one switch between an AMX and a non-AMX task: half of a round trip
        point_counts[pi, pt["amx_switch"]] = 0.5 * delta(
            pol, hardware, PREP["S3"] + SETTLE, TO_AMX_TASK + TO_NON_AMX_TASK)
        point_counts[pi, pt["host_switch"]] = delta(
            pol, hardware, PREP["S0"] + SETTLE, [{"event": "host_switch", "count": 1}])
        peak[pi] = counters(pol, hardware, PREP["S3"])["peak_pages"]
    pages[P] = counters("no-amx", hardware, PREP["S0"])["pages"]

    table = CostTable(tuple(policies), exit_counts, point_counts, pages, peak,
                      int(pages[P, 0]), build_fleet_counts(hardware, policies))
    _CACHE[key] = table
    return table
