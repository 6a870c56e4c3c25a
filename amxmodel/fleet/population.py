"""The VMs that fill a fleet: who they are, how fast they exit, how long they live.

Hosts hold a fixed number of VM slots, sized so that the expected vCPUs per host equal
``pcpus_per_host x vcpu_overcommit x occupancy``. A slot is never empty: when a VM
departs, a new VM of a class drawn from the arrival mix takes its place (steady
occupancy). The fleet mix in the scenario is the share of *running vCPUs* by class; with
classes of different sizes and lifetimes, renewal theory gives

- the class of the VM found in a slot at a random moment: proportional to mix / E[vCPUs];
- the class of an arriving VM: proportional to mix / (E[vCPUs] x E[lifetime]);
- the lifetime of the VM found in a slot: length-biased, its age uniform within it.

So the engine starts in the stationary state, and its means match the mean-field model.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from amxmodel.inputs import catalog
from amxmodel.inputs.scenario import Scenario

AMX_FIELDS = ("exit_share_fastpath", "exit_share_user", "amx_task_share", "tiles_live_share",
              "p_cpuid_amx", "p_guest_aware", "p_uses_amx", "p_xcr0_host_minus_amx",
              "preempt_share_user_task", "preempt_share_kernel_fpu")


@dataclass(frozen=True)
class ClassTable:
    """Per-class constants and distributions, in the scenario's mix order."""

    names: tuple[str, ...]
    classes: tuple  # WorkloadClass objects
    q_slot: np.ndarray  # class of the VM in a slot at a random moment
    q_arrival: np.ndarray  # class of an arriving VM
    mean_vcpus: np.ndarray  # E[vCPUs] per class
    mean_lifetime_s: np.ndarray  # E[lifetime] + step/2 (departures happen at step ends)
    const: dict[str, np.ndarray]  # AMX_FIELDS -> (C,) values
    slots_per_host: int
    allowed: dict[str, tuple[float, float]]  # workload field -> catalogue range (draws clip)


def class_table(sc: Scenario) -> ClassTable:
    """Derive the slot and arrival mixes and per-class constants from a scenario."""
    names = tuple(sc.mix)
    classes = tuple(sc.workloads[n] for n in names)
    mix = np.array([sc.mix[n] for n in names])
    mean_k = np.array([_mean_vcpus(c) for c in classes])
    step_s = float(sc.run["step_s"])
    mean_l = np.array([c.mean("vm_lifetime_s") for c in classes]) + step_s / 2
    q_slot = mix / mean_k
    q_slot = q_slot / q_slot.sum()
    q_arr = q_slot / mean_l
    q_arr = q_arr / q_arr.sum()
    fleet = sc.fleet
    vcpus_per_host = fleet["pcpus_per_host"] * fleet["vcpu_overcommit"] * fleet["occupancy"]
    mean_k_slot = float(np.dot(q_slot, mean_k))
    slots = max(1, round(vcpus_per_host / mean_k_slot))
    const = {f: np.array([c.mean(f) for c in classes]) for f in AMX_FIELDS}
    allowed = {f: spec.allowed for f, spec in catalog.section("workload").items()}
    return ClassTable(names, classes, q_slot, q_arr, mean_k, mean_l, const, slots, allowed)


def _mean_vcpus(cls) -> float:
    """E[vCPUs] after rounding draws to whole vCPUs (what the engine uses)."""
    d = cls.dist("vcpus_per_vm")
    vals = getattr(d, "values", None)
    if vals is not None:
        return float(np.dot(d.probs, np.maximum(1, np.rint(vals))))
    rng = np.random.default_rng(0)
    return float(np.maximum(1, np.rint(d.sample(rng, 200_000))).mean())


@dataclass
class VMs:
    """Attributes of a batch of VMs (one entry per VM)."""

    cls: np.ndarray  # int8 class index
    vcpus: np.ndarray  # int16
    cpuid_amx: np.ndarray  # bool
    aware: np.ndarray  # bool
    uses_amx: np.ndarray  # bool
    exits_per_vcpu_s: np.ndarray
    ctx_per_vcpu_s: np.ndarray
    new_amx_per_vcpu_s: np.ndarray
    preempts_per_vcpu_s: np.ndarray
    lifetime_s: np.ndarray  # remaining life
    age_s: np.ndarray  # age at the start (0 for arrivals)

    def __len__(self) -> int:
        return len(self.cls)

    def take(self, sel) -> VMs:
        """The VMs at ``sel`` (a slice, mask or index array)."""
        return VMs(*(getattr(self, f.name)[sel] for f in fields(self)))

    @staticmethod
    def concat(parts: list[VMs]) -> VMs:
        """The VMs of ``parts``, in order."""
        return VMs(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(VMs)))


def draw_vms(rng: np.random.Generator, table: ClassTable, n: int, stationary: bool) -> VMs:
    """Draw ``n`` VMs: arrivals, or (``stationary``) the VMs found in slots at time 0."""
    q = table.q_slot if stationary else table.q_arrival
    cls = rng.choice(len(q), n, p=q).astype(np.int8)
    out = {k: np.zeros(n) for k in ("exits", "ctx", "new", "pre", "life", "age")}
    vcpus = np.ones(n, dtype=np.int16)
    u = rng.random((n, 3))
    c = table.const
    cpuid = u[:, 0] < c["p_cpuid_amx"][cls]
    aware = u[:, 1] < c["p_guest_aware"][cls]
    uses = cpuid & aware & (u[:, 2] < c["p_uses_amx"][cls])
    for ci, wc in enumerate(table.classes):
        idx = np.flatnonzero(cls == ci)
        m = idx.size
        if m == 0:
            continue
        vcpus[idx] = np.maximum(1, np.rint(_draw(table, wc, "vcpus_per_vm", rng, m)))
        out["exits"][idx] = _draw(table, wc, "exits_per_vcpu_s", rng, m)
        out["ctx"][idx] = _draw(table, wc, "guest_ctx_switches_per_vcpu_s", rng, m)
        out["new"][idx] = _draw(table, wc, "new_amx_threads_per_vcpu_s", rng, m)
        out["pre"][idx] = _draw(table, wc, "host_preempts_per_vcpu_s", rng, m)
        life = wc.dist("vm_lifetime_s")
        if stationary:
            total = np.clip(life.sample_length_biased(rng, m), *table.allowed["vm_lifetime_s"])
            age = rng.random(m) * total
            out["life"][idx] = total - age
            out["age"][idx] = age
        else:
            out["life"][idx] = _draw(table, wc, "vm_lifetime_s", rng, m)
    return VMs(cls, vcpus, cpuid, aware, uses, out["exits"], out["ctx"], out["new"], out["pre"],
               np.maximum(out["life"], 1e-9), out["age"])


def _draw(table: ClassTable, wc, field: str, rng: np.random.Generator, m: int) -> np.ndarray:
    """``m`` draws of a workload field, clipped to the catalogue's allowed range."""
    return np.clip(wc.dist(field).sample(rng, m), *table.allowed[field])
