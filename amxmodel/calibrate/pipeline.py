"""One calibration: read a tool's output, price its exits by kind, write a workload class.

    file --(detect, parse)--> Measurement --(mapping)--> exits by reason and kind
         --(rates)--> per vCPU-second --(writer)--> data/workloads/NAME.yaml

Unknown exit reasons are kept under their own name, priced with the mapping's default
(handled in KVM) and listed in :attr:`Result.unknown` and in the file's ``calibration:``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amxmodel.common.errors import InputError

from . import writer
from .detect import parser_for
from .mapping import UNATTRIBUTED, ExitMapping, load_mapping
from .measure import Measurement, read_lines
from .rates import Rates, compute_rates


@dataclass(frozen=True)
class Result:
    """What a calibration read and wrote."""

    measurement: Measurement
    mapping: ExitMapping
    counts: dict[str, float]
    unknown: list[str]
    rates: Rates
    shares: dict[str, float]
    out: Path
    data: dict[str, Any]


def calibrate(file: str | Path, out: str | Path, tool: str = "auto",
              duration: float | None = None, vcpus: int | None = None, base: str = "web",
              name: str | None = None, sigma: float | None = None,
              mapping: str | Path | None = None, force: bool = False) -> Result:
    """Calibrate a workload class from ``file`` and write it to ``out``."""
    out = Path(out)
    writer.check_out(out, force)
    name = _class_name(name, out)
    lines = read_lines(file)
    _, parse = parser_for(tool, lines, str(file))
    m = parse(lines, str(file))
    mp = load_mapping(mapping)
    counts, unknown = exit_counts(m, mp)
    rates = compute_rates(m, counts, duration, vcpus, sigma, mp.sigma_default, mp.path)
    fields, shares = calibrated_fields(m, mp, counts, rates)
    base_class = writer.load_base(base)
    data = writer.workload_dict(
        name, f"calibrated from {m.variant}; other fields as '{base_class.name}'",
        f"amxmodel calibrate {m.tool} {file}; fields not measured come from '{base_class.name}'",
        fields, base_class, _calibration(m, mp, counts, unknown, rates, base))
    writer.validate(data, out)
    header = (f"workload class {name}: written by 'amxmodel calibrate' from {file}\n"
              "exits_per_vcpu_s and the exit shares are measured; the other fields\n"
              f"are those of '{base_class.name}'; see 'calibration:' at the end.")
    writer.write_atomic(out, writer.to_yaml(data, header))
    return Result(m, mp, counts, unknown, rates, shares, out, data)


def _class_name(name: str | None, out: Path) -> str:
    """The class name: ``--name`` or the output file's stem; usable in ``--set`` keys."""
    chosen = name or out.stem
    if not re.fullmatch(r"[A-Za-z0-9_-]+", chosen):
        raise InputError(f"class name '{chosen}': use letters, digits, '-' and '_' only (it is a "
                         "key in --set workloads.NAME.field=...); give --name")
    return chosen


def exit_counts(m: Measurement, mp: ExitMapping) -> tuple[dict[str, float], list[str]]:
    """Exits by reason (aliases resolved, zero counts dropped) and the unknown reasons."""
    raw = m.counts
    unknown_counters: list[str] = []
    if not raw and m.counters:
        attributed = mp.attribute_counters(m.counters, m.path)
        raw, unknown_counters = attributed.counts, attributed.unknown
        m.ignored.extend(attributed.ignored)
    elif m.counters:
        m.ignored.extend(sorted(m.counters))
        m.notes.append("debugfs fields ignored: the kvm_exit tracepoints give the exits")
    if not raw:
        raise InputError(f"{m.path}: no VM exit counts found ({m.variant})")
    counts: dict[str, float] = {}
    for reason, count in raw.items():
        if count > 0:
            key = mp.canonical(reason)
            counts[key] = counts.get(key, 0.0) + count
    unknown = {r for r in counts if not mp.known(r)} | set(unknown_counters)
    return counts, sorted(unknown)


def calibrated_fields(m: Measurement, mp: ExitMapping, counts: dict[str, float],
                      rates: Rates) -> tuple[dict[str, dict], dict[str, float]]:
    """The three measured fields, and the shares of all exits by kind."""
    split = mp.kinds(counts)
    share, low, high = dict(split.share), dict(split.low), dict(split.high)
    user_source = f"calibrated: exit reasons weighted by {mp.path}"
    if m.user_exits is not None:
        user = min(m.user_exits / sum(counts.values()), 1.0)
        share["user"] = low["user"] = high["user"] = user
        share["fastpath"] = min(share["fastpath"], 1.0 - user)
        high["fastpath"] = min(high["fastpath"], 1.0 - user)
        low["fastpath"] = min(low["fastpath"], share["fastpath"])
        share["kernel"] = 1.0 - share["fastpath"] - user
        user_source = "measured: kvm_userspace_exit / kvm_exit (kvm_stat)"
    rate_source = (f"calibrated: {m.variant} ({m.path}), {rates.vcpus} vCPUs over "
                   f"{rates.interval_s:g} s; sigma: {rates.sigma_from}")
    fields = {
        "exits_per_vcpu_s": writer.rate_field(rates.total, rates.sigma, rate_source),
        "exit_share_fastpath": writer.share_field(
            share["fastpath"], low["fastpath"], high["fastpath"],
            f"calibrated: exit reasons weighted by {mp.path}; plausible: mixed reasons all or "
            "none fastpath"),
        "exit_share_user": writer.share_field(share["user"], low["user"], high["user"],
                                              user_source),
    }
    return fields, share


def _calibration(m: Measurement, mp: ExitMapping, counts: dict[str, float], unknown: list[str],
                 rates: Rates, base: str) -> dict[str, Any]:
    """The ``calibration:`` record: what was read, from where, and what was assumed."""
    r = writer.rounded
    reasons = {}
    for reason, count in sorted(counts.items(), key=lambda kv: -kv[1]):
        s = mp.shares(reason)
        reasons[reason] = {"count": r(count), "per_vcpu_s": r(rates.per_reason[reason]),
                           "fastpath": s.fastpath, "kernel": s.kernel, "user": s.user,
                           "known": mp.known(reason)}
    record: dict[str, Any] = {
        "tool": m.tool, "format": m.variant, "file": m.path,
        "interval_s": r(rates.interval_s), "interval_from": rates.interval_from,
        "vcpus": rates.vcpus, "vcpus_from": rates.vcpus_from,
        "exits": r(sum(counts.values())), "exits_per_vcpu_s": r(rates.total),
        "sigma_from": rates.sigma_from, "mapping": mp.path, "base": base,
        "reasons": reasons, "unknown_reasons": list(unknown),
    }
    if rates.vcpu_rates:
        record["per_vcpu_exits_per_s"] = {str(k): r(v) for k, v in rates.vcpu_rates.items()}
    if m.user_exits is not None:
        record["user_exits"] = r(m.user_exits)
    if UNATTRIBUTED in counts:
        m.notes.append(f"{UNATTRIBUTED} exits are split by an assumption of {mp.path}")
    record["ignored"] = sorted(set(m.ignored))
    record["notes"] = list(dict.fromkeys(m.notes))
    return record
