"""The lean floor: a chunk's work done in one batch, the yardstick of the engine's speed.

The engine (:mod:`amxmodel.fleet.engine`) walks through time in blocks and places VMs in
batches so that its memory stays flat whatever the steps and the fleet. Here the same
work is done with none of that orchestration: every VM the chunk's slots hold over the
whole run is drawn at once (the VMs found at time 0 in one call, their successors in
another), their first AMX uses are drawn, their stays are split into segments and priced
in one pass, accumulated with ``np.bincount``, and the largest fpstate each host held
comes from one sort of every state change. The draws and the per-segment arithmetic are
the engine's own functions, so the floor follows the engine as it changes; only the
orchestration is written here. Memory grows with the steps: this is what ``amxmodel
bench`` divides the engine's time by, not a way to run a fleet.
"""

from __future__ import annotations

import numpy as np

from amxmodel.fleet.engine import MAX_CHAIN, Chunk, Exposure, chunk_bounds, chunk_rng
from amxmodel.fleet.population import ClassTable, VMs, class_table, draw_vms
from amxmodel.inputs.scenario import Scenario


def lean_floor(sc: Scenario, chunk: int, pages_per_state: np.ndarray,
               table: ClassTable | None = None, rng: np.random.Generator | None = None,
               ) -> Exposure:
    """The exposures of one chunk (``rng``: default the chunk's stream), in one batch.

    Statistically the same as :func:`amxmodel.fleet.engine.run_chunk`, not bit-identical (the
    draws come in another order).
    """
    table = table or class_table(sc)
    start, stop = chunk_bounds(sc)[chunk]
    ch = Chunk(sc, table, stop - start, rng or chunk_rng(sc, chunk), pages_per_state)
    ch._place(*_tenants(ch))
    ch._flush(ch.steps + 1)
    return ch._exposure()


def _tenants(ch: Chunk) -> tuple[np.ndarray, VMs, np.ndarray, np.ndarray]:
    """Every VM the slots hold during the run: slot, VM, first step, and whether it booted
    during the run. Successors come from one draw of arrivals, handed out in chains."""
    rng, table, S = ch.rng, ch.table, ch.steps
    n = ch.H * ch.M
    found = draw_vms(rng, table, n, stationary=True)
    last = np.minimum(ch._life_steps(found) - 1, S)  # departure step of each slot's VM
    pool = draw_vms(rng, table, int(1.5 * n * S * ch._departures_per_step()) + n,
                    stationary=False)
    slots, parts, starts = [np.arange(n)], [found], [np.zeros(n, np.int64)]
    active, chain, at = np.flatnonzero(last < S), 1, 0
    while active.size:
        need = active.size * chain
        if at + need > len(pool):  # rarely: more arrivals than expected
            pool = VMs.concat([pool.take(slice(at, None)),
                               draw_vms(rng, table, need + n, stationary=False)])
            at = 0
        vms = pool.take(slice(at, at + need))
        at += need
        life = ch._life_steps(vms).reshape(active.size, chain)
        begin = last[active][:, None] + 1 + np.cumsum(life, axis=1) - life
        use = begin <= S  # the predecessor departs during the run
        per_slot = use.sum(axis=1)
        ends = (begin + life - 1)[np.arange(active.size), per_slot - 1]
        slots.append(np.repeat(active, per_slot))
        parts.append(vms.take(use.ravel()))
        starts.append(begin[use])
        last[active] = np.minimum(ends, S)
        active = active[last[active] < S]
        chain = min(2 * chain, MAX_CHAIN)
    boot = np.ones(sum(p.size for p in slots), bool)
    boot[:n] = False
    return np.concatenate(slots), VMs.concat(parts), np.concatenate(starts), boot
