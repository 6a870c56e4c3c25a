"""The event-level fleet: every VM exit and guest action replayed through the reference.

This is the slow, literal twin of the fleet engine. It uses the same VM population model
(:mod:`amxmodel.fleet.population`: stationary slots, VM draws, lifetimes), but instead of pricing
counts per pricing state it writes out, for every vCPU and step, the explicit events a
guest and a host would produce — VM exits in time order, switches between AMX and non-AMX
guest tasks as XFD writes, a new thread's first tile instruction with the guest #NM
handler, host preemptions after an exit, VM boots and departures — and replays them
through one :class:`~amxmodel.kernel.upstream.ReferenceModel` per VM and policy, which tracks
the per-CPU XFD cache, passthrough, XFD_ERR and buffer sizes exactly.

Used by the agreement tests (the engine must match it within sampling error) and by the
benchmark as the event-level baseline. Exits between two state-changing events are
replayed as one ``exit`` with a ``count``, which the reference handles one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from amxmodel.fleet.engine import DAY_S, chunk_rng
from amxmodel.fleet.population import class_table, draw_vms
from amxmodel.inputs.scenario import Scenario
from amxmodel.kernel import fleetcosts as fc
from amxmodel.kernel.measure import BOOT, FIRST_AMX, FLEET_KERNEL
from amxmodel.kernel.registry import make_model
from amxmodel.kernel.trace import parse_event
from amxmodel.kernel.upstream import mechanism_counts
from amxmodel.kernel.vocabulary import MECHS, STATES
from amxmodel.kernel.xfeatures import XTILEDATA

NON_AMX, AMX_LIVE, AMX_IDLE = 0, 1, 2
XCR0_AVX512 = 0xE0  # opmask | ZMM_Hi256 | Hi16_ZMM
# guest events for a task switch from one kind of task to another (Linux guest semantics:
# XFD is written only when the value changes; TILERELEASE when leaving an AMX task)
TASK_SWITCH = {
    (NON_AMX, AMX_LIVE): [{"event": "guest_wrmsr_xfd", "value": 0}, {"event": "guest_amx"}],
    (NON_AMX, AMX_IDLE): [{"event": "guest_wrmsr_xfd", "value": 0}],
    (AMX_LIVE, NON_AMX): [{"event": "guest_tile_release"},
                          {"event": "guest_wrmsr_xfd", "value": XTILEDATA}],
    (AMX_IDLE, NON_AMX): [{"event": "guest_wrmsr_xfd", "value": XTILEDATA}],
    (AMX_LIVE, AMX_IDLE): [{"event": "guest_tile_release"}],
    (AMX_IDLE, AMX_LIVE): [{"event": "guest_amx"}],
}


@dataclass
class EventResult:
    """Per host: mechanism counts per policy, vCPU-seconds and fpstate page-seconds."""

    policies: tuple[str, ...]
    counts: np.ndarray  # (H, P, MECHS)
    vcpu_s: np.ndarray  # (H,)
    page_s: np.ndarray  # (H, P)
    events: int  # reference events replayed (per policy)


def _mech(models) -> np.ndarray:
    """(policies, MECHS) mechanism counts of reference models so far."""
    return np.array([[mechanism_counts(m.c.as_dict())[k] for k in MECHS] for m in models], dtype=float)


def _on(raw: dict, vcpu: int) -> dict:
    """The event for vCPU ``vcpu`` (process-wide events stay without one)."""
    return raw if raw["event"] == "perm_request" else dict(raw, vcpu=vcpu)


class _VM:
    """One VM: its reference models (one per policy) and its vCPUs' guest task state."""

    def __init__(self, sim: EventFleet, vm, idx: int, t0: float, initial: bool):
        self.sim, self.k = sim, int(vm.vcpus[idx])
        self.cls = int(vm.cls[idx])
        self.cpuid, self.aware, self.uses = bool(vm.cpuid_amx[idx]), bool(vm.aware[idx]), bool(vm.uses_amx[idx])
        self.exits = float(vm.exits_per_vcpu_s[idx])
        self.ctx = float(vm.ctx_per_vcpu_s[idx])
        self.lam = float(vm.new_amx_per_vcpu_s[idx]) if self.uses else 0.0
        self.pre = float(vm.preempts_per_vcpu_s[idx])
        self.death = t0 + float(vm.lifetime_s[idx])
        self.models = [make_model(p, sim.sc.hardware, sim.host_kernel) for p in sim.host_policies]
        self.used = np.zeros(self.k, bool)
        self.task = np.full(self.k, NON_AMX)
        share = float(sim.rates["nested"][self.cls])  # issue 17: AMX tasks in L2 guests
        self.nested = self.uses and share > 0 and bool(sim.rng.random() < share)
        self.in_l2 = np.zeros(self.k, bool)
        kind = "S0" if not self.cpuid else ("S2" if self.aware else "S1")
        boot = BOOT[kind]
        if sim.aux_rng.random() >= sim.const["p_xcr0_host_minus_amx"][self.cls]:
            # XCR0 differs from the host's in other bits too (a CPU model without AVX-512):
            # KVM switches XCR0 for it on any host, AMX or not
            boot = [dict(e, value=e["value"] & ~XCR0_AVX512) if e["event"] == "guest_xsetbv"
                    else e for e in boot]
        for v in range(self.k):
            self.emit([_on(e, v) for e in boot])
        if initial and self.uses:  # vCPUs that already used AMX before the window opened
            p_used = -np.expm1(-self.lam * float(vm.age_s[idx]))
            for v in np.flatnonzero(sim.rng.random(self.k) < p_used):
                self.first_amx(int(v))
                self.task[v] = sim.draw_task(self.cls)
                self.emit([dict(e, vcpu=int(v)) for e in TASK_SWITCH.get((AMX_LIVE, self.task[v]), [])])
        self.base = self.mech() if initial else np.zeros((len(self.models), len(MECHS)))

    def emit(self, raw_events: list[dict]) -> None:
        for raw in raw_events:
            ev = parse_event(raw, 0, "eventsim")
            for m in self.models:
                m.apply(ev)
            self.sim.n_events += 1

    def mech(self) -> np.ndarray:
        return _mech(self.models)

    def pages(self) -> np.ndarray:
        return np.array([m.c.pages for m in self.models], dtype=float)

    def state(self, v: int) -> int:
        """Pricing state index of vCPU ``v`` (amxmodel.kernel.vocabulary.STATES)."""
        if not self.cpuid:
            return 0
        if not self.aware:
            return 1
        if not self.used[v]:
            return 2
        return {NON_AMX: 3, AMX_LIVE: 4, AMX_IDLE: 5}[int(self.task[v])]

    def first_amx(self, v: int) -> None:
        if self.nested and not self.in_l2[v]:  # the L1 hypervisor runs the AMX task in L2
            self.emit([{"event": "guest_nested", "l2": True, "vcpu": v}])
            self.in_l2[v] = True
        self.emit([dict(e, vcpu=v) for e in FIRST_AMX])
        self.used[v] = True
        self.task[v] = AMX_LIVE

    def step(self, load: float) -> None:
        """One step of every vCPU: exits, preemptions, task switches and new AMX threads."""
        rng, dt, c = self.sim.rng, self.sim.dt, self.sim.const
        sf, su = c["exit_share_fastpath"][self.cls], c["exit_share_user"][self.cls]
        for v in range(self.k):
            lam = self.exits * dt * load
            n_fast, n_kern, n_user = rng.poisson([lam * sf, lam * (1 - sf - su), lam * su])
            n_pre = int(rng.poisson(self.pre * dt * load))
            fleet = self.sim.fleet_marks(self.cls)  # issue 17: halts and vCPU switches
            n_kern = max(int(n_kern) - n_pre - len(fleet), 0)  # each follows a kernel exit
            n_sw = int(rng.poisson(self.ctx * dt * load)) if self.used[v] else 0
            n_new = int(rng.poisson(self.lam * dt))
            marks = ["pre"] * n_pre + ["sw"] * n_sw + ["new"] * n_new + fleet
            order = rng.permutation(len(marks))
            cuts = np.sort(rng.random(len(marks)))
            share = np.diff(np.concatenate([[0.0], cuts, [1.0]]))
            exits = [rng.multinomial(n, share) for n in (n_fast, n_kern, n_user)]
            for i in range(len(marks) + 1):
                self.emit_exits(v, exits[0][i], exits[1][i], exits[2][i])
                if i < len(marks):
                    self.emit_mark(v, marks[order[i]])

    def emit_exits(self, v: int, fast: int, kern: int, user: int) -> None:
        out = []
        if kern:
            out.append({"event": "exit", "kind": "kernel", "count": int(kern), "vcpu": v})
        if fast:
            out.append({"event": "exit", "kind": "fastpath", "count": int(fast), "vcpu": v})
        for _ in range(int(user)):
            out += [{"event": "exit", "kind": "user", "vcpu": v}, {"event": "run_enter", "vcpu": v}]
        self.emit(out)

    def emit_mark(self, v: int, mark: str) -> None:
        if mark == "pre":
            c = self.sim.const
            pu, pf = c["preempt_share_user_task"][self.cls], c["preempt_share_kernel_fpu"][self.cls]
            u = self.sim.aux_rng.random()  # what preempts, from the stream of its own
            by = "user" if u < pu else ("kernel_fpu" if u < pu + pf else "kthread")
            self.emit([{"event": "exit", "kind": "kernel", "vcpu": v},
                       {"event": "host_preempt", "vcpu": v, "by": by}])
        elif mark == "halt":
            self.emit([{"event": "exit", "kind": "kernel", "vcpu": v},
                       {"event": "vcpu_halt", "vcpu": v}])
        elif mark == "vsw":  # the vCPU thread that ran before: any vCPU of the host
            self.emit([{"event": "exit", "kind": "kernel", "vcpu": v}])
            state = self.sim.partner_state()
            for m, pol in zip(self.models, self.sim.host_policies):
                m.apply(parse_event({"event": "vcpu_switch", "vcpu": v,
                                     "from_xfd": self.sim.leave_xfd(pol, state)}, 0, "eventsim"))
            self.sim.n_events += 1
        elif mark == "sw":
            new = self.sim.draw_task(self.cls)
            self.emit([dict(e, vcpu=v) for e in TASK_SWITCH.get((int(self.task[v]), new), [])])
            self.task[v] = new
        elif not self.used[v]:
            self.first_amx(v)
        else:  # a new thread: the guest switches to it (XFD armed), its first tile instruction
            self.emit([dict(e, vcpu=v) for e in TASK_SWITCH.get((int(self.task[v]), NON_AMX), [])])
            self.task[v] = NON_AMX
            self.first_amx(v)

    def migrate(self) -> None:
        """A live migration of the whole VM: every vCPU stopped, moved, re-entered."""
        for v in range(self.k):
            self.emit([{"event": "exit", "kind": "user", "vcpu": v}, {"event": "migrate", "vcpu": v},
                       {"event": "run_enter", "vcpu": v}])

    def finish(self) -> np.ndarray:
        for v in range(self.k):
            self.emit([{"event": "destroy_vcpu", "vcpu": v}])
        return self.mech() - self.base


class EventFleet:
    """Event-level simulation of one chunk of hosts (same chunk seeds as the engine)."""

    def __init__(self, sc: Scenario, chunk: int = 0, hosts: int | None = None):
        self.sc = sc
        self.policies = tuple(sc.policies)
        self.table = class_table(sc)
        self.const = self.table.const
        self.rng = chunk_rng(sc, chunk)
        # guests' XCR0 and what preempts a vCPU from a stream of their own: the other draws
        # stay those of chunk_rng
        self.aux_rng = np.random.default_rng(
            np.random.SeedSequence(int(sc.run["seed"]), spawn_key=(chunk, 1)))
        self.dt = float(sc.run["step_s"])
        self.H = int(hosts if hosts is not None else min(sc.fleet["hosts"], sc.run["chunk_hosts"]))
        self.n_events = 0
        self.host_policies = self.policies
        self.host_kernel = FLEET_KERNEL
        self.rates = fc.class_rates(self.table.classes)
        self.follow = fc.switch_follow_share(sc.fleet)
        self.slots: list[_VM] = []
        self._leave: dict[tuple[str, int], int] = {}

    def fleet_marks(self, cls: int) -> list[str]:
        """Blocking halts and reschedules after another vCPU thread of one vCPU in a step
        (no draw when the rate is 0: the random stream stays the one of the old model)."""
        out = []
        for mark, rate in (("halt", self.rates["halt"][cls]),
                           ("vsw", self.rates["switch"][cls] * self.follow)):
            if rate > 0:
                out += [mark] * int(self.rng.poisson(rate * self.dt))
        return out

    def partner_state(self) -> int:
        """State of a vCPU drawn uniformly from the host's vCPUs."""
        k = np.array([vm.k for vm in self.slots], float)
        vm = self.slots[int(self.rng.choice(len(k), p=k / k.sum()))]
        return vm.state(int(self.rng.integers(vm.k)))

    def leave_xfd(self, policy: str, state: int) -> int:
        key = (policy, state)
        if key not in self._leave:
            self._leave[key] = fc.switch_out_xfd(policy, self.sc.hardware, STATES[state])
        return self._leave[key]

    def draw_task(self, cls: int) -> int:
        s, tl = self.const["amx_task_share"][cls], self.const["tiles_live_share"][cls]
        u = self.rng.random()
        return NON_AMX if u >= s else (AMX_LIVE if u < s * tl else AMX_IDLE)

    def run(self) -> EventResult:
        sc, M = self.sc, self.table.slots_per_host
        P, K = len(self.policies), len(MECHS)
        counts = np.zeros((self.H, P, K))
        vcpu_s = np.zeros(self.H)
        page_s = np.zeros((self.H, P))
        steps = int(sc.run["steps"])
        t_mid = (np.arange(steps) + 0.5) * self.dt
        loads = 1.0 + sc.fleet["diurnal_amplitude"] * np.sin(2 * np.pi * t_mid / DAY_S)
        amx_host = self.rng.random(self.H) < sc.fleet["amx_host_share"]
        lam_sw = sc.fleet["pcpus_per_host"] * sc.fleet["host_ctx_switches_per_pcpu_s"] * self.dt
        for h in range(self.H):
            # host context switches that involve no guest fpstate, priced on a host-wide model
            # a host without AMX behaves as no-amx whatever the design
            self.host_policies = self.policies if amx_host[h] else ("no-amx",) * P
            # its kernel: XCR0 switched around fastpath re-entries (6.18) or not (6.19)
            old = self.aux_rng.random() < sc.fleet["xcr0_fastpath_host_share"]
            self.host_kernel = FLEET_KERNEL if old else "6.19"
            host = [make_model(p, sc.hardware) for p in self.host_policies]
            for load in loads:
                n = int(self.rng.poisson(lam_sw * load))
                if n:
                    ev = parse_event({"event": "host_switch", "count": n}, 0, "eventsim")
                    for mdl in host:
                        mdl.apply(ev)
            counts[h] += _mech(host)
            init = draw_vms(self.rng, self.table, M, stationary=True)
            slots = [_VM(self, init, i, 0.0, True) for i in range(M)]
            self.slots = slots
            for i, load in enumerate(loads):
                t_end = (i + 1) * self.dt
                for m in range(M):
                    vm = slots[m]
                    vm.step(float(load))
                    mig = self.rates["migration"][vm.cls]
                    if mig > 0:
                        for _ in range(int(self.rng.poisson(mig * self.dt))):
                            vm.migrate()
                    vcpu_s[h] += vm.k * self.dt
                    if vm.death <= t_end:
                        counts[h] += vm.finish()
                        new = draw_vms(self.rng, self.table, 1, stationary=False)
                        slots[m] = _VM(self, new, 0, t_end, False)
                    page_s[h] += slots[m].pages() * self.dt
            for vm in slots:
                counts[h] += vm.mech() - vm.base
        return EventResult(self.policies, counts, vcpu_s, page_s, self.n_events)
