"""Break-even: at which RDMSR price and VM exit rate the XFD sync becomes noticeable.

tglx proposed to read IA32_XFD after every VM exit that leaves the fastpath
(87k0h85m65.ffs@tglx) and to "see how much overhead it creates". The host cycles a
design spends are counts of kernel mechanisms times their prices (:mod:`amxmodel.kernel.vocabulary`),
and the counts that VM exits cause grow in proportion to the exit rate. So one run's
counts give the overhead at any price and any exit rate, without simulating again::

    overhead(f, prices) = (f * exit_counts + other_counts) @ prices / (capacity_s * cpu_hz)

``f`` scales every VM exit rate (fastpath, in-KVM and user-space exits); host preemptions
and point events (boots, first AMX uses, task switches) do not move with it.
``capacity_s`` is the CPU time the overhead is a share of: hardware threads x seconds for
a host, vCPU-seconds for a workload class. Solving this affine equation for the price of
RDMSR(IA32_XFD) or for ``f`` at 0.1 % and 1 % gives the break-even.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from amxmodel.analysis.metrics import class_mechanism_counts, mechanism_counts
from amxmodel.common.errors import InputError, unknown
from amxmodel.common.units import format_value, sig
from amxmodel.fleet.engine import Exposure
from amxmodel.inputs import catalog
from amxmodel.inputs.hardware import Hardware
from amxmodel.inputs.scenario import Scenario
from amxmodel.kernel.mechanisms import CostTable
from amxmodel.kernel.vocabulary import EXIT_KINDS, VM_EXIT_KINDS, mech_prices

PRICE = "rdmsr_xfd_cycles"
RATE = "exits_per_vcpu_s"
THRESHOLDS = (0.001, 0.01)  # 0.1 % and 1 % of host CPU: "noticeable" and "a problem"
_VM_EXITS = np.array([k in VM_EXIT_KINDS for k in EXIT_KINDS], float)  # kinds that scale with f


def with_values(hardware: Hardware, changes: Mapping[str, float] | None) -> Hardware:
    """``hardware`` with some catalogue values replaced (checked against the catalogue)."""
    if not changes:
        return hardware
    specs = catalog.section("hardware")
    values = dict(hardware.values)
    for name, value in changes.items():
        if name not in specs:
            raise unknown("hardware parameter", name, specs, "break-even")
        values[name] = specs[name].check(value, "break-even")
    return Hardware(hardware.name, values)


@dataclass(frozen=True)
class LinearOverhead:
    """Mechanism counts of one run, split into the part that scales with the exit rate."""

    policies: tuple[str, ...]
    exit_counts: np.ndarray  # (P, MECHS) caused by VM exits, per unit of capacity below
    other_counts: np.ndarray  # (P, MECHS) host preemptions and point events
    capacity_s: float  # CPU-seconds the counts are a share of
    exits_per_vcpu_s: float  # mean VM exits per vCPU-second behind exit_counts
    hardware: Hardware

    def fraction(self, changes: Mapping[str, float] | None = None,
                 exit_scale: float = 1.0) -> pd.Series:
        """Overhead fraction per policy with hardware values ``changes`` and exits x ``exit_scale``."""
        hw = with_values(self.hardware, changes)
        counts = exit_scale * self.exit_counts + self.other_counts
        cycles = counts @ np.array(mech_prices(hw))
        return pd.Series(cycles / (self.capacity_s * hw.cpu_hz), index=list(self.policies))

    def solve_price(self, threshold: float, name: str = PRICE, exit_scale: float = 1.0,
                    changes: Mapping[str, float] | None = None) -> pd.Series:
        """Value of hardware parameter ``name`` at which each policy reaches ``threshold``.

        0 where the policy is at the threshold already at a zero price, ``inf`` where the
        parameter does not move it there (it prices nothing the policy does).
        """
        if name == "cpu_hz":
            raise InputError("break-even: cpu_hz is not a price (it divides every cost)")
        at0 = self.fraction({**(changes or {}), name: 0.0}, exit_scale)
        slope = self.fraction({**(changes or {}), name: 1.0}, exit_scale) - at0
        return _solve(threshold, at0, slope)

    def solve_exit_rate(self, threshold: float,
                        changes: Mapping[str, float] | None = None) -> pd.Series:
        """Mean VM exits per vCPU-second at which each policy reaches ``threshold``."""
        other = self.fraction(changes, 0.0)
        per_scale = self.fraction(changes, 1.0) - other
        return _solve(threshold, other, per_scale) * self.exits_per_vcpu_s


def _solve(threshold: float, at0: pd.Series, slope: pd.Series) -> pd.Series:
    """``x`` with ``at0 + slope * x == threshold`` per policy (0 if already there, inf never)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(slope > 0, (threshold - at0) / slope, np.inf)
    return pd.Series(np.where(at0 >= threshold, 0.0, x), index=at0.index)


def _exit_part(exp: Exposure) -> Exposure:
    """The exposures with only the VM exits kept (no preemptions, no point events)."""
    return dataclasses.replace(exp, exits=exp.exits * _VM_EXITS[:, None],
                               points=np.zeros_like(exp.points),
                               class_exits=exp.class_exits * _VM_EXITS[:, None],
                               class_points=np.zeros_like(exp.class_points),
                               fleet_events=None, class_fleet_events=None)  # own rates


def host_linear(sc: Scenario, exp: Exposure, table: CostTable) -> LinearOverhead:
    """The mean host's counts: overhead as a share of the host's hardware threads."""
    total = mechanism_counts(exp, table).mean(axis=0)
    exits = mechanism_counts(_exit_part(exp), table).mean(axis=0)
    rate = exp.exits[:, :3].sum() / exp.vcpu_state_s.sum()
    return LinearOverhead(table.policies, exits, total - exits,
                          float(sc.fleet["pcpus_per_host"] * exp.seconds), float(rate), sc.hardware)


def class_linear(sc: Scenario, exp: Exposure, table: CostTable) -> dict[str, LinearOverhead]:
    """Per workload class: overhead as a share of the class's vCPU time (the per-vCPU view)."""
    share = float(np.asarray(exp.host_amx, float).mean())
    total = class_mechanism_counts(exp, table, share)
    exits = class_mechanism_counts(_exit_part(exp), table, share)
    vcpu_s = exp.class_vcpu_state_s.sum(axis=1)
    out = {}
    for c, name in enumerate(sc.mix):
        if vcpu_s[c] > 0:
            rate = exp.class_exits[c, :3].sum() / vcpu_s[c]
            out[name] = LinearOverhead(table.policies, exits[c], total[c] - exits[c],
                                       float(vcpu_s[c]), float(rate), sc.hardware)
    return out


def linear_overhead(res) -> LinearOverhead:
    """The host-level :class:`LinearOverhead` of a :class:`amxmodel.runs.run.Results`."""
    return host_linear(res.scenario, res.exposure, res.table)


def threshold_label(threshold: float) -> str:
    """``0.1 %`` for 0.001."""
    return f"{threshold * 100:g} %"


def breakeven_table(lin: LinearOverhead, thresholds: Sequence[float] = THRESHOLDS,
                    policies: Iterable[str] | None = None, name: str = PRICE) -> pd.DataFrame:
    """Per policy and threshold: the overhead now (``overhead_pct``, in % of host CPU like
    every chart), the price of ``name`` that reaches the threshold at the run's exit rate
    (0: already above at any price; inf: the price moves nothing the policy does), and the
    exit rate that reaches it at today's price."""
    now = lin.fraction()
    keep = list(policies or lin.policies)
    rows = []
    for threshold in thresholds:
        price = lin.solve_price(threshold, name)
        rate = lin.solve_exit_rate(threshold)
        for pol in keep:
            rows.append({"policy": pol, "threshold": threshold_label(threshold),
                         "overhead_pct": now[pol] * 100, f"{name}_at_threshold": price[pol],
                         f"{RATE}_at_threshold": rate[pol]})
    return pd.DataFrame(rows)


def breakeven_curve(lin: LinearOverhead, rates: Sequence[float] | None = None,
                    thresholds: Sequence[float] = THRESHOLDS, policies: Iterable[str] | None = None,
                    name: str = PRICE, scenario: str = "") -> pd.DataFrame:
    """Price of ``name`` at which each policy reaches each threshold, against the exit rate.

    A sweep-shaped long frame (columns of a run summary plus ``exits_per_vcpu_s`` and
    ``threshold``), so :func:`amxmodel.plot.charts.sweep_chart` and its text twin draw it: one
    line per policy, one panel per threshold. Policies the price never moves to the
    threshold (they never pay it) are left out. ``rates`` defaults to 100 to 100,000.
    """
    rates = np.geomspace(100, 1e5, 13) if rates is None else np.asarray(rates, float)
    if len(rates) == 0 or np.any(rates <= 0):
        raise InputError("break-even: exit rates must be positive")
    keep = list(policies or lin.policies)
    rows = []
    for threshold in thresholds:
        for rate in rates:
            price = lin.solve_price(threshold, name, exit_scale=rate / lin.exits_per_vcpu_s)
            price = price[keep][np.isfinite(price[keep])]
            rows += long_rows(price, f"breakeven_{name}", "cycles", scenario,
                              {RATE: float(rate), "threshold": threshold_label(threshold)})
    if not rows:
        raise InputError(f"break-even: no policy reaches the thresholds through {name}")
    return pd.DataFrame(rows)


def long_rows(values: pd.Series, metric: str, unit: str, scenario: str,
              columns: Mapping[str, object]) -> list[dict]:
    """Rows of a run summary (one per policy of ``values``) plus the given swept columns."""
    return [{"scenario": scenario, "policy": pol, "metric": metric, "value": float(v),
             "stderr": np.nan, "unit": unit, **columns} for pol, v in values.items()]


def class_breakeven_table(sc: Scenario, exp: Exposure, table: CostTable,
                          thresholds: Sequence[float] = THRESHOLDS,
                          policies: Iterable[str] | None = None, name: str = PRICE) -> pd.DataFrame:
    """:func:`breakeven_table` per workload class, the overhead as a share of the class's
    vCPU time (what one tenant's vCPU loses), with the class's own mean exit rate."""
    keep = list(policies) if policies is not None else None
    parts = [breakeven_table(lin, thresholds, keep, name).assign(
        workload=cls, exits_per_vcpu_s=lin.exits_per_vcpu_s)
        for cls, lin in class_linear(sc, exp, table).items()]
    out = pd.concat(parts, ignore_index=True).rename(
        columns={"overhead_pct": "overhead_pct_of_vcpu"})
    first = ["workload", "exits_per_vcpu_s"]
    return out[first + [c for c in out.columns if c not in first]]


def findings(lin: LinearOverhead, policy: str = "sync-always", reference: str = "upstream",
             thresholds: Sequence[float] = THRESHOLDS) -> str:
    """The break-even in two sentences with this run's numbers (for a notebook's conclusion)."""
    now = lin.fraction()
    price = float(lin.hardware.values[PRICE])
    text = (f"At the fleet's mean of {sig(lin.exits_per_vcpu_s)} VM exits per vCPU-second and "
            f"RDMSR(IA32_XFD) at {price:g} cycles, {policy} costs "
            f"{format_value(now[policy], 'fraction')} of host CPU and {reference} "
            f"{format_value(now[reference], 'fraction')}.")
    for threshold in thresholds:
        p, r = lin.solve_price(threshold), lin.solve_exit_rate(threshold)
        text += (f" {policy} reaches {threshold_label(threshold)} of host CPU only if one RDMSR "
                 f"costs {format_value(p[policy], 'cycles')} ({reference}: "
                 f"{format_value(p[reference], 'cycles')}), or at {sig(r[policy])} exits per "
                 f"vCPU-second at today's price ({reference}: {sig(r[reference])}).")
    return text


def verdict(lin: LinearOverhead, policies: Sequence[str] = ("sync-always", "upstream"),
            threshold: float = THRESHOLDS[0]) -> str:
    """Where each policy's break-even lies against the catalogue's plausible RDMSR price
    range and the run's own exit rate, in words (the comparisons a conclusion draws)."""
    lo, hi = catalog.section("hardware")[PRICE].plausible or (0.0, float("inf"))
    price, rate = lin.solve_price(threshold), lin.solve_exit_rate(threshold)
    now = lin.fraction()
    level = threshold_label(threshold)
    out = []
    for pol in [p for p in policies if p in price.index]:
        p, r = float(price[pol]), float(rate[pol])
        if now[pol] >= threshold:
            out.append(f"{pol} is already above {level} of host CPU at this run's prices.")
            continue
        if not np.isfinite(p):
            where = "no RDMSR price brings it there (it pays no RDMSR after exits)"
        elif p > hi:
            where = (f"its break-even RDMSR price ({format_value(p, 'cycles')}) lies above the "
                     f"plausible range of {lo:g} to {hi:g} cycles ({sig(p / hi)}x its top)")
        elif p >= lo:
            where = (f"its break-even RDMSR price ({format_value(p, 'cycles')}) lies inside the "
                     f"plausible range of {lo:g} to {hi:g} cycles: a measurement decides")
        else:
            where = (f"its break-even RDMSR price ({format_value(p, 'cycles')}) lies below the "
                     f"plausible range of {lo:g} to {hi:g} cycles")
        times = (f"; at today's price it needs {sig(r / lin.exits_per_vcpu_s)}x the fleet's "
                 f"mean exit rate" if np.isfinite(r) and lin.exits_per_vcpu_s > 0 else "")
        out.append(f"For {pol} to reach {level}, {where}{times}.")
    read, exit_ = float(lin.hardware.values[PRICE]), float(lin.hardware.values["exit_kernel_cycles"])
    if exit_ > 0:
        out.append(f"One RDMSR at {read:g} cycles is {sig(read / exit_ * 100)} % of the "
                   f"{exit_:g} cycles of the VM exit handled in KVM that it follows.")
    if len(policies) >= 2 and all(p in now.index for p in policies[:2]):
        a, b = policies[0], policies[1]
        if now[a] > 0 and now[b] > 0:
            ratio = now[a] / now[b]
            out.append(f"{a} costs {sig(ratio)}x what {b} costs" if ratio >= 1
                       else f"{a} costs {sig(1 / ratio)}x less than {b}")
            out[-1] += " on the same events."
    return " ".join(out)
