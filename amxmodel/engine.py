"""The vectorized fleet engine: one pass over random events, priced under every design.

Hosts are simulated in chunks of ``run.chunk_hosts``; a chunk holds arrays shaped
(hosts, VM slots). Each time step draws, per VM slot, Poisson counts of fastpath, kernel
and user-space VM exits and of host preemptions (rates scaled by the diurnal load), the
first AMX use on each vCPU not yet used (binomial), new AMX threads (Poisson), and VM
departures (each VM's lifetime is drawn at arrival). These draws do not depend on the
policy: the engine accumulates *exposures* — how many events of each kind happened to
vCPUs in each pricing state (:mod:`amxmodel.states`) — and the cost table turns
exposures into counts of kernel mechanisms for every policy at once (common random
numbers: policy differences carry no sampling noise, and pricing ten designs costs the
same as pricing one).

Exits of a slot are summed between changes of its state (first AMX use, departure) and
folded into the exposures then, so the per-step work is the draws and a few additions.
Memory per chunk is fixed: nothing grows with the number of steps. Each chunk draws from
its own ``SeedSequence(seed, spawn_key=(chunk,))``: results are bit-identical whatever the
order in which chunks run or the number of processes that run them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .fleet import ClassTable, VMs, class_table, draw_vms
from .params import Scenario
from .states import EXIT_KINDS, POINTS, STATES

NJ, NE, NPT = len(STATES), len(EXIT_KINDS), len(POINTS)
_PT = {p: i for i, p in enumerate(POINTS)}
DAY_S = 86400.0


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

    @property
    def hosts(self) -> int:
        return self.exits.shape[0]

    @staticmethod
    def concat(parts: list["Exposure"]) -> "Exposure":
        """Join chunks in the given order (host arrays stacked, class arrays summed)."""
        cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
        add = lambda name: np.sum([getattr(p, name) for p in parts], axis=0)  # noqa: E731
        return Exposure(cat("exits"), cat("points"), cat("vcpu_state_s"), cat("peak_pages"),
                        cat("host_amx"), add("class_exits"), add("class_points"),
                        add("class_vcpu_state_s"), parts[0].seconds)


def diurnal(sc: Scenario, steps: int | None = None) -> np.ndarray:
    """Load multiplier of each step: 1 + a sin(2 pi t / day) at the step's midpoint."""
    n = int(sc.run["steps"] if steps is None else steps)
    dt = float(sc.run["step_s"])
    t_mid = (np.arange(n) + 0.5) * dt
    return 1.0 + sc.fleet["diurnal_amplitude"] * np.sin(2 * math.pi * t_mid / DAY_S)


def chunk_bounds(sc: Scenario) -> list[tuple[int, int]]:
    """Host index ranges [start, stop) of the chunks, in order."""
    hosts, size = int(sc.fleet["hosts"]), int(sc.run["chunk_hosts"])
    return [(s, min(s + size, hosts)) for s in range(0, hosts, size)]


def chunk_rng(sc: Scenario, chunk: int) -> np.random.Generator:
    """The random stream of one chunk: a child of the root seed by chunk index."""
    ss = np.random.SeedSequence(int(sc.run["seed"]), spawn_key=(chunk,))
    return np.random.Generator(np.random.PCG64(ss))


class Chunk:
    """State and accumulators of one chunk of hosts."""

    def __init__(self, sc: Scenario, table: ClassTable, n_hosts: int, rng: np.random.Generator,
                 pages_per_state: np.ndarray):
        self.sc, self.table, self.rng = sc, table, rng
        # (P, NJ) pages one vCPU holds in each state under each policy; hosts without AMX
        # hold the default buffer whatever the policy (last row: the no-AMX case)
        self.pages = pages_per_state
        self.H, self.M = n_hosts, table.slots_per_host
        self.dt = float(sc.run["step_s"])
        self.C = len(table.names)
        self.host_amx = rng.random(n_hosts) < sc.fleet["amx_host_share"]
        shape = (self.H, self.M)
        self.cls = np.zeros(shape, np.int8)
        self.k = np.zeros(shape, np.int16)
        self.cpuid = np.zeros(shape, bool)
        self.aware = np.zeros(shape, bool)
        self.uses = np.zeros(shape, bool)
        self.n_used = np.zeros(shape, np.int16)
        self.base = np.zeros(shape + (NE,))  # events per step at load 1, per slot
        self.ctx = np.zeros(shape)
        self.lam_new = np.zeros(shape)  # new AMX threads per vCPU-second
        self.death_s = np.zeros(shape)
        self.ncum = np.zeros(shape + (NE,))  # events since the slot's last fold
        self.t_fold = np.zeros(shape)
        self.w = np.zeros(shape + (NJ,))  # share of the slot's vCPUs in each state
        # accumulators
        self.exits = np.zeros((self.H, NE, NJ))
        self.points = np.zeros((self.H, NPT))
        self.vcpu_state_s = np.zeros((self.H, NJ))
        self.class_exits = np.zeros((self.C, NE, NJ))
        self.class_points = np.zeros((self.C, NPT))
        self.class_vcpu_state_s = np.zeros((self.C, NJ))
        self.kw_now = np.zeros((self.H, NJ))  # vCPUs per state now, per host
        self.peak_pages = np.zeros((self.H, self.pages.shape[0] - 1))
        self._c = table.const
        all_slots = np.ones(shape, bool)
        self._place(all_slots, draw_vms(rng, table, self.H * self.M, stationary=True), t=0.0)

    # -- state ---------------------------------------------------------------------------

    def _place(self, mask: np.ndarray, vms: VMs, t: float) -> None:
        """Put new VMs into the slots of ``mask`` at time ``t``."""
        c = self._c
        self._account_kw(mask, -1.0)
        self.cls[mask] = vms.cls
        self.k[mask] = vms.vcpus
        self.cpuid[mask] = vms.cpuid_amx
        self.aware[mask] = vms.aware
        self.uses[mask] = vms.uses_amx
        k = vms.vcpus.astype(float)
        rate = vms.exits_per_vcpu_s * k * self.dt
        sf, su = c["exit_share_fastpath"][vms.cls], c["exit_share_user"][vms.cls]
        base = np.stack([rate * sf, rate * (1 - sf - su), rate * su,
                         vms.preempts_per_vcpu_s * k * self.dt], axis=-1)
        self.base[mask] = base
        self.ctx[mask] = vms.ctx_per_vcpu_s
        self.lam_new[mask] = np.where(vms.uses_amx, vms.new_amx_per_vcpu_s, 0.0)
        self.death_s[mask] = t + vms.lifetime_s
        used = np.zeros(len(vms.cls), np.int16)
        if t == 0.0:  # the VMs found at time 0 have an age: some vCPUs already used AMX
            p = -np.expm1(-vms.new_amx_per_vcpu_s * vms.age_s)
            used = np.where(vms.uses_amx, self.rng.binomial(vms.vcpus, p), 0).astype(np.int16)
        self.n_used[mask] = used
        self.ncum[mask] = 0.0
        self.t_fold[mask] = t
        self._set_weights(mask)
        self._account_kw(mask, 1.0)

    def _set_weights(self, mask: np.ndarray) -> None:
        """Recompute the state shares of the slots in ``mask`` and the host state totals."""
        cls = self.cls[mask]
        k = self.k[mask].astype(float)
        cpuid, aware = self.cpuid[mask], self.aware[mask]
        amx = cpuid & aware
        used = self.n_used[mask] / k
        s = self._c["amx_task_share"][cls]
        tl = self._c["tiles_live_share"][cls]
        w = np.zeros((len(k), NJ))
        w[:, 0] = ~cpuid
        w[:, 1] = cpuid & ~aware
        w[:, 2] = amx * (1 - used)
        w[:, 3] = amx * used * (1 - s)
        w[:, 4] = amx * used * s * tl
        w[:, 5] = amx * used * s * (1 - tl)
        self.w[mask] = w

    def _account_kw(self, mask: np.ndarray, sign: float) -> None:
        """Add (sign=1) or remove (sign=-1) the slots' vCPUs per state to the host totals."""
        hosts = np.nonzero(mask)[0]
        kw = self.w[mask] * self.k[mask][:, None]
        self.kw_now += sign * _group_sum(hosts, kw, self.H)

    def _fold(self, mask: np.ndarray, t: float) -> None:
        """Fold the slots' summed events and state time into the accumulators."""
        hosts = np.nonzero(mask)[0]
        cls = self.cls[mask].astype(np.intp)
        w = self.w[mask]
        ev = self.ncum[mask][:, :, None] * w[:, None, :]  # (n, NE, NJ)
        kt = w * (self.k[mask] * (t - self.t_fold[mask]))[:, None]  # vCPU-seconds per state
        flat = ev.reshape(len(hosts), -1)
        self.exits += _group_sum(hosts, flat, self.H).reshape(self.H, NE, NJ)
        self.class_exits += _group_sum(cls, flat, self.C).reshape(self.C, NE, NJ)
        self.vcpu_state_s += _group_sum(hosts, kt, self.H)
        self.class_vcpu_state_s += _group_sum(cls, kt, self.C)
        self.ncum[mask] = 0.0
        self.t_fold[mask] = t

    def _add_points(self, mask_or_idx, point: str, counts: np.ndarray) -> None:
        """Add point events (per slot counts) to the host and class accumulators."""
        if isinstance(mask_or_idx, tuple):
            hosts, slots = mask_or_idx
        else:
            hosts, slots = np.nonzero(mask_or_idx)
        j = _PT[point]
        self.points[:, j] += np.bincount(hosts, counts, minlength=self.H)
        self.class_points[:, j] += np.bincount(self.cls[hosts, slots], counts, minlength=self.C)

    # -- one step ------------------------------------------------------------------------

    def step(self, i: int, load: float) -> None:
        """Advance one step of ``dt`` seconds at load multiplier ``load``."""
        rng, dt = self.rng, self.dt
        t_end = (i + 1) * dt
        self.ncum += rng.poisson(self.base * load)
        # AMX: first use on vCPUs not used yet, and new AMX threads on used ones
        cand = self.uses & (self.n_used < self.k)
        h, m = np.nonzero(cand)
        if h.size:
            p = -np.expm1(-self.lam_new[h, m] * dt)
            new = rng.binomial(self.k[h, m] - self.n_used[h, m], p)
            hit = new > 0
            if hit.any():
                hh, mm = h[hit], m[hit]
                sel = np.zeros_like(cand)
                sel[hh, mm] = True
                self._fold(sel, t_end)
                self._account_kw(sel, -1.0)
                self.n_used[hh, mm] += new[hit].astype(np.int16)
                self._set_weights(sel)
                self._account_kw(sel, 1.0)
                self._add_points((hh, mm), "first_use", new[hit].astype(float))
        used = self.n_used > 0
        h, m = np.nonzero(used)
        if h.size:
            nu = self.n_used[h, m].astype(float)
            threads = rng.poisson(nu * self.lam_new[h, m] * dt)
            self._add_points((h, m), "new_thread", threads.astype(float))
            s = self._c["amx_task_share"][self.cls[h, m]]
            self._add_points((h, m), "amx_switch", nu * self.ctx[h, m] * 2 * s * (1 - s) * dt * load)
        # host context switches (only designs that check in switch_to pay for them)
        lam_sw = self.sc.fleet["pcpus_per_host"] * self.sc.fleet["host_ctx_switches_per_pcpu_s"]
        self.points[:, _PT["host_switch"]] += rng.poisson(lam_sw * dt * load, self.H)
        # departures and arrivals
        dead = self.death_s <= t_end
        n_dead = int(dead.sum())
        if n_dead:
            self._fold(dead, t_end)
            vms = draw_vms(rng, self.table, n_dead, stationary=False)
            self._place(dead, vms, t_end)
            kind = np.where(~vms.cpuid_amx, 0, np.where(vms.aware, 2, 1))
            for b, name in enumerate(("boot_plain", "boot_legacy", "boot_aware")):
                self._add_points(dead, name, np.where(kind == b, vms.vcpus, 0).astype(float))
        # guest fpstate pages each host holds now, per policy; hosts without AMX: default size
        pages = self.kw_now @ self.pages.T  # (H, P+1)
        now = np.where(self.host_amx[:, None], pages[:, :-1], pages[:, -1:])
        np.maximum(self.peak_pages, now, out=self.peak_pages)

    def finish(self, t_end: float) -> Exposure:
        """Fold every slot and return the chunk's exposures."""
        self._fold(np.ones((self.H, self.M), bool), t_end)
        return Exposure(self.exits, self.points, self.vcpu_state_s, self.peak_pages,
                        self.host_amx, self.class_exits, self.class_points,
                        self.class_vcpu_state_s, t_end)


def _group_sum(keys: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Sum rows of ``values`` (n_rows, cols) by integer ``keys`` into (n, cols)."""
    out = np.zeros((n, values.shape[1]))
    np.add.at(out, keys, values)
    return out


def run_chunk(sc: Scenario, chunk: int, pages_per_state: np.ndarray,
              table: ClassTable | None = None) -> Exposure:
    """Simulate one chunk of hosts over the whole run.

    ``pages_per_state`` is (policies + 1, states): the fpstate pages of one vCPU in each
    state under each policy, and last the no-AMX row used for hosts without AMX.
    """
    table = table or class_table(sc)
    start, stop = chunk_bounds(sc)[chunk]
    ch = Chunk(sc, table, stop - start, chunk_rng(sc, chunk), pages_per_state)
    loads = diurnal(sc)
    for i, load in enumerate(loads):
        ch.step(i, float(load))
    return ch.finish(len(loads) * ch.dt)
