"""The short plain-text report of a calibration: rates by reason, kinds, where it wrote.

It fits 72 columns so that it can be pasted into a mail, like every text table of the
project. Unknown reasons are marked in the table; warnings (unknown reasons, assumed splits
of unattributed exits, lost events) are returned apart so that the CLI can send them to stderr.
"""

from __future__ import annotations

from pathlib import Path

from .pipeline import Result


def render(res: Result) -> str:
    """The report table as text."""
    r, m = res.rates, res.measurement
    total_count = sum(res.counts.values())
    lines = [
        f"read {m.variant}",
        f"  from {Path(str(m.path)).name}",  # the name only: no line grows with the checkout's path
        (f"  {r.interval_s:g} s ({r.interval_from}), {r.vcpus} vCPU{'s' * (r.vcpus != 1)} "
        f"({r.vcpus_from})"),
        "",
        f"  {'exit reason':<26}{'exits/vCPU-s':>13}{'share':>7}{'fast':>6}{'kvm':>6}{'user':>6}",
    ]
    for reason, count in sorted(res.counts.items(), key=lambda kv: -kv[1]):
        s = res.mapping.shares(reason)
        mark = "?" if reason in res.unknown else " "
        lines.append(f"  {reason[:24] + mark:<26}{r.per_reason[reason]:>13.6g}"
                     f"{count / total_count:>7.1%}{s.fastpath:>6.2f}{s.kernel:>6.2f}{s.user:>6.2f}")
    lines.append(f"  {'total':<26}{r.total:>13.6g}{1:>7.0%}{res.shares['fastpath']:>6.2f}"
                 f"{res.shares['kernel']:>6.2f}{res.shares['user']:>6.2f}")
    if res.unknown:
        lines.append("  ? not in the mapping: priced as handled in KVM")
    fields = res.data["fields"]
    rate = fields["exits_per_vcpu_s"]["value"]
    lines += [
        "",
        f"exits_per_vcpu_s     lognormal median {rate['median']:g}, sigma {rate['sigma']:g}",
        f"  sigma: {r.sigma_from}",
        f"exit_share_fastpath  {fields['exit_share_fastpath']['value']:g}",
        f"exit_share_user      {fields['exit_share_user']['value']:g}",
        f"wrote {res.out}",
        f"  class '{res.data['name']}', other fields from '{res.data['calibration']['base']}'",
    ]
    return "\n".join(lines)


def warnings(res: Result) -> list[str]:
    """Things the user should know: unknown reasons, assumed splits, notes of the parser."""
    out = []
    if res.unknown:
        rates = ", ".join(f"{u} ({res.rates.per_reason.get(u, 0):.3g}/vCPU-s)" for u in res.unknown)
        out.append(f"unknown exit reason(s) kept under their own name: {rates}; add them to "
                   f"{res.mapping.path} (or a copy given with --mapping) to price them")
    out.extend(dict.fromkeys(res.measurement.notes))
    return out
