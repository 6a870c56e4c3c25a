"""The vectorized engine agrees with the event-level reference on random scenarios.

For each of 24 scenarios drawn by a seeded generator (workload class, AMX adoption,
task mix, tile use, exit rates, churn, host AMX share, guests whose XCR0 is the
host's minus AMX,
what preempts a vCPU thread), the event-level fleet
(:mod:`amxmodel.fleet.eventfleet`: every exit and guest action replayed through the reference
state machine) and the sampled engine are run on the same parameters. For every policy
and every priced mechanism, and for the fpstate page-seconds, the mean per host must
agree within 4 combined standard errors plus 3 % (the engine replaces the exact guest
task sequence by its stationary shares) plus one count. Over ~2,900 comparisons, 4 SE
keeps the chance of a false alarm small while a wrong price or state rule (a factor of
two, a missing exit) fails by tens of standard errors.
"""

import numpy as np
import pytest

from amxmodel.analysis.metrics import mechanism_counts
from amxmodel.fleet.eventfleet import EventFleet
from amxmodel.inputs.scenario import load_scenario
from amxmodel.kernel.mechanisms import build_cost_table
from amxmodel.kernel.vocabulary import MECHS
from amxmodel.runs.run import simulate

CLASSES = ["idle", "web", "database", "hpc", "ai-inference", "ai-training", "legacy"]


def random_overrides(rng: np.random.Generator) -> list[str]:
    u = lambda lo, hi: float(rng.uniform(lo, hi))
    return [
        f"workload={rng.choice(CLASSES)}",
        "fleet.pcpus_per_host=8", "run.steps=4", "run.step_s=2",
        f"fleet.amx_host_share={rng.choice([1.0, 0.6])}",
        f"fleet.diurnal_amplitude={u(0, 0.5):.3f}",
        f"workloads.*.exits_per_vcpu_s.median={u(30, 400):.1f}",
        f"workloads.*.exit_share_fastpath={u(0, 0.6):.3f}",
        f"workloads.*.exit_share_user={u(0, 0.3):.3f}",
        f"workloads.*.guest_ctx_switches_per_vcpu_s.median={u(2, 40):.1f}",
        f"workloads.*.p_cpuid_amx={u(0.3, 1):.3f}",
        f"workloads.*.p_guest_aware={u(0.3, 1):.3f}",
        f"workloads.*.p_uses_amx={u(0, 1):.3f}",
        f"workloads.*.amx_task_share={u(0.05, 0.95):.3f}",
        f"workloads.*.tiles_live_share={u(0, 1):.3f}",
        f"workloads.*.new_amx_threads_per_vcpu_s={u(0.005, 0.3):.4f}",
        f"workloads.*.host_preempts_per_vcpu_s={u(0.2, 5):.3f}",
        f"workloads.*.vm_lifetime_s={u(4, 200):.1f}",
        "workloads.*.vcpus_per_vm=2",
        # drawn last, so the other parameters of the 24 scenarios stay what they were
        f"workloads.*.p_xcr0_host_minus_amx={u(0.3, 1):.3f}",
        f"workloads.*.preempt_share_user_task={u(0.1, 0.6):.3f}",
        f"workloads.*.preempt_share_kernel_fpu={u(0, 0.3):.3f}",
        f"fleet.xcr0_fastpath_host_share={rng.choice([1.0, 0.5])}",
    ]


def _host_stats(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = counts.shape[0]
    return counts.mean(axis=0), counts.std(axis=0, ddof=1) / np.sqrt(n)


SCENARIOS = [random_overrides(np.random.default_rng(1000 + i)) for i in range(24)]


@pytest.mark.slow
@pytest.mark.parametrize("sets", SCENARIOS, ids=[f"scenario{i}" for i in range(len(SCENARIOS))])
def test_engine_matches_event_level_reference(sets):
    ev_sc = load_scenario(None, sets + ["fleet.hosts=12", "run.chunk_hosts=12"])
    ev = EventFleet(ev_sc).run()
    en_sc = load_scenario(None, sets + ["fleet.hosts=600", "run.chunk_hosts=200"])
    table = build_cost_table(en_sc.hardware, en_sc.policies)
    exp = simulate(en_sc, table, progress=False)
    en_counts = mechanism_counts(exp, table)  # (H, P, K)
    en_pages = np.einsum("hj,hpj->hp", exp.vcpu_state_s, table.pages_on(exp.host_amx))

    for name, x_ev, x_en in (("mechanisms", ev.counts, en_counts),
                              ("page_seconds", ev.page_s, en_pages)):
        m_ev, se_ev = _host_stats(x_ev)
        m_en, se_en = _host_stats(x_en)
        slack = 4 * np.sqrt(se_ev**2 + se_en**2) + 0.03 * np.abs(m_en) + 1.0
        bad = np.argwhere(np.abs(m_ev - m_en) > slack)
        detail = [(ev_sc.policies[i[0]], MECHS[i[1]] if x_ev.ndim == 3 else name,
                   round(float(m_ev[tuple(i)]), 2), round(float(m_en[tuple(i)]), 2))
                  for i in bad]
        assert not detail, detail
