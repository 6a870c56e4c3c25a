"""The vectorized fleet engine: one pass over random events, priced under every design.

Hosts are simulated in chunks of ``run.chunk_hosts``; a chunk holds VM slots (hosts x
slots per host). Per VM slot the engine draws Poisson counts of fastpath, kernel and
user-space VM exits and of host preemptions (rates scaled by the diurnal load), the first
AMX use on each vCPU, new AMX threads (Poisson), and VM departures (each VM's lifetime is
drawn at arrival). These draws do not depend on the policy: the engine accumulates
*exposures* — how many events of each kind happened to vCPUs in each pricing state
(:mod:`amxmodel.kernel.vocabulary`) — and the cost table turns exposures into counts of kernel
mechanisms for every policy at once (common random numbers: policy differences carry no
sampling noise, and pricing ten designs costs the same as pricing one).

How it draws. A VM's whole stay in its slot is known when it arrives: its lifetime, its
rates, and the moment each of its vCPUs first uses AMX (an exponential time per vCPU with
rate ``new_amx_threads_per_vcpu_s``, counted at the end of the step in which it falls; a
VM found at time 0 with age ``a`` has already used the vCPUs whose time is below ``a``).
Its stay splits into *segments*, runs of steps in which its pricing state is constant,
and each segment gets one Poisson count per exit kind with mean rate x the sum of the
load multipliers of its steps, and one Poisson count of new AMX threads. A sum of
independent Poisson counts is Poisson with the summed mean, and the exponential times
are memoryless, so the counts have exactly the distribution of the per-step scheme this
replaces (4 Poisson exit counts per slot and step, a binomial of first uses on the
unused vCPUs, a Poisson of new threads, a Poisson of host context switches per host):
results are statistically identical to it, not bit-identical, from far fewer random
numbers (a day at 60-s steps: 0.007 per vCPU-step, most of them the VMs' own attributes,
against 1.1 per vCPU-step). Step conventions are the per-step ones: the exits of the step of a first
use count in the old state, that step's new threads and AMX task switches (expected
counts) see the new number of used vCPUs, a departure comes after the first uses of its
step, and its successor arrives at the end of that step.

Memory per chunk is fixed. The largest guest fpstate a host held needs state changes in
time order, so each VM's changes (at most two per vCPU) wait in a buffer that is flushed
every block of steps (about :data:`BLOCK_DEPARTURES` departures in the chunk): it holds the
changes of one block and the future changes of the VMs present, nothing that grows with
the number of steps. Each chunk draws from its own
``SeedSequence(seed, spawn_key=(chunk,))``: results are bit-identical whatever the order
in which chunks run or the number of processes that run them.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from amxmodel.fleet.population import ClassTable, VMs, class_table, draw_vms
from amxmodel.inputs.scenario import Scenario
from amxmodel.kernel import fleetcosts as fc
from amxmodel.kernel.vocabulary import EXIT_KINDS, POINTS, STATES

NJ, NE, NPT = len(STATES), len(EXIT_KINDS), len(POINTS)
_PT = {p: i for i, p in enumerate(POINTS)}
DAY_S = 86400.0
# expected departures in a chunk between flushes of the change buffer: about 6,000 keep a
# block's temporaries near a core's L2 cache (2 MiB here; 2x slower at twice as many)
BLOCK_DEPARTURES = 6144
PLACE_BATCH = 4096  # VMs placed at once (bounds the temporaries whatever the chunk size)
MAX_CHAIN = 64  # successive arrivals placed at once in a slot of short-lived VMs
POOL_PER_SLOT = 3  # most arrivals drawn at once, per slot (bounds the pool's memory)
PEAK_BATCH = 16384  # state changes applied to host peaks at once (temporaries within L2)
# columns of the accumulators: exits (kind x state), vCPU-seconds per state, point events
_EXITS = slice(0, NE * NJ)
_STATE_S = slice(NE * NJ, NE * NJ + NJ)
_POINT0 = NE * NJ + NJ
NCOL = _POINT0 + NPT


@dataclass
class Exposure:
    """Policy-independent event exposures of a set of hosts (and of the classes in them)."""

    exits: np.ndarray  # (H, NE, NJ) events of each kind that hit vCPUs in each state
    points: np.ndarray  # (H, NPT) point events in vCPUs (amx_switch: expected count)
    vcpu_state_s: np.ndarray  # (H, NJ) vCPU-seconds spent in each state
    peak_pages: np.ndarray  # (H, P) largest guest fpstate pages a host held, per policy
    host_amx: np.ndarray  # (H,) host has AMX (else every policy behaves as no-amx)
    class_exits: np.ndarray  # (C, NE, NJ)
    class_points: np.ndarray  # (C, NPT)
    class_vcpu_state_s: np.ndarray  # (C, NJ)
    seconds: float
    # share of those exits that pay the XSETBV which AMX in the host XCR0 adds: made by
    # guests whose XCR0 is the host's minus the AMX bits (p_xcr0_host_minus_amx), on a
    # kernel that switches XCR0 for that kind of exit (xcr0_fastpath_host_share)
    xcr0_match: np.ndarray  # (H, NE, NJ)
    class_xcr0_match: np.ndarray  # (C, NE, NJ)
    # issue 17: expected halts, vCPU-to-vCPU switches, migrations and nested AMX points
    # (columns of amxmodel.kernel.fleetcosts), (H, NFCOL) and (C, NFCOL); None: not simulated
    fleet_events: np.ndarray | None = None
    class_fleet_events: np.ndarray | None = None

    @property
    def hosts(self) -> int:
        return self.exits.shape[0]

    @staticmethod
    def concat(parts: list[Exposure]) -> Exposure:
        """Join chunks in the given order (host arrays stacked, class arrays summed)."""
        cat = lambda name: np.concatenate([getattr(p, name) for p in parts])
        add = lambda name: np.sum([getattr(p, name) for p in parts], axis=0)
        fleet = all(p.fleet_events is not None for p in parts)
        return Exposure(cat("exits"), cat("points"), cat("vcpu_state_s"), cat("peak_pages"),
                        cat("host_amx"), add("class_exits"), add("class_points"),
                        add("class_vcpu_state_s"), parts[0].seconds, cat("xcr0_match"),
                        parts[0].class_xcr0_match,
                        cat("fleet_events") if fleet else None,
                        add("class_fleet_events") if fleet else None)


def diurnal(sc: Scenario, steps: int | None = None) -> np.ndarray:
    """Load multiplier of each step: 1 + a sin(2 pi t / day) at the step's midpoint."""
    n = int(sc.run["steps"] if steps is None else steps)
    dt = float(sc.run["step_s"])
    t_mid = (np.arange(n) + 0.5) * dt
    return 1.0 + sc.fleet["diurnal_amplitude"] * np.sin(2 * math.pi * t_mid / DAY_S)


def load_sum(sc: Scenario, first, last) -> np.ndarray:
    """Sum of :func:`diurnal` over steps ``first..last`` (inclusive; 0 when last < first).

    Closed form: sum over s of sin((2s+1)x) = sin((first+last+1)x) sin(n x) / sin(x),
    x = pi step_s / day, n the number of steps.
    """
    a = np.asarray(first, float)
    n = np.maximum(np.asarray(last, float) - a + 1, 0.0)
    x = math.pi * float(sc.run["step_s"]) / DAY_S
    if abs(math.sin(x)) < 1e-12:  # whole days per step: every sine is 0
        return n
    sines = np.sin((2 * a + n) * x) * np.sin(n * x) / math.sin(x)
    return n + sc.fleet["diurnal_amplitude"] * sines


def chunk_bounds(sc: Scenario) -> list[tuple[int, int]]:
    """Host index ranges [start, stop) of the chunks, in order."""
    hosts, size = int(sc.fleet["hosts"]), int(sc.run["chunk_hosts"])
    return [(s, min(s + size, hosts)) for s in range(0, hosts, size)]


def chunk_rng(sc: Scenario, chunk: int) -> np.random.Generator:
    """The random stream of one chunk: a child of the root seed by chunk index."""
    ss = np.random.SeedSequence(int(sc.run["seed"]), spawn_key=(chunk,))
    return np.random.Generator(np.random.PCG64(ss))


@dataclass
class _Segments:
    """Runs of steps with a constant pricing state, several per VM, VM-major order."""

    vm: np.ndarray  # index of the VM in its batch
    used: np.ndarray  # vCPUs of the VM that have used AMX
    exit_first: np.ndarray  # steps whose exits count in this state: exit_first..exit_last
    exit_last: np.ndarray
    used_first: np.ndarray  # steps whose threads and switches see ``used``: ..used_last
    used_last: np.ndarray
    appear: np.ndarray  # step at whose end the state holds (fpstate pages)
    vanish: np.ndarray  # step at whose end it no longer holds (>= steps: never)


def _segments(start: np.ndarray, end: np.ndarray, death: np.ndarray, used0: np.ndarray,
              ev_vm: np.ndarray, ev_step: np.ndarray, ev_count: np.ndarray) -> _Segments:
    """Split each VM's stay ``start..end`` at its first-use events (sorted by VM, step)."""
    n = start.size
    m = np.bincount(ev_vm, minlength=n)
    first = np.arange(n) + np.cumsum(m) - m
    last = first + m
    vm = np.repeat(np.arange(n), m + 1)
    at = np.arange(ev_vm.size) + ev_vm + 1  # segment opened by each event
    change = np.empty(vm.size, np.int64)
    change[first], change[at] = start, ev_step
    add = np.empty(vm.size, np.int64)
    add[first], add[at] = used0, ev_count
    total = np.cumsum(add)
    used = total - (total[first] - used0)[vm]
    nxt = np.empty(vm.size, np.int64)
    nxt[:-1] = change[1:]
    nxt[last] = end + 1
    opened = np.ones(vm.size, np.int64)
    opened[first] = 0
    closes = np.zeros(vm.size, np.int64)
    closes[last] = 1
    appear = change.copy()
    appear[first] = np.maximum(start - 1, 0)
    vanish = nxt.copy()
    vanish[last] = death
    return _Segments(vm, used, change + opened, nxt - closes, change, nxt - 1, appear, vanish)


class _Arrivals:
    """Arriving VMs, drawn in one large batch (another when it runs out) and handed out in
    order. Arrivals do not depend on where they go, and one that a chain of successors
    does not use (its predecessor outlives the block) is dropped: whether it is used
    depends on the lifetimes before it, never on its own attributes."""

    def __init__(self, rng: np.random.Generator, table: ClassTable, batch: int):
        self.rng, self.table, self.batch = rng, table, batch
        self.vms: VMs | None = None
        self.at = 0

    def take(self, n: int) -> VMs:
        """The next ``n`` arrivals."""
        if self.vms is None or self.at + n > len(self.vms):
            more = draw_vms(self.rng, self.table, max(self.batch, n), stationary=False)
            rest = None if self.vms is None else self.vms.take(slice(self.at, None))
            self.vms = more if rest is None or not len(rest) else VMs.concat([rest, more])
            self.at = 0
        self.at += n
        return self.vms.take(slice(self.at - n, self.at))


class Chunk:
    """VM slots of one chunk of hosts, the departure step of each, and the accumulators."""

    def __init__(self, sc: Scenario, table: ClassTable, n_hosts: int, rng: np.random.Generator,
                 pages_per_state: np.ndarray):
        self.sc, self.table, self.rng = sc, table, rng
        # (P, NJ) pages one vCPU holds in each state under each policy; hosts without AMX
        # hold the default buffer whatever the policy (last row: the no-AMX case)
        self.pages = pages_per_state
        self.H, self.M = n_hosts, table.slots_per_host
        self.C = len(table.names)
        self.dt, self.steps = float(sc.run["step_s"]), int(sc.run["steps"])
        self.host_amx = rng.random(n_hosts) < sc.fleet["amx_host_share"]
        self.death = np.zeros(self.H * self.M, np.int64)  # departure step of each slot's VM
        self.acc = np.zeros((self.H * self.C, NCOL))  # by (host, class)
        self._entries: tuple[list, list] = ([], [])  # (flat index, value) not yet in acc
        self.peaks = _Peaks(self.pages, self.host_amx, self.steps)
        self._c = table.const

    def run(self) -> Exposure:
        """Simulate every step and return the chunk's exposures."""
        slots = np.arange(self.H * self.M)
        for part in _batches(slots):  # the VMs found at time 0
            vms = draw_vms(self.rng, self.table, part.size, stationary=True)
            self.death[part] = self._place(part, vms, np.zeros(part.size, np.int64), boot=False)
        block = self._block_steps()
        arrivals = _Arrivals(self.rng, self.table, self._pool_size())
        for t1 in range(block, self.steps + block, block):
            t1 = min(t1, self.steps)
            due = np.flatnonzero(self.death < t1)
            chain = 1
            while due.size:  # departures before t1: successors, chains of short-lived ones
                for part in _batches(due, chain):
                    self._succeed(part, chain, t1, arrivals)
                due = due[self.death[due] < t1]
                chain = min(2 * chain, MAX_CHAIN)
            self._flush(t1)
        return self._exposure()

    def _flush(self, t1: int) -> None:
        """Add the block's entries to the accumulators (one bincount) and apply the state
        changes of the steps before ``t1`` to the host peaks."""
        add_flat(self.acc, *self._entries)
        self._entries = ([], [])
        self.peaks.flush(t1)

    def _departures_per_step(self) -> float:
        """Expected departures per slot and step."""
        t = self.table
        return float(np.dot(t.q_slot, 1.0 / t.mean_lifetime_s)) * self.dt

    def _block_steps(self) -> int:
        """Steps between flushes: about :data:`BLOCK_DEPARTURES` departures in the chunk."""
        per_step = self.H * self.M * self._departures_per_step()
        return int(np.clip(round(BLOCK_DEPARTURES / per_step), 1, self.steps))

    def _pool_size(self) -> int:
        """Arrivals drawn at once: the run's expected arrivals and a margin for the ones
        chains drop, at most :data:`POOL_PER_SLOT` per slot."""
        n = self.H * self.M
        expected = 1.5 * n * self.steps * self._departures_per_step()
        return int(min(expected + 64, POOL_PER_SLOT * n))

    def _succeed(self, slots: np.ndarray, chain: int, t1: int, arrivals: _Arrivals) -> None:
        """Fill ``slots`` (their VMs depart before ``t1``) with up to ``chain`` successive
        arrivals each: as many as arrive before ``t1``."""
        n = slots.size
        vms = arrivals.take(n * chain)
        life = self._life_steps(vms).reshape(n, chain)
        starts = self.death[slots][:, None] + 1 + np.cumsum(life, axis=1) - life
        use = (starts <= t1).ravel()  # the predecessor departs before t1
        per_slot = use.reshape(n, chain).sum(axis=1)
        death = self._place(np.repeat(slots, per_slot), vms.take(use), starts.ravel()[use],
                            boot=True)
        self.death[slots] = death[np.cumsum(per_slot) - 1]

    def _life_steps(self, vms: VMs) -> np.ndarray:
        """Steps from a VM's first step to its departure step, inclusive (capped)."""
        return np.minimum(np.ceil(vms.lifetime_s / self.dt), self.steps + 1).astype(np.int64)

    # -- VMs -----------------------------------------------------------------------------

    def _place(self, slots: np.ndarray, vms: VMs, start: np.ndarray, boot: bool) -> np.ndarray:
        """Put ``vms`` into ``slots`` from step ``start`` on, account their whole stay and
        return their departure steps (``steps``: after the run)."""
        S = self.steps
        death = np.minimum(start - 1 + self._life_steps(vms), S)
        end = np.minimum(death, S - 1)
        used0, ev = self._first_uses(vms, start, end)
        seg = _segments(start, end, death, used0, *ev)
        host = slots // self.M
        key = host * self.C + vms.cls
        kw = self._account(seg, vms, key, ev, boot)
        self.peaks.add(*_changes(seg, host[seg.vm], kw, S))
        return death

    def _first_uses(self, vms: VMs, start: np.ndarray, end: np.ndarray):
        """vCPUs used before ``start`` per VM, and (VM, step, count) of later first uses."""
        lam = np.where(vms.uses_amx, vms.new_amx_per_vcpu_s, 0.0)
        amx = np.flatnonzero(lam > 0)
        owner = np.repeat(amx, vms.vcpus[amx].astype(np.int64))
        t_use = self.rng.standard_exponential(owner.size) / lam[owner] - vms.age_s[owner]
        rel = np.floor(np.minimum(t_use / self.dt, self.steps + 1))  # steps after start
        used0 = np.bincount(owner[rel < 0], minlength=start.size)
        step = start[owner] + rel.astype(np.int64)
        later = (rel >= 0) & (step <= end[owner])
        span = self.steps + 2
        keys, counts = np.unique(owner[later] * span + step[later], return_counts=True)
        return used0, (keys // span, keys % span, counts)

    def _account(self, seg: _Segments, vms: VMs, key: np.ndarray, ev,
                 boot: bool | np.ndarray) -> np.ndarray:
        """Draw the segments' events and add them, their state time, the first uses and the
        vCPUs of VMs that ``boot`` (all, none or a mask) to the accumulators; return the
        segments' vCPUs per state."""
        idx, val, kw = self._values(seg, vms, key[seg.vm])
        idx.append(key[ev[0]] * NCOL + _POINT0 + _PT["first_use"])
        val.append(ev[2])
        if np.any(boot):  # vCPUs booted plain, AMX-capable but unaware, aware
            kind = np.where(~vms.cpuid_amx, 0, np.where(vms.aware, 2, 1))
            idx.append(key * NCOL + _POINT0 + _PT["boot_plain"] + kind)
            val.append(np.where(boot, vms.vcpus, 0))
        self._entries[0].extend(idx)
        self._entries[1].extend(val)
        return kw

    def _values(self, seg: _Segments, vms: VMs, key: np.ndarray) -> tuple[list, list, np.ndarray]:
        """Flat accumulator indices (``key`` x NCOL + column) and values of the segments'
        exits by kind and state (Poisson), vCPU-seconds per state and AMX point events, and
        the segments' vCPUs per state (segments, NJ). Only the states a segment's vCPUs are
        in get entries (one for most VMs: those without AMX, or before any use)."""
        v = seg.vm
        cls = vms.cls[v].astype(np.intp)
        k = vms.vcpus[v].astype(float)
        w = _weights(self._c, cls, k, vms.cpuid_amx[v], vms.aware[v], seg.used)
        kw = w * k[:, None]
        n_ex = seg.exit_last - seg.exit_first + 1
        n = self.rng.poisson(self._exit_means(vms, v, seg.exit_first, seg.exit_last))
        i, j = np.nonzero(w)
        at = key[i] * NCOL + j
        wj, ni = w[i, j], n[i]
        idx = [at + e * NJ for e in range(NE)] + [at + _STATE_S.start]
        val = [ni[:, e] * wj for e in range(NE)] + [kw[i, j] * (n_ex[i] * self.dt)]
        self._amx_points(seg, vms, cls, key, idx, val)
        return idx, val, kw

    def _exit_means(self, vms: VMs, vm: np.ndarray, first: np.ndarray,
                    last: np.ndarray) -> np.ndarray:
        """(n, NE) expected exits of each kind of VMs ``vm`` over steps ``first..last``."""
        c, dt = self._c, self.dt
        cls, k = vms.cls[vm], vms.vcpus[vm]
        rate = vms.exits_per_vcpu_s[vm] * k * dt
        sf, su = c["exit_share_fastpath"][cls], c["exit_share_user"][cls]
        pre = vms.preempts_per_vcpu_s[vm] * k * dt
        pu, pf = c["preempt_share_user_task"][cls], c["preempt_share_kernel_fpu"][cls]
        means = np.stack([rate * sf, rate * (1 - sf - su), rate * su,
                          pre * pu, pre * (1 - pu - pf), pre * pf], axis=-1)
        means *= load_sum(self.sc, first, last)[:, None]
        return means

    def _amx_points(self, seg: _Segments, vms: VMs, cls: np.ndarray, key: np.ndarray,
                    idx: list, val: list) -> None:
        """Onto ``idx``, ``val``: new AMX threads (Poisson) and AMX task switches (expected
        count) of the segments with used vCPUs."""
        dt = self.dt
        n_steps = seg.used_last - seg.used_first + 1
        on = np.flatnonzero((seg.used > 0) & (n_steps > 0))
        if not on.size:
            return
        vm, used = seg.vm[on], seg.used[on].astype(float)
        lam = np.where(vms.uses_amx[vm], vms.new_amx_per_vcpu_s[vm], 0.0)
        idx.append(key[on] * NCOL + _POINT0 + _PT["new_thread"])
        val.append(self.rng.poisson(used * lam * dt * n_steps[on]))
        s = self._c["amx_task_share"][cls[on]]
        loads = load_sum(self.sc, seg.used_first[on], seg.used_last[on])
        idx.append(key[on] * NCOL + _POINT0 + _PT["amx_switch"])
        val.append(used * vms.ctx_per_vcpu_s[vm] * 2 * s * (1 - s) * dt * loads)

    def _exposure(self) -> Exposure:
        """The accumulators as exposures, with the hosts' context switches added."""
        sc, H = self.sc, self.H
        lam_sw = sc.fleet["pcpus_per_host"] * sc.fleet["host_ctx_switches_per_pcpu_s"] * self.dt
        by_host = self.acc.reshape(H, self.C, NCOL).sum(axis=1)
        by_class = self.acc.reshape(H, self.C, NCOL).sum(axis=0)
        by_host[:, _POINT0 + _PT["host_switch"]] = self.rng.poisson(
            lam_sw * load_sum(sc, 0, self.steps - 1), H)
        share = self._c["p_xcr0_host_minus_amx"]
        per_class = self.acc[:, _EXITS].reshape(H, self.C, NE, NJ)
        exits = by_host[:, _EXITS].reshape(H, NE, NJ)
        kinds = xcr0_kinds(sc)
        fleet, class_fleet = fleet_exposure(sc, self.table, self.acc.reshape(H, self.C, NCOL))
        return Exposure(exits, by_host[:, _POINT0:],
                        by_host[:, _STATE_S], self.peaks.peak_pages, self.host_amx,
                        by_class[:, _EXITS].reshape(self.C, NE, NJ), by_class[:, _POINT0:],
                        by_class[:, _STATE_S], self.steps * self.dt,
                        xcr0_share(np.einsum("hcej,c->hej", per_class, share), exits)
                        * kinds[None, :, None],
                        share[:, None, None] * kinds[None, :, None] * np.ones((1, 1, NJ)),
                        fleet, class_fleet)


def xcr0_share(matched: np.ndarray, exits: np.ndarray) -> np.ndarray:
    """``matched / exits`` where there are exits, else 0."""
    return np.divide(matched, exits, out=np.zeros_like(exits), where=exits > 0)


def xcr0_kinds(sc: Scenario) -> np.ndarray:
    """(NE,) share of hosts whose kernel pays the cost table's XSETBV for each exit kind:
    all of them, except fastpath re-entries on kernels that switch XCR0 outside the
    fastpath loop (6.19+; the table prices the 6.18 placement)."""
    out = np.ones(NE)
    out[EXIT_KINDS.index("fastpath")] = float(sc.fleet["xcr0_fastpath_host_share"])
    return out


def fleet_exposure(sc: Scenario, table: ClassTable, acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Issue 17's fleet events as expected counts from the (host, class) accumulators
    ``acc`` (H, C, NCOL): (H, NFCOL) per host and (C, NFCOL) per class.

    Blocking halts, vCPU reschedules and migrations happen at a constant rate per
    vCPU-second in every state (no diurnal cycle); the vCPU thread that ran before a
    reschedule is drawn from the host's state mix; nested AMX use is a share of the first
    uses, new threads and AMX task switches. No random numbers are drawn, so a run with
    every new rate at 0 is the run from before these events, bit for bit.
    """
    H, C = acc.shape[:2]
    state_s = acc[:, :, _STATE_S]
    points = acc[:, :, [_POINT0 + _PT[p] for p in fc.NESTED_POINTS]]
    total = state_s.sum(axis=(1, 2))[:, None]
    partner = np.divide(state_s.sum(axis=1), total, out=np.zeros((H, NJ)), where=total > 0)
    rates = fc.class_rates(table.classes)
    follow = fc.switch_follow_share(sc.fleet)
    host, by_class = np.zeros((H, fc.NFCOL)), np.zeros((C, fc.NFCOL))
    for c in range(C):
        rows = fc.exposure_rows(state_s[:, [c]], points[:, [c]], {k: v[[c]] for k, v in rates.items()},
                                follow, partner)
        host += rows
        by_class[c] = rows.sum(axis=0)
    return host, by_class


class _Peaks:
    """The largest guest fpstate pages each host of a chunk held at the end of any step.

    State changes of VM segments arrive in any order (:func:`_changes`); ``flush(t1)``
    applies those of the steps before ``t1`` in time order, per host.
    """

    def __init__(self, pages: np.ndarray, host_amx: np.ndarray, steps: int):
        self.pages, self.host_amx, self.steps = pages, host_amx, steps
        self.level = np.zeros((host_amx.size, NJ))  # vCPUs per state at the last flush
        self.peak_pages = np.zeros((host_amx.size, pages.shape[0] - 1))
        self._buffer: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # not yet applied

    def add(self, host: np.ndarray, step: np.ndarray, kw: np.ndarray) -> None:
        """Buffer state changes: at the end of ``step``, ``host`` gains ``kw`` vCPUs per state."""
        self._buffer.append((host, step, kw))

    def flush(self, t1: int) -> None:
        """Apply the buffered state changes of steps before ``t1`` to the host peaks."""
        host, step, kw = (np.concatenate(x) for x in zip(*self._buffer))
        now = step < t1
        later = ~now
        self._buffer = [(host[later], step[later], kw[later])]
        raise_peaks(self.peak_pages, self.level, host[now], step[now], kw[now], self.pages,
                    self.host_amx, self.steps)


def raise_peaks(peak: np.ndarray, level: np.ndarray, host: np.ndarray, step: np.ndarray,
                kw: np.ndarray, pages: np.ndarray, host_amx: np.ndarray, steps: int,
                batch: int = PEAK_BATCH) -> None:
    """Raise ``peak`` (H, P) by state changes (at the end of ``step``, ``host`` gains ``kw``
    vCPUs per state; lost ones are negative) that follow ``level`` (H, NJ: vCPUs per state
    so far), and move ``level`` past them. Changes are sorted by (host, step) and applied
    whole hosts at a time, about ``batch`` changes each (small temporaries)."""
    if not host.size:
        return
    key = host.astype(np.int64) * steps + step
    order = np.argsort(key, kind="stable")
    key, host, kw = key[order], host[order], kw[order]
    firsts = np.flatnonzero(np.r_[True, host[1:] != host[:-1]])
    at = np.searchsorted(firsts, np.arange(0, host.size, batch))
    cuts = np.unique(np.r_[np.r_[firsts, host.size][at], host.size])
    for lo, hi in itertools.pairwise(cuts):
        _raise(peak, level, host[lo:hi], key[lo:hi], kw[lo:hi], pages, host_amx)


def _raise(peak, level, host, key, kw, pages, host_amx) -> None:
    """:func:`raise_peaks` for changes sorted by key, every change of their hosts."""
    total = np.cumsum(kw, axis=0)
    new_host = np.r_[True, host[1:] != host[:-1]]
    firsts = np.flatnonzero(new_host)
    hosts = host[firsts]
    before = np.zeros((firsts.size, NJ))
    before[1:] = total[firsts[1:] - 1]
    offset = level[hosts] - before
    ends = np.flatnonzero(np.r_[key[1:] != key[:-1], True])  # last change of a (host, step)
    run = (np.cumsum(new_host) - 1)[ends]
    now = total[ends] + offset[run]
    held = now @ pages.T  # hosts without AMX hold the default buffer (last row)
    held = np.where(host_amx[host[ends], None], held[:, :-1], held[:, -1:])
    top = np.maximum.reduceat(held, np.flatnonzero(np.r_[True, run[1:] != run[:-1]]), axis=0)
    peak[hosts] = np.maximum(peak[hosts], top)
    level[hosts] = total[np.r_[firsts[1:], host.size] - 1] + offset


def _changes(seg: _Segments, host: np.ndarray, kw: np.ndarray, steps: int):
    """The state changes (host, step, vCPUs per state) of segments on ``host``: each
    appears, and vanishes unless after the run."""
    gone = np.flatnonzero(seg.vanish < steps)
    return (np.r_[host, host[gone]], np.r_[seg.appear, seg.vanish[gone]],
            np.concatenate([kw, -kw[gone]]))


def add_flat(acc: np.ndarray, idx: list[np.ndarray], val: list[np.ndarray]) -> None:
    """``acc.flat[i] += v`` for every pair of ``idx``, ``val`` (repeats summed, in order)."""
    if not idx:  # a block without departures
        return
    flat = acc.reshape(-1)
    flat += np.bincount(np.concatenate(idx), np.concatenate(val).astype(float), flat.size)


def _batches(idx: np.ndarray, per: int = 1) -> list[np.ndarray]:
    """``idx`` in pieces of at most ``PLACE_BATCH / per`` entries."""
    size = max(PLACE_BATCH // per, 1)
    return [idx[i:i + size] for i in range(0, idx.size, size)]


def _weights(c: dict, cls: np.ndarray, k: np.ndarray, cpuid: np.ndarray, aware: np.ndarray,
             used: np.ndarray) -> np.ndarray:
    """Share of a VM's vCPUs in each pricing state, given how many have used AMX."""
    amx = cpuid & aware
    u = used / k
    s = c["amx_task_share"][cls]
    tl = c["tiles_live_share"][cls]
    w = np.zeros((len(k), NJ))
    w[:, 0] = ~cpuid
    w[:, 1] = cpuid & ~aware
    w[:, 2] = amx * (1 - u)
    w[:, 3] = amx * u * (1 - s)
    w[:, 4] = amx * u * s * tl
    w[:, 5] = amx * u * s * (1 - tl)
    return w


def run_chunk(sc: Scenario, chunk: int, pages_per_state: np.ndarray,
              table: ClassTable | None = None) -> Exposure:
    """Simulate one chunk of hosts over the whole run.

    ``pages_per_state`` is (policies + 1, states): the fpstate pages of one vCPU in each
    state under each policy, and last the no-AMX row used for hosts without AMX.
    """
    table = table or class_table(sc)
    start, stop = chunk_bounds(sc)[chunk]
    return Chunk(sc, table, stop - start, chunk_rng(sc, chunk), pages_per_state).run()
