"""From exposures to the numbers a kernel developer asks for, as tidy frames.

Mechanism counts per host and policy are the exposures times the cost table; cycles are
counts times the hardware profile's prices; the host CPU overhead fraction is cycles
over the host's capacity (hardware threads x clock x simulated seconds). Means come with
standard errors over hosts (hosts are independent draws; a chunk is a group of hosts);
per-vCPU-second metrics are ratio estimators with delta-method errors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from amxmodel.fleet.engine import Exposure
from amxmodel.inputs.scenario import Scenario
from amxmodel.kernel.mechanisms import CostTable
from amxmodel.kernel.vocabulary import MECHS, OVERHEAD_GROUPS, mech_prices

GIB = 2.0**30
_M = {m: i for i, m in enumerate(MECHS)}
EXTRA_EXITS = ("intercept_exits", "nm_exits", "extra_user_exits")
UNITS = {
    "overhead_fraction": "fraction of host CPU",
    "overhead_cycles_per_exit": "cycles per VM exit",
    "extra_exits_per_vcpu_s": "exits per vCPU-second",
    "rdmsr_xfd_per_vcpu_s": "RDMSR per vCPU-second",
    "wrmsr_xfd_per_vcpu_s": "WRMSR per vCPU-second",
    "xsetbv_per_vcpu_s": "XSETBV per vCPU-second that AMX in the host XCR0 adds",
    "reallocs_per_host_hour": "reallocations per host-hour",
    "realloc_failures": "failed reallocations (whole run)",
    "fpstate_bytes_per_vcpu": "bytes",
    "fpstate_va_bytes_per_vcpu": "bytes",
    "fpstate_peak_bytes_per_vcpu": "bytes",
    "host_fpstate_peak_bytes": "bytes",
    "fleet_fpstate_gib": "GiB",
    "unused_amx_bytes_per_vcpu": "bytes",
    "unused_amx_bytes_fraction": "fraction",
    "vcpu_steps": "vCPU-steps",
}


def _exit_counts(exits: np.ndarray, xcr0_match: np.ndarray, table: CostTable) -> np.ndarray:
    """(rows, policies, MECHS) counts of the exits of each row (host or class).

    The cost table prices XSETBV for a guest whose XCR0 is the host's minus the AMX bits;
    only the share ``xcr0_match`` of the exits comes from such guests (the others' XCR0
    differs from the host's with or without AMX in it: no cost that AMX adds).
    """
    counts = np.einsum("rej,pejk->rpk", exits, table.exit_counts)
    x = _M["xsetbv"]
    counts[:, :, x] = np.einsum("rej,pej->rp", exits * xcr0_match, table.exit_counts[..., x])
    return counts


def mechanism_counts(exp: Exposure, table: CostTable) -> np.ndarray:
    """(hosts, policies, MECHS) counts; hosts without AMX cost nothing."""
    counts = _exit_counts(exp.exits, exp.xcr0_match, table)
    counts += np.einsum("hn,pnk->hpk", exp.points, table.point_counts)
    if exp.fleet_events is not None and exp.fleet_events.any():  # issue 17; none: unchanged
        counts += np.einsum("hf,pfk->hpk", exp.fleet_events, table.fleet_counts)
    return counts * np.asarray(exp.host_amx, float)[:, None, None]


def class_mechanism_counts(exp: Exposure, table: CostTable, amx_share: float) -> np.ndarray:
    """(classes, policies, MECHS) counts, scaled by the share of hosts with AMX."""
    counts = _exit_counts(exp.class_exits, exp.class_xcr0_match, table)
    counts += np.einsum("cn,pnk->cpk", exp.class_points, table.point_counts)
    if exp.class_fleet_events is not None and exp.class_fleet_events.any():
        counts += np.einsum("cf,pfk->cpk", exp.class_fleet_events, table.fleet_counts)
    return counts * amx_share


def _mean_se(x: np.ndarray) -> tuple[float, float]:
    n = len(x)
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")


def _ratio_se(num: np.ndarray, den: np.ndarray) -> tuple[float, float]:
    """Fleet ratio sum(num)/sum(den) and its delta-method standard error over hosts."""
    n = len(num)
    r = float(num.sum() / den.sum()) if den.sum() else float("nan")
    if n < 2 or not den.sum():
        return r, float("nan")
    resid = num - r * den
    return r, float(resid.std(ddof=1) * np.sqrt(n) / den.sum())


def summarize(sc: Scenario, exp: Exposure, table: CostTable, failures: np.ndarray | None = None,
              sampled: bool = True) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(summary, hosts, by_class) tidy frames for every policy of the table.

    ``sampled=False`` marks mean-field exposures: one average host standing for the
    fleet, with ``host_amx`` the share of AMX hosts; no per-host spread is reported.
    """
    hw = sc.hardware
    prices = np.array(mech_prices(hw))
    counts = mechanism_counts(exp, table)  # (H, P, K)
    cycles = counts @ prices  # (H, P)
    capacity = sc.fleet["pcpus_per_host"] * hw.cpu_hz * exp.seconds
    frac = cycles / capacity
    vcpu_s = exp.vcpu_state_s.sum(axis=1)  # (H,)
    all_exits = exp.exits[:, :3].sum(axis=(1, 2))  # VM exits of every kind (not preemptions)
    page = hw.page_size_bytes
    # pages of one vCPU per state and policy; hosts without AMX hold the no-AMX row
    pages = table.pages_on(exp.host_amx)
    res_pages = np.einsum("hj,hpj->hp", exp.vcpu_state_s, pages) / exp.seconds  # (H, P)
    extra = (pages - table.default_pages)[:, :, :3]  # states without AMX use: S0..S2
    unused_pages = np.einsum("hj,hpj->hp", exp.vcpu_state_s[:, :3], extra) / exp.seconds
    all_extra = np.einsum("hj,hpj->hp", exp.vcpu_state_s, pages - table.default_pages) / exp.seconds
    vcpus_now = vcpu_s / exp.seconds
    hours = exp.seconds / 3600.0
    scale = sc.fleet["hosts"] / exp.hosts  # mean-field: one average host stands for the fleet
    if failures is None:
        failures = counts[:, :, _M["reallocs"]] * sc.fleet["realloc_fail_prob"]

    rows = []
    for p, pol in enumerate(table.policies):
        def put(metric, value, se=float("nan"), unit=None, pol=pol):
            rows.append({"scenario": sc.name, "policy": pol, "metric": metric,
                         "value": float(value), "stderr": float(se),
                         "unit": unit or UNITS.get(metric, "fraction of host CPU")})

        put("overhead_fraction", *_mean_se(frac[:, p]))
        if sampled:
            for q, name in ((50, "p50"), (99, "p99")):
                put(f"overhead_fraction_{name}", np.percentile(frac[:, p], q))
            put("overhead_fraction_max", frac[:, p].max())
        for group, mechs in OVERHEAD_GROUPS.items():
            g = sum(counts[:, p, _M[m]] * prices[_M[m]] for m in mechs) / capacity
            put(f"overhead_fraction_{group}", *_mean_se(g))
        put("overhead_cycles_per_exit", *_ratio_se(cycles[:, p], all_exits))
        ex = sum(counts[:, p, _M[m]] for m in EXTRA_EXITS)
        put("extra_exits_per_vcpu_s", *_ratio_se(ex, vcpu_s))
        put("rdmsr_xfd_per_vcpu_s", *_ratio_se(counts[:, p, _M["rdmsr_xfd"]], vcpu_s))
        put("wrmsr_xfd_per_vcpu_s", *_ratio_se(counts[:, p, _M["wrmsr_xfd"]], vcpu_s))
        put("xsetbv_per_vcpu_s", *_ratio_se(counts[:, p, _M["xsetbv"]], vcpu_s))
        put("reallocs_per_host_hour", *_mean_se(counts[:, p, _M["reallocs"]] / hours))
        put("realloc_failures", failures[:, p].sum() * scale)
        put("fpstate_bytes_per_vcpu", *_ratio_se(res_pages[:, p] * page, vcpus_now))
        put("fpstate_va_bytes_per_vcpu", *_ratio_se((res_pages[:, p] + vcpus_now) * page, vcpus_now))
        put("fpstate_peak_bytes_per_vcpu", table.peak_vcpu_pages[p] * page)
        if sampled:
            put("host_fpstate_peak_bytes", exp.peak_pages[:, p].max() * page)
        put("fleet_fpstate_gib", res_pages[:, p].mean() * sc.fleet["hosts"] * page / GIB)
        put("unused_amx_bytes_per_vcpu", *_ratio_se(unused_pages[:, p] * page, vcpus_now))
        tot = all_extra[:, p].sum()
        put("unused_amx_bytes_fraction", unused_pages[:, p].sum() / tot if tot else 0.0)
        put("vcpu_steps", vcpu_s.sum() * scale / sc.run["step_s"])
    summary = pd.DataFrame(rows)

    hosts = pd.DataFrame({
        "policy": np.repeat(np.array(table.policies), exp.hosts),
        "host": np.tile(np.arange(exp.hosts), len(table.policies)),
        "overhead_fraction": frac.T.ravel(),
        "fpstate_bytes_per_vcpu": (res_pages / vcpus_now[:, None] * page).T.ravel(),
    })
    by_class = class_frame(sc, exp, table, prices)
    return summary, hosts, by_class


def class_frame(sc: Scenario, exp: Exposure, table: CostTable, prices: np.ndarray) -> pd.DataFrame:
    """Per workload class: overhead as a share of the class's vCPU time, and memory."""
    names = list(sc.mix)
    share = float(np.asarray(exp.host_amx, float).mean())
    counts = class_mechanism_counts(exp, table, share)  # (C, P, K)
    vcpu_s = exp.class_vcpu_state_s.sum(axis=1)
    cyc = counts @ prices
    page = sc.hardware.page_size_bytes
    pages = table.pages_on(share)[0]  # (P, J)
    rows = []
    for c, cname in enumerate(names):
        if vcpu_s[c] <= 0:
            continue
        for p, pol in enumerate(table.policies):
            vals = {
                "overhead_fraction_of_vcpu": (cyc[c, p] / (vcpu_s[c] * sc.hardware.cpu_hz),
                                              "fraction of vCPU time"),
                "rdmsr_xfd_per_vcpu_s": (counts[c, p, _M["rdmsr_xfd"]] / vcpu_s[c], UNITS["rdmsr_xfd_per_vcpu_s"]),
                "xsetbv_per_vcpu_s": (counts[c, p, _M["xsetbv"]] / vcpu_s[c], UNITS["xsetbv_per_vcpu_s"]),
                "extra_exits_per_vcpu_s": (sum(counts[c, p, _M[m]] for m in EXTRA_EXITS) / vcpu_s[c],
                                           UNITS["extra_exits_per_vcpu_s"]),
                "fpstate_bytes_per_vcpu": (float(exp.class_vcpu_state_s[c] @ pages[p]) / vcpu_s[c] * page,
                                           "bytes"),
                "vcpu_share": (vcpu_s[c] / vcpu_s.sum(), "fraction of vCPU time"),
            }
            for metric, (value, unit) in vals.items():
                rows.append({"policy": pol, "workload": cname, "metric": metric,
                             "value": float(value), "unit": unit})
    return pd.DataFrame(rows)


def wide(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per policy (in run order), one column per metric."""
    order = list(dict.fromkeys(summary["policy"]))
    w = summary.pivot_table(index="policy", columns="metric", values="value", aggfunc="first")
    return w.reindex(order)
