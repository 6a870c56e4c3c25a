"""How much the fleet events of issue 17 move each design.

Four events the first model left out: vCPU threads sharing a hardware thread
(``vcpu_switches_per_vcpu_s``, only with ``fleet.vcpu_overcommit`` x occupancy above 1),
blocking halts (``halts_per_vcpu_s``), live migration (``migrations_per_vm_day``) and AMX
used in nested L2 guests (``nested_amx_share``). For each, :func:`event_effects` runs the
scenario with the event off and compares it with the event at its default and at the top
of its plausible range (every class at the top of its own range); :func:`overcommit_scan`
follows the designs from one vCPU per hardware thread to three; :func:`effect_sentences`
writes the numbers as prose for the notebooks, so no number in the text is typed by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from amxmodel.analysis.sensitivity import workload_ends
from amxmodel.inputs import catalog
from amxmodel.inputs.scenario import Scenario

# event -> (workload field that sets its rate, the metric where it shows first)
EVENTS = {
    "vcpu_switch": ("vcpu_switches_per_vcpu_s", "wrmsr_xfd_per_vcpu_s"),
    "halt": ("halts_per_vcpu_s", "overhead_fraction"),
    "migration": ("migrations_per_vm_day", "reallocs_per_host_hour"),
    "nested": ("nested_amx_share", "extra_exits_per_vcpu_s"),
}
LABEL = {"vcpu_switch": "vCPU threads sharing a hardware thread", "halt": "blocking halts",
         "migration": "live migration", "nested": "AMX in nested (L2) guests"}
OVERCOMMITS = (1.0, 1.5, 2.0, 2.5, 3.0)


def _results(sc: Scenario, sets: dict, mode: str):
    from amxmodel.runs.run import run

    return run(sc.with_overrides(sets) if sets else sc, mode=mode, progress=False)


def _run(sc: Scenario, sets: dict, mode: str) -> pd.Series:
    return _results(sc, sets, mode).summary.set_index(["policy", "metric"])["value"]


def _off(sc: Scenario, field: str) -> dict:
    return {f"workloads.{cls}.{field}": 0.0 for cls in sc.workloads}


def event_effects(sc: Scenario, mode: str = "mean-field") -> pd.DataFrame:
    """Per event, setting (``default``, ``top``) and policy: overhead and the event's own
    metric with the event off and on. The vCPU-switch rows run at the top of the plausible
    overcommit when the scenario's overcommit leaves each vCPU a thread of its own."""
    top_overcommit = catalog.section("fleet")["vcpu_overcommit"].plausible[1]
    rows = []
    for event, (field, metric) in EVENTS.items():
        for setting in ("default", "top"):
            base = {}
            if event == "vcpu_switch" and setting == "top":
                base = {"fleet.vcpu_overcommit": top_overcommit}
            on = dict(base)
            if setting == "top":
                on.update(workload_ends(sc, field)["high"][0])
            off_v, on_v = _run(sc, {**base, **_off(sc, field)}, mode), _run(sc, on, mode)
            for pol in sc.policies:
                rows.append({"event": event, "setting": setting, "policy": pol,
                             "overcommit": float(base.get("fleet.vcpu_overcommit",
                                                          sc.fleet["vcpu_overcommit"])),
                             "overhead_off": off_v[(pol, "overhead_fraction")],
                             "overhead_on": on_v[(pol, "overhead_fraction")],
                             "metric": metric, "metric_off": off_v[(pol, metric)],
                             "metric_on": on_v[(pol, metric)]})
    return pd.DataFrame(rows)


def overcommit_scan(sc: Scenario, values: Sequence[float] = OVERCOMMITS,
                    mode: str = "mean-field") -> pd.DataFrame:
    """Per overcommit and policy: host overhead and WRMSR(XFD) per vCPU-second, with the
    vCPU switches on (the scenario's rates) and off."""
    from amxmodel.kernel.fleetcosts import SWITCH

    rows = []
    for oc in values:
        res = _results(sc, {"fleet.vcpu_overcommit": oc}, mode)
        on = res.summary.set_index(["policy", "metric"])["value"]
        exp = res.exposure
        switches = float(exp.fleet_events[:, SWITCH].sum() / exp.vcpu_state_s.sum())
        off = _run(sc, {"fleet.vcpu_overcommit": oc, **_off(sc, "vcpu_switches_per_vcpu_s")}, mode)
        for pol in sc.policies:
            rows.append({"vcpu_overcommit": oc, "policy": pol,
                         "vcpu_switches_per_vcpu_s": switches,
                         "overhead_fraction": on[(pol, "overhead_fraction")],
                         "overhead_fraction_no_switches": off[(pol, "overhead_fraction")],
                         "wrmsr_xfd_per_vcpu_s": on[(pol, "wrmsr_xfd_per_vcpu_s")],
                         "wrmsr_xfd_per_vcpu_s_no_switches": off[(pol, "wrmsr_xfd_per_vcpu_s")]})
    return pd.DataFrame(rows)


def _change(off: float, on: float) -> str:
    if off == on:
        return "+0"
    if off == 0:
        return f"{on:+.3g} (from 0)"
    return f"{(on - off) / off * 100:+.3g} %"


def overcommit_sentences(scan: pd.DataFrame) -> list[str]:
    """Per design: WRMSR(XFD) per vCPU-second and host overhead from the lowest to the
    highest overcommit of ``scan``, and the share of vCPU-to-vCPU switches that write XFD."""
    lo, hi = scan.vcpu_overcommit.min(), scan.vcpu_overcommit.max()
    out = []
    for pol, g in scan.groupby("policy", sort=False):
        a, b = g[g.vcpu_overcommit == lo].iloc[0], g[g.vcpu_overcommit == hi].iloc[0]
        share = ((b.wrmsr_xfd_per_vcpu_s - b.wrmsr_xfd_per_vcpu_s_no_switches)
                 / b.vcpu_switches_per_vcpu_s) if b.vcpu_switches_per_vcpu_s else 0.0
        added = b.overhead_fraction - b.overhead_fraction_no_switches
        out.append(f"{pol}: WRMSR(XFD) per vCPU-second {a.wrmsr_xfd_per_vcpu_s:.4g} at overcommit "
                   f"{lo:g}, {b.wrmsr_xfd_per_vcpu_s:.4g} at {hi:g}; {share:.1%} of the "
                   f"{b.vcpu_switches_per_vcpu_s:.4g} vCPU-to-vCPU switches per vCPU-second write "
                   f"XFD; host overhead {a.overhead_fraction:.3g} -> {b.overhead_fraction:.3g}, "
                   f"of which the switches add {added:.3g}")
    return out


def effect_sentences(effects: pd.DataFrame) -> list[str]:
    """One sentence per event: how much it moves each design's host overhead (and the
    metric where it shows first) at the default and at the top of the plausible range."""
    out = []
    for event, (_field, metric) in EVENTS.items():
        rows = effects[effects.event == event].set_index(["setting", "policy"])
        parts = []
        for pol in dict.fromkeys(effects.policy):
            d, t = rows.loc[("default", pol)], rows.loc[("top", pol)]
            parts.append(f"{pol} {_change(d.overhead_off, d.overhead_on)} / "
                         f"{_change(t.overhead_off, t.overhead_on)}")
        up_d, up_t = rows.loc[("default", "upstream")], rows.loc[("top", "upstream")]
        where = (f" (vcpu_overcommit {up_d.overcommit:g} at the default, {up_t.overcommit:g} "
                 "at the top)" if up_d.overcommit != up_t.overcommit else "")
        out.append(
            f"{LABEL[event][0].upper()}{LABEL[event][1:]}{where} move host overhead, default / top of the "
            "plausible range: " + "; ".join(parts)
            + f". Under upstream {metric} goes from {up_d.metric_off:.4g} to {up_d.metric_on:.4g} "
            f"at the default and from {up_t.metric_off:.4g} to {up_t.metric_on:.4g} at the top.")
    return out
