"""The lean floor: a chunk's work done in one batch, the yardstick of the engine's speed.

The engine (:mod:`amxmodel.engine`) walks through time in blocks and places VMs in
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

from .engine import (_POINT0, _PT, MAX_CHAIN, NCOL, NJ, Chunk, Exposure, _segments,
                     _weights, chunk_bounds, chunk_rng)
from .fleet import ClassTable, VMs, class_table, draw_vms
from .params import Scenario


def lean_floor(sc: Scenario, chunk: int, pages_per_state: np.ndarray,
               table: ClassTable | None = None, rng: np.random.Generator | None = None,
               ) -> Exposure:
    """The exposures of one chunk (``rng``: default the chunk's stream), in one batch.

    Statistically the same as :func:`amxmodel.engine.run_chunk`, not bit-identical (the
    draws come in another order).
    """
    table = table or class_table(sc)
    start, stop = chunk_bounds(sc)[chunk]
    ch = Chunk(sc, table, stop - start, rng or chunk_rng(sc, chunk), pages_per_state)
    S = ch.steps
    slot, vms, first, boot = _tenants(ch)
    death = np.minimum(first - 1 + ch._life_steps(vms), S)
    end = np.minimum(death, S - 1)
    used0, ev = ch._first_uses(vms, first, end)
    seg = _segments(first, end, death, used0, *ev)
    host = slot // ch.M
    key = host * ch.C + vms.cls
    n_keys = ch.H * ch.C
    vals = ch._values(seg, vms)
    flat = (key[seg.vm][:, None] * NCOL + np.arange(NCOL)).ravel()
    acc = np.bincount(flat, vals.ravel(), n_keys * NCOL).reshape(n_keys, NCOL)
    acc[:, _POINT0 + _PT["first_use"]] += np.bincount(key[ev[0]], ev[2], n_keys)
    kind = np.where(~vms.cpuid_amx, 0, np.where(vms.aware, 2, 1))
    for j in range(3):  # vCPUs booted plain, AMX-capable but unaware, aware
        col = _POINT0 + _PT["boot_plain"] + j
        acc[:, col] += np.bincount(key, np.where(boot & (kind == j), vms.vcpus, 0), n_keys)
    ch.acc = acc
    ch.peaks.peak_pages = _host_peaks(ch, seg, vms, host)
    return ch._exposure()


def _tenants(ch: Chunk) -> tuple[np.ndarray, VMs, np.ndarray, np.ndarray]:
    """Every VM the slots hold during the run: slot, VM, first step, and whether it booted
    during the run. Successors come from one draw of arrivals, handed out in chains."""
    rng, table, S = ch.rng, ch.table, ch.steps
    n = ch.H * ch.M
    found = draw_vms(rng, table, n, stationary=True)
    last = np.minimum(ch._life_steps(found) - 1, S)  # departure step of each slot's VM
    per_step = float(np.dot(table.q_slot, 1.0 / table.mean_lifetime_s)) * ch.dt
    pool = draw_vms(rng, table, int(1.5 * n * S * per_step) + n, stationary=False)
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


def _host_peaks(ch: Chunk, seg, vms: VMs, host: np.ndarray) -> np.ndarray:
    """(H, P) largest fpstate pages each host held at the end of any step: every state
    change sorted once by (host, step), levels by cumulative sums."""
    S, v = ch.steps, seg.vm
    k = vms.vcpus[v].astype(float)
    kw = _weights(ch._c, vms.cls[v], k, vms.cpuid_amx[v], vms.aware[v], seg.used) * k[:, None]
    gone = seg.vanish < S
    c_host = np.r_[host[v], host[v][gone]]
    key = c_host.astype(np.int64) * S + np.r_[seg.appear, seg.vanish[gone]]
    order = np.argsort(key, kind="stable")
    key, c_host = key[order], c_host[order]
    level = np.cumsum(np.r_[kw, -kw[gone]][order], axis=0)
    ends = np.flatnonzero(np.r_[key[1:] != key[:-1], True])  # last change of a (host, step)
    starts = np.flatnonzero(np.r_[True, c_host[1:] != c_host[:-1]])  # first of a host
    base = np.zeros((starts.size, NJ))
    base[1:] = level[starts[1:] - 1]
    g_host = c_host[ends]
    run = np.searchsorted(starts, ends, side="right") - 1
    level = level[ends] - base[run]
    held = np.where(ch.host_amx[g_host, None], level @ ch.pages[:-1].T,
                    (level @ ch.pages[-1])[:, None])
    first_g = np.flatnonzero(np.r_[True, g_host[1:] != g_host[:-1]])
    peak = np.zeros((ch.H, ch.pages.shape[0] - 1))
    peak[g_host[first_g]] = np.maximum(np.maximum.reduceat(held, first_g, axis=0), 0.0)
    return peak
