"""Exit counts over an interval -> exits per vCPU-second, and their spread across vCPUs.

A rate is per vCPU wall-clock second of the interval (running or halted), the unit of
``exits_per_vcpu_s``. The interval and vCPU count come from the file where it has them
and from ``--duration`` / ``--vcpus`` otherwise; a flag always wins, and a missing one is
an error that quotes the parser's hint (what the format lacks and which flag gives it).

The spread: with per-vCPU counts, sigma is the sample standard deviation of the log of the
per-vCPU rates (vCPUs with no exits are left out of it); without, the mapping file's
``sigma_default``; ``--sigma`` overrides both.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from amxmodel.common.errors import InputError

from .measure import Measurement


@dataclass(frozen=True)
class Rates:
    """Exits per vCPU-second by reason and in total, with where each input came from."""

    interval_s: float
    interval_from: str
    vcpus: int
    vcpus_from: str
    per_reason: dict[str, float]
    total: float
    sigma: float
    sigma_from: str
    vcpu_rates: dict[str, float] | None


def _interval(m: Measurement, duration: float | None) -> tuple[float, str]:
    if duration is not None:
        if isinstance(duration, bool) or not math.isfinite(duration) or duration <= 0:
            raise InputError(f"--duration {duration}: must be a number of seconds > 0")
        if m.interval_s and abs(duration - m.interval_s) > 0.01 * m.interval_s:
            m.notes.append(f"--duration {duration:g} s replaces the file's {m.interval_s:g} s")
        return float(duration), "--duration"
    if m.interval_s is None:
        raise InputError(f"{m.path}: the interval is missing: "
                         f"{m.hints.get('duration', 'give --duration SECONDS')}")
    return m.interval_s, "file"


def _vcpus(m: Measurement, vcpus: int | None) -> tuple[int, str]:
    seen = len(m.per_vcpu) if m.per_vcpu else None
    if vcpus is not None:
        if isinstance(vcpus, bool) or vcpus < 1:
            raise InputError(f"--vcpus {vcpus}: must be a whole number >= 1")
        if seen and vcpus < seen:
            raise InputError(f"--vcpus {vcpus}: the file has counts for {seen} vCPUs")
        if seen and vcpus > seen:
            m.notes.append(f"--vcpus {vcpus}: {vcpus - seen} vCPU(s) not in the file counted "
                           "with no exits")
        return vcpus, "--vcpus"
    if m.vcpus is None:
        raise InputError(f"{m.path}: the vCPU count is missing: "
                         f"{m.hints.get('vcpus', 'give --vcpus N')}")
    return m.vcpus, "file: one table or thread per vCPU"


def _sigma(vcpu_rates: dict[str, float] | None, override: float | None, default: float,
           default_source: str) -> tuple[float, str]:
    if override is not None:
        if not math.isfinite(override) or not 0 <= override <= 5:
            raise InputError(f"--sigma {override}: must be in [0, 5]")
        return float(override), "--sigma"
    positive = [r for r in (vcpu_rates or {}).values() if r > 0]
    if len(positive) >= 2:
        sigma = min(statistics.stdev(math.log(r) for r in positive), 5.0)
        return sigma, f"per-vCPU spread ({len(positive)} vCPUs)"
    return default, f"sigma_default of {default_source}"


def compute_rates(m: Measurement, counts: dict[str, float], duration: float | None,
                  vcpus: int | None, sigma: float | None, sigma_default: float,
                  sigma_where: str) -> Rates:
    """Per vCPU-second rates of ``counts`` (exits by reason over the interval, all vCPUs)."""
    interval, interval_from = _interval(m, duration)
    n, vcpus_from = _vcpus(m, vcpus)
    scale = 1.0 / (interval * n)
    per_reason = {r: c * scale for r, c in counts.items()}
    total = sum(per_reason.values())
    if total <= 0:
        raise InputError(f"{m.path}: no VM exits counted; nothing to calibrate")
    vcpu_rates = ({v: sum(c.values()) / interval for v, c in m.per_vcpu.items()}
                  if m.per_vcpu else None)
    s, s_from = _sigma(vcpu_rates, sigma, sigma_default, sigma_where)
    return Rates(interval, interval_from, n, vcpus_from, per_reason, total, s, s_from, vcpu_rates)
