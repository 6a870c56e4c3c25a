"""Which unmeasured number moves the answer most: each one alone, over its plausible range.

Nobody has published what RDMSR(IA32_XFD), a VM exit round trip or the switch_to check
cost on Sapphire Rapids (docs/amx-xfd-kvm.md, section 5), and exit rates and AMX adoption differ
from fleet to fleet. A tornado puts each of them at the low and then the high end of its
plausible range, all else at the baseline, and shows how far a design's host overhead
moves:

- hardware prices (``data/parameters.yaml``, section hardware): the overhead is linear in
  them, so the baseline's mechanism counts give both ends exactly (:mod:`amxmodel.analysis.breakeven`);
- workload fields: every class of the mix goes to the end of its own plausible range (from
  its ``data/workloads`` file; a distribution keeps its shape and moves its median); the
  ends are reported as the mix-weighted centers; one mean-field run per end;
- fleet values: the catalogue's plausible range; one mean-field run per end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from amxmodel.analysis.breakeven import LinearOverhead, host_linear, long_rows
from amxmodel.common.errors import InputError, unknown
from amxmodel.fleet.meanfield import expected_exposure
from amxmodel.inputs import catalog
from amxmodel.inputs.distributions import Fixed
from amxmodel.inputs.scenario import Scenario
from amxmodel.kernel.mechanisms import build_cost_table
from amxmodel.kernel.vocabulary import MECH_PRICE

WORKLOAD_FIELDS = ("exits_per_vcpu_s", "exit_share_fastpath", "exit_share_user",
                   "guest_ctx_switches_per_vcpu_s", "amx_task_share",
                   "new_amx_threads_per_vcpu_s", "tiles_live_share", "p_cpuid_amx",
                   "p_guest_aware", "p_uses_amx", "vm_lifetime_s", "host_preempts_per_vcpu_s",
                   "preempt_share_user_task", "preempt_share_kernel_fpu",
                   "p_xcr0_host_minus_amx")
FLEET_FIELDS = ("vcpu_overcommit", "occupancy", "amx_host_share", "host_ctx_switches_per_pcpu_s",
                "xcr0_fastpath_host_share")
ENDS = ("low", "high")


def hardware_prices() -> list[str]:
    """Hardware parameters that price a mechanism, and the clock, in catalogue order."""
    priced = set(MECH_PRICE.values()) | {"realloc_us", "cpu_hz"}
    return [n for n in catalog.section("hardware") if n in priced]


def mean_field_linear(sc: Scenario) -> LinearOverhead:
    """The mean-field host counts of a scenario, ready to price."""
    return host_linear(sc, expected_exposure(sc), build_cost_table(sc.hardware, sc.policies))


def _plausible(section: str, name: str) -> tuple[float, float]:
    spec = catalog.section(section)[name]
    if spec.plausible is None:
        raise InputError(f"sensitivity: {section}.{name} has no plausible range in the catalogue")
    return spec.plausible


def workload_ends(sc: Scenario, field: str) -> dict[str, tuple[dict, float]]:
    """For each end: overrides that move every class of the mix to that end of its own
    plausible range, and the mix-weighted center of the field there."""
    if field not in catalog.section("workload"):
        raise unknown("workload field", field, catalog.section("workload"), "sensitivity")
    out = {}
    for i, end in enumerate(ENDS):
        sets, center = {}, 0.0
        for cls, wc in sc.workloads.items():
            f = wc.fields[field]
            dist = f.value
            if f.plausible is not None:
                bound = f.plausible[i]
                dist = dist.scaled_to(bound) if bound > 0 else Fixed(value=0.0)
                raw = dist.value if isinstance(dist, Fixed) else dist.model_dump()
                sets[f"workloads.{cls}.{field}"] = raw
            center += sc.mix[cls] * dist.center()
        out[end] = (sets, center)
    return out


def _row(group: str, parameter: str, ends: Sequence[float], values: Sequence[pd.Series]) -> dict:
    return {"group": group, "parameter": parameter, "low_value": float(ends[0]),
            "high_value": float(ends[1]), "low": values[0], "high": values[1]}


def swings(sc: Scenario, hardware: Iterable[str] | None = None,
           workload: Iterable[str] = WORKLOAD_FIELDS,
           fleet: Iterable[str] = FLEET_FIELDS) -> pd.DataFrame:
    """One-at-a-time swings of host overhead (mean-field), one row per parameter and policy.

    Columns: group (hardware, workload, fleet), parameter, low_value, high_value, policy,
    baseline, value_low, value_high (overhead fractions of host CPU). ``hardware``
    defaults to every price (:func:`hardware_prices`).
    """
    base = mean_field_linear(sc)
    rows = []
    for name in hardware_prices() if hardware is None else hardware:
        ends = _plausible("hardware", name)
        rows.append(_row("hardware", name, ends, [base.fraction({name: v}) for v in ends]))
    for name in workload:
        ends = workload_ends(sc, name)
        values = [mean_field_linear(sc.with_overrides(ends[e][0])).fraction() for e in ENDS]
        rows.append(_row("workload", name, [ends[e][1] for e in ENDS], values))
    for name in fleet:
        ends = _plausible("fleet", name)
        values = [mean_field_linear(sc.with_overrides({f"fleet.{name}": v})).fraction()
                  for v in ends]
        rows.append(_row("fleet", name, ends, values))
    now = base.fraction()
    out = [{**{k: r[k] for k in ("group", "parameter", "low_value", "high_value")},
            "policy": pol, "baseline": now[pol], "value_low": r["low"][pol],
            "value_high": r["high"][pol]} for r in rows for pol in base.policies]
    return pd.DataFrame(out)


def tornado_frame(swings_df: pd.DataFrame, policy: str, minus: str | None = None) -> pd.DataFrame:
    """The tornado input (:func:`amxmodel.plot.charts.tornado_chart`) for one policy's overhead,
    or for the difference ``policy - minus``."""
    def pick(name: str) -> pd.DataFrame:
        rows = swings_df[swings_df["policy"] == name]
        if rows.empty:
            raise unknown("policy in the swings", name, set(swings_df["policy"]), "tornado")
        return rows.set_index("parameter")

    t = pick(policy)
    cols = ["baseline", "value_low", "value_high"]
    vals = t[cols] - pick(minus)[cols] if minus else t[cols]
    return pd.DataFrame({"parameter": t.index, "low_value": t["low_value"].to_numpy(),
                         "high_value": t["high_value"].to_numpy(),
                         "metric_low": vals["value_low"].to_numpy(),
                         "metric_high": vals["value_high"].to_numpy(),
                         "baseline": vals["baseline"].to_numpy()})


def price_scan(lin: LinearOverhead, name: str, values: Sequence[float] | None = None,
               policies: Iterable[str] | None = None, scenario: str = "",
               changes: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Host overhead against one hardware price, sweep-shaped (draw with ``sweep_chart``).

    ``values`` defaults to 7 points spread over the catalogue's plausible range (evenly on
    a log scale). Exact: the counts of one run priced at each value.
    """
    if values is None:
        lo, hi = _plausible("hardware", name)
        values = np.geomspace(lo, hi, 7) if lo > 0 else np.linspace(lo, hi, 7)
    keep = list(policies) if policies is not None else list(lin.policies)
    rows = []
    for v in values:
        f = lin.fraction({**(changes or {}), name: float(v)})
        rows += long_rows(f[keep], "overhead_fraction", "fraction of host CPU", scenario,
                          {name: float(v)})
    return pd.DataFrame(rows)
