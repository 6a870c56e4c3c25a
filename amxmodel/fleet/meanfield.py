"""Mean-field mode: the expected exposures of one average host, computed without sampling.

The same stationary renewal model as the engine (:mod:`amxmodel.fleet.population`), in
expectation. For a VM that uses AMX, a vCPU has used AMX by age ``a`` with probability
``1 - exp(-lambda a)`` (``lambda``: new AMX threads per vCPU-second); the age of the VM
found in a slot has the equilibrium density ``S(a) / E[L]``, so

- share of its vCPUs already used:      ``1 - E_L[(1 - exp(-lambda L)) / lambda] / E[L]``
- first AMX uses per vCPU-second:       ``E_L[1 - exp(-lambda L)] / E[L]``
- new AMX threads on used vCPUs per s:  ``lambda - first uses per vCPU-second``

with expectations over ``lambda`` and ``L`` by quadrature (:func:`quadrature`). Rates and
shares are independent across VM attributes, so expectations factor. The exposures go
through exactly the same cost table and metrics as a sampled run.
"""

from __future__ import annotations

import numpy as np

from amxmodel.fleet.engine import NE, NJ, NPT, Exposure, diurnal, xcr0_kinds, xcr0_share
from amxmodel.fleet.population import class_table
from amxmodel.inputs import catalog
from amxmodel.inputs.distributions import quadrature
from amxmodel.inputs.scenario import Scenario
from amxmodel.kernel import fleetcosts as fc
from amxmodel.kernel.vocabulary import POINTS

_PT = {p: i for i, p in enumerate(POINTS)}


def _q(wc, field: str):
    lo, hi = catalog.section("workload")[field].allowed
    return quadrature(wc.dist(field), lo, hi)


def _mean(wc, field: str) -> float:
    x, w = _q(wc, field)
    return float(x @ w)


def amx_use(wc, step_s: float) -> tuple[float, float, float]:
    """(used share, first uses per vCPU-s, new threads on used vCPUs per vCPU-s)."""
    lam, wl = _q(wc, "new_amx_threads_per_vcpu_s")
    L, wL = _q(wc, "vm_lifetime_s")
    mean_L = float(L @ wL) + step_s / 2
    lam_ = lam[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        never = np.where(lam_ > 0, -np.expm1(-lam_ * L) / lam_, L)  # integral of exp(-lam a)
    not_used = float(wl @ (never @ wL)) / mean_L
    first = float(wl @ ((-np.expm1(-lam_ * L)) @ wL)) / mean_L
    return 1.0 - not_used, first, float(lam @ wl) - first


def expected_exposure(sc: Scenario) -> Exposure:
    """Expected exposures of an average host over the run (H = 1)."""
    t = class_table(sc)
    dt = float(sc.run["step_s"])
    seconds = dt * int(sc.run["steps"])
    load_s = float(diurnal(sc).sum() * dt)  # seconds weighted by the load multiplier
    C = len(t.names)
    exits = np.zeros((C, NE, NJ))
    points = np.zeros((C, NPT))
    state_s = np.zeros((C, NJ))
    for c, wc in enumerate(t.classes):
        k = t.mean_vcpus[c]
        vcpus = t.slots_per_host * t.q_slot[c] * k  # vCPUs of this class on a host
        pc = t.const["p_cpuid_amx"][c]
        pa = t.const["p_guest_aware"][c]
        pu = t.const["p_uses_amx"][c]
        s = t.const["amx_task_share"][c]
        tl = t.const["tiles_live_share"][c]
        used, first, threads = amx_use(wc, dt)
        amx = pc * pa * pu  # share of vCPUs in VMs that use AMX
        share = np.array([1 - pc, pc * (1 - pa), pc * pa - amx * used,
                          amx * used * (1 - s), amx * used * s * tl, amx * used * s * (1 - tl)])
        rate = _mean(wc, "exits_per_vcpu_s")
        sf, su = t.const["exit_share_fastpath"][c], t.const["exit_share_user"][c]
        pre = _mean(wc, "host_preempts_per_vcpu_s")
        pu, pf = t.const["preempt_share_user_task"][c], t.const["preempt_share_kernel_fpu"][c]
        per_kind = np.array([rate * sf, rate * (1 - sf - su), rate * su,
                             pre * pu, pre * (1 - pu - pf), pre * pf])
        exits[c] = vcpus * load_s * per_kind[:, None] * share[None, :]
        state_s[c] = vcpus * seconds * share
        arrivals = vcpus / t.mean_lifetime_s[c] * seconds  # vCPUs booted during the run
        points[c, _PT["boot_plain"]] = arrivals * (1 - pc)
        points[c, _PT["boot_legacy"]] = arrivals * pc * (1 - pa)
        points[c, _PT["boot_aware"]] = arrivals * pc * pa
        points[c, _PT["first_use"]] = vcpus * amx * first * seconds
        points[c, _PT["new_thread"]] = vcpus * amx * threads * seconds
        ctx = _mean(wc, "guest_ctx_switches_per_vcpu_s")
        points[c, _PT["amx_switch"]] = vcpus * amx * used * ctx * 2 * s * (1 - s) * load_s
    share, kinds = t.const["p_xcr0_host_minus_amx"], xcr0_kinds(sc)
    host_exits = exits.sum(axis=0)
    fleet = _fleet_events(sc, t, state_s, points)
    host_points = points.sum(axis=0)
    host_points[_PT["host_switch"]] = (sc.fleet["pcpus_per_host"]
                                       * sc.fleet["host_ctx_switches_per_pcpu_s"] * load_s)
    return Exposure(
        exits=host_exits[None], points=host_points[None],
        vcpu_state_s=state_s.sum(axis=0)[None], peak_pages=np.full((1, 0), np.nan),
        host_amx=np.array([float(sc.fleet["amx_host_share"])]),
        class_exits=exits, class_points=points, class_vcpu_state_s=state_s, seconds=seconds,
        xcr0_match=(xcr0_share(np.einsum("cej,c->ej", exits, share), host_exits)
                    * kinds[:, None])[None],
        class_xcr0_match=share[:, None, None] * kinds[None, :, None] * np.ones((1, 1, NJ)),
        fleet_events=fleet.sum(axis=0)[None], class_fleet_events=fleet)


def _fleet_events(sc: Scenario, t, state_s: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(C, NFCOL) expected issue-17 fleet events of each class on the average host."""
    total = state_s.sum()
    partner = state_s.sum(axis=0)[None] / total if total > 0 else np.zeros((1, NJ))
    rates = fc.class_rates(t.classes)
    follow = fc.switch_follow_share(sc.fleet)
    nested = [_PT[p] for p in fc.NESTED_POINTS]
    return np.concatenate([
        fc.exposure_rows(state_s[None, [c]], points[None, [c]][:, :, nested],
                         {k: v[[c]] for k, v in rates.items()}, follow, partner)
        for c in range(len(t.classes))])
