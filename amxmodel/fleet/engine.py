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
every block of steps (about :data:`BLOCK_DEPARTURES` departures per slot): it holds the
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
BLOCK_DEPARTURES = 0.5  # expected departures per slot between flushes of the change buffer
PLACE_BATCH = 4096  # VMs placed at once (bounds the temporaries whatever the chunk size)
MAX_CHAIN = 64  # successive arrivals placed at once in a slot of short-lived VMs
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
                        add("class_vcpu_state_s"), parts[0].seconds,
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
    """Arriving VMs, drawn in batches and handed out in order (arrivals do not depend on
    where they go: a few large draws instead of many small ones)."""

    def __init__(self, rng: np.random.Generator, table: ClassTable, batch: int):
        self.rng, self.table, self.batch = rng, table, batch
        self.vms: VMs | None = None

    def take(self, n: int) -> VMs:
        """The next ``n`` arrivals."""
        have = 0 if self.vms is None else len(self.vms)
        if have < n:
            more = draw_vms(self.rng, self.table, max(self.batch, n - have), stationary=False)
            self.vms = more if self.vms is None else VMs.concat([self.vms, more])
        out, self.vms = self.vms.take(slice(0, n)), self.vms.take(slice(n, None))
        return out

    def give_back(self, vms: VMs) -> None:
        """Return unused arrivals; they come out first next time."""
        self.vms = VMs.concat([vms, self.vms])


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
        self.peaks = _Peaks(table.const, self.pages, self.host_amx, self.steps)
        self._c = table.const

    def run(self) -> Exposure:
        """Simulate every step and return the chunk's exposures."""
        slots = np.arange(self.H * self.M)
        for part in _batches(slots):
            vms = draw_vms(self.rng, self.table, part.size, stationary=True)
            self.death[part] = self._place(part, vms, np.zeros(part.size, np.int64), boot=False)
        block = self._block_steps()
        arrivals = _Arrivals(self.rng, self.table, max(slots.size // 4, 64))
        for t1 in range(block, self.steps + block, block):
            t1 = min(t1, self.steps)
            due = np.flatnonzero(self.death < t1)
            chain = 1
            while due.size:  # departures before t1: successors, chains of short-lived ones
                for part in _batches(due, chain):
                    self._succeed(part, chain, t1, arrivals)
                due = due[self.death[due] < t1]
                chain = min(2 * chain, MAX_CHAIN)
            self.peaks.flush(t1)
        return self._exposure()

    def _block_steps(self) -> int:
        """Steps between flushes: about :data:`BLOCK_DEPARTURES` departures per slot."""
        t = self.table
        per_step = float(np.dot(t.q_slot, 1.0 / t.mean_lifetime_s)) * self.dt
        return int(np.clip(round(BLOCK_DEPARTURES / per_step), 1, self.steps))

    def _succeed(self, slots: np.ndarray, chain: int, t1: int, arrivals: _Arrivals) -> None:
        """Fill ``slots`` (their VMs depart before ``t1``) with up to ``chain`` successive
        arrivals each: as many as arrive before ``t1``."""
        n = slots.size
        vms = arrivals.take(n * chain)
        life = self._life_steps(vms).reshape(n, chain)
        starts = self.death[slots][:, None] + 1 + np.cumsum(life, axis=1) - life
        use = (starts <= t1).ravel()  # the predecessor departs before t1
        arrivals.give_back(vms.take(~use))
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
        self._account(seg, vms, key[seg.vm], host[seg.vm])
        np.add.at(self.acc[:, _POINT0 + _PT["first_use"]], key[ev[0]], ev[2])
        if boot:
            kind = np.where(~vms.cpuid_amx, 0, np.where(vms.aware, 2, 1))
            boots = np.where(kind[:, None] == np.arange(3), vms.vcpus[:, None], 0)
            np.add.at(self.acc[:, _POINT0 + _PT["boot_plain"]:][:, :3], key, boots)
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

    def _account(self, seg: _Segments, vms: VMs, key: np.ndarray, host: np.ndarray) -> None:
        """Draw the segments' events; add them, their state time and their state changes."""
        v = seg.vm
        cls = vms.cls[v].astype(np.intp)
        k = vms.vcpus[v].astype(float)
        w = _weights(self._c, cls, k, vms.cpuid_amx[v], vms.aware[v], seg.used)
        kw = w * k[:, None]
        vals = np.zeros((v.size, NCOL))
        n_ex = seg.exit_last - seg.exit_first + 1
        np.multiply(kw, (n_ex * self.dt)[:, None], out=vals[:, _STATE_S])
        on = np.flatnonzero(n_ex > 0)
        if on.size:
            means = self._exit_means(vms, v[on], seg.exit_first[on], seg.exit_last[on])
            n = self.rng.poisson(means)
            vals[on, _EXITS] = (n[:, :, None] * w[on, None, :]).reshape(on.size, -1)
        self._amx_points(seg, vms, cls, vals)
        np.add.at(self.acc, key, vals)
        self.peaks.add(_changes(seg, vms, host, self.steps))

    def _exit_means(self, vms: VMs, vm: np.ndarray, first: np.ndarray,
                    last: np.ndarray) -> np.ndarray:
        """(n, NE) expected exits of each kind of VMs ``vm`` over steps ``first..last``."""
        c, dt = self._c, self.dt
        cls, k = vms.cls[vm], vms.vcpus[vm]
        rate = vms.exits_per_vcpu_s[vm] * k * dt
        sf, su = c["exit_share_fastpath"][cls], c["exit_share_user"][cls]
        means = np.stack([rate * sf, rate * (1 - sf - su), rate * su,
                          vms.preempts_per_vcpu_s[vm] * k * dt], axis=-1)
        means *= load_sum(self.sc, first, last)[:, None]
        return means

    def _amx_points(self, seg: _Segments, vms: VMs, cls: np.ndarray, vals: np.ndarray) -> None:
        """Into ``vals``: new AMX threads (Poisson) and AMX task switches (expected count) of
        the segments with used vCPUs."""
        dt = self.dt
        n_steps = seg.used_last - seg.used_first + 1
        on = np.flatnonzero((seg.used > 0) & (n_steps > 0))
        if not on.size:
            return
        vm, used = seg.vm[on], seg.used[on].astype(float)
        lam = np.where(vms.uses_amx[vm], vms.new_amx_per_vcpu_s[vm], 0.0)
        vals[on, _POINT0 + _PT["new_thread"]] = self.rng.poisson(used * lam * dt * n_steps[on])
        s = self._c["amx_task_share"][cls[on]]
        loads = load_sum(self.sc, seg.used_first[on], seg.used_last[on])
        switches = used * vms.ctx_per_vcpu_s[vm] * 2 * s * (1 - s) * dt * loads
        vals[on, _POINT0 + _PT["amx_switch"]] = switches

    def _exposure(self) -> Exposure:
        """The accumulators as exposures, with the hosts' context switches added."""
        sc, H = self.sc, self.H
        lam_sw = sc.fleet["pcpus_per_host"] * sc.fleet["host_ctx_switches_per_pcpu_s"] * self.dt
        by_host = self.acc.reshape(H, self.C, NCOL).sum(axis=1)
        by_class = self.acc.reshape(H, self.C, NCOL).sum(axis=0)
        by_host[:, _POINT0 + _PT["host_switch"]] = self.rng.poisson(
            lam_sw * load_sum(sc, 0, self.steps - 1), H)
        fleet, class_fleet = fleet_exposure(sc, self.table, self.acc.reshape(H, self.C, NCOL))
        return Exposure(by_host[:, _EXITS].reshape(H, NE, NJ), by_host[:, _POINT0:],
                        by_host[:, _STATE_S], self.peaks.peak_pages, self.host_amx,
                        by_class[:, _EXITS].reshape(self.C, NE, NJ), by_class[:, _POINT0:],
                        by_class[:, _STATE_S], self.steps * self.dt, fleet, class_fleet)


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

    def __init__(self, const: dict, pages: np.ndarray, host_amx: np.ndarray, steps: int):
        self.const, self.pages, self.host_amx, self.steps = const, pages, host_amx, steps
        self.kw_level = np.zeros((host_amx.size, NJ))  # vCPUs per state at the last flush
        self.peak_pages = np.zeros((host_amx.size, pages.shape[0] - 1))
        self._buffer: list[np.ndarray] = []  # changes (_CHANGE) not yet applied

    def add(self, changes: np.ndarray) -> None:
        """Buffer state changes."""
        self._buffer.append(changes)

    def flush(self, t1: int) -> None:
        """Apply the buffered state changes of steps before ``t1`` to the host peaks."""
        buf = np.concatenate(self._buffer)
        now = buf["step"] < t1
        self._buffer = [buf[~now]]
        buf = buf[now]
        key = buf["host"].astype(np.int64) * self.steps + buf["step"]
        order = np.argsort(key, kind="stable")
        buf, key = buf[order], key[order]
        firsts = np.flatnonzero(np.r_[True, buf["host"][1:] != buf["host"][:-1]])
        # whole hosts at a time, about PLACE_BATCH changes each: small temporaries
        at = np.searchsorted(firsts, np.arange(0, buf.size, PLACE_BATCH))
        cuts = np.unique(np.r_[np.r_[firsts, buf.size][at], buf.size])
        for lo, hi in itertools.pairwise(cuts):
            self._apply(buf[lo:hi], key[lo:hi])

    def _apply(self, changes: np.ndarray, key: np.ndarray) -> None:
        """Raise the peaks of the hosts in ``changes`` (all their changes, sorted by key)."""
        k = changes["k"].astype(float)
        kw = _weights(self.const, changes["cls"], k, changes["cpuid"], changes["aware"],
                      changes["used"])
        kw *= (k * changes["sign"])[:, None]
        grp = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])  # one group per (host, step)
        total = np.cumsum(np.add.reduceat(kw, grp, axis=0), axis=0)
        gh = changes["host"][grp]
        new_host = np.r_[True, gh[1:] != gh[:-1]]
        runs = np.flatnonzero(new_host)  # first group of each host
        hosts = gh[runs]
        before = np.zeros((runs.size, NJ))
        before[1:] = total[runs[1:] - 1]
        level = total + (self.kw_level[hosts] - before)[np.cumsum(new_host) - 1]
        self.kw_level[hosts] = level[np.r_[runs[1:], gh.size] - 1]
        amx = self.host_amx[gh]
        no_amx = level @ self.pages[-1]  # hosts without AMX hold the default buffer
        for p in range(self.peak_pages.shape[1]):
            held = np.where(amx, level @ self.pages[p], no_amx)
            peak = np.maximum.reduceat(held, runs)
            np.maximum(self.peak_pages[hosts, p], peak, out=peak)
            self.peak_pages[hosts, p] = peak


# A buffered state change: at the end of ``step`` a host gains (sign 1) or loses (-1) the
# vCPUs of one VM segment, spread over the pricing states as the segment's weights say.
_CHANGE = np.dtype([("host", np.int32), ("step", np.int32), ("sign", np.int8), ("cls", np.int8),
                    ("k", np.int16), ("used", np.int16), ("cpuid", bool), ("aware", bool)])


def _changes(seg: _Segments, vms: VMs, host: np.ndarray, steps: int) -> np.ndarray:
    """The state changes of segments: each appears, and vanishes unless after the run."""
    both = np.r_[np.arange(seg.vm.size), np.flatnonzero(seg.vanish < steps)]
    vm = seg.vm[both]
    out = np.empty(both.size, _CHANGE)
    out["host"], out["step"] = host[both], np.r_[seg.appear, seg.vanish[both[seg.vm.size:]]]
    out["sign"] = 1
    out["sign"][seg.vm.size:] = -1
    out["cls"], out["k"], out["used"] = vms.cls[vm], vms.vcpus[vm], seg.used[both]
    out["cpuid"], out["aware"] = vms.cpuid_amx[vm], vms.aware[vm]
    return out


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
