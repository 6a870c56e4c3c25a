"""The probe report as plain text (72 columns) for a terminal or a mail."""

from __future__ import annotations

from amxmodel.plot.textfmt import wrap
from amxmodel.probe import hostinfo


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def render(report: dict) -> str:
    lines = wrap(f"amxmodel probe, {report['probe']['date']}"
                 + (" (quick sizes)" if report["probe"]["quick"] else ""))
    lines += wrap("host: " + hostinfo.summary(report["host"]))
    lines += wrap(f"TSC {report['host']['tsc_hz'] / 1e9:.3f} GHz; load average "
                  f"{', '.join(str(x) for x in report['host']['load_average'])}")
    lines.append("")
    lines.append("checks (model / kernel / agree)")
    for c in report["checks"]:
        lines += wrap(f"  {c['name']}: {c['model']} / {c['kernel']} / "
                      f"{'yes' if c['agree'] else 'NO'}")
        if c.get("note") and not c["agree"]:
            lines += wrap(f"    ({c['note']})")
    if report["prices"]:
        lines.append("")
        lines.append(f"{'prices (TSC cycles)':34}{'value':>10}  {'95 % interval':>22}  n")
        for key, e in report["prices"].items():
            ci = f"{_num(e['ci95_low'])} .. {_num(e['ci95_high'])}"
            lines.append(f"  {key:32}{_num(e['value']):>10}  {ci:>22}  {e['n']}")
        lines.append("components")
        for key, e in report["components"].items():
            ci = f"{_num(e['ci95_low'])} .. {_num(e['ci95_high'])}"
            lines.append(f"  {key[:32]:32}{_num(e['value']):>10}  {ci:>22}  {e['n']}")
    lines.append("")
    lines.append("ran")
    for r in report["ran"]:
        lines += wrap(f"  {r['part']}")
    lines.append("skipped")
    for s in report["skipped"]:
        lines += wrap(f"  {s['part']}: {s['reason']}")
    lines.append("caveats")
    for c in report["caveats"]:
        lines += wrap(f"  {c}")
    return "\n".join(lines)
