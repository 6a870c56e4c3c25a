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
    ] + FLEET_EVENTS_OFF


# issue 17's events off: the scenarios above test the model they were written for (the
# class defaults' halt rates would exceed their kernel exits); fleet_event_overrides below
FLEET_EVENTS_OFF = ["workloads.*.halts_per_vcpu_s=0", "workloads.*.vcpu_switches_per_vcpu_s=0",
                    "workloads.*.migrations_per_vm_day=0", "workloads.*.nested_amx_share=0"]


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


def fleet_event_overrides(rng: np.random.Generator) -> list[str]:
    """A random scenario with issue 17's fleet events on: overcommit with vCPU-to-vCPU
    switches, blocking halts, live migrations and nested AMX use.

    The new events are frequent (a migration every few VM-seconds) so that leaving any of
    them out of the engine fails the comparison; halts and switches stay below the kernel
    exits they follow. Guest task switches are
    frequent and new AMX threads rare, so the live tiles a first use leaves until the next
    task switch (which the engine's stationary task shares do not see) stay within the
    3 % slack. A third of the VMs lack AMX in CPUID (under upstream their XFD is 0, the
    others' 0x40000: vCPU switches between them write XFD). Every host has AMX, most AMX
    guests use it and most of those nest it, and the
    guest switch rate is one
    number, not a draw per VM: on 12 hosts a few AMX VMs with extreme rates would make the
    per-host spread (and the standard error the test trusts) meaningless for the nested
    costs, which are paid per AMX task switch.
    """
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    return random_overrides(rng)[:-len(FLEET_EVENTS_OFF)] + [
        "fleet.amx_host_share=1.0",
        f"workloads.*.exits_per_vcpu_s.median={u(150, 400):.1f}",
        f"workloads.*.guest_ctx_switches_per_vcpu_s={u(20, 40):.1f}",
        f"workloads.*.new_amx_threads_per_vcpu_s={u(0.005, 0.05):.4f}",
        f"workloads.*.tiles_live_share={u(0.3, 1):.3f}",
        f"workloads.*.p_cpuid_amx={u(0.5, 0.8):.3f}",
        f"workloads.*.p_guest_aware={u(0.8, 1):.3f}",
        f"workloads.*.p_uses_amx={u(0.7, 1):.3f}",
        f"workloads.*.amx_task_share={u(0.3, 0.7):.3f}",
        f"workloads.*.exit_share_fastpath={u(0, 0.2):.3f}",
        f"workloads.*.exit_share_user={u(0, 0.1):.3f}",
        f"fleet.vcpu_overcommit={rng.choice([2.0, 3.0])}",
        f"workloads.*.halts_per_vcpu_s={u(5, 20):.3f}",
        f"workloads.*.vcpu_switches_per_vcpu_s={u(10, 40):.3f}",
        f"workloads.*.migrations_per_vm_day={u(10000, 20000):.1f}",
        f"workloads.*.nested_amx_share={u(0.7, 1):.3f}",
    ]


FLEET_EVENT_SCENARIOS = [fleet_event_overrides(np.random.default_rng(2000 + i)) for i in range(8)]


@pytest.mark.slow
@pytest.mark.parametrize("sets", FLEET_EVENT_SCENARIOS,
                         ids=[f"fleet_events{i}" for i in range(len(FLEET_EVENT_SCENARIOS))])
def test_fleet_events_match_event_level_reference(sets):
    test_engine_matches_event_level_reference(sets)

