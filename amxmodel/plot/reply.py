"""A plain-text reply to the seed mail, every number computed from one run.

On 2021-11-16 Thomas Gleixner proposed to read IA32_XFD after every VM exit and to "see
how much overhead it creates" (Message-ID ``87k0h85m65.ffs@tglx``). :func:`reply_text`
drafts the answer a list reader expects: the question quoted (bottom-posted), the method
in a few lines, the per-design table, the break-even sentence, the memory side, the
assumptions that move the answer most (from a tornado frame) and the exact command that
reproduces it. Plain ASCII, at most 72 columns, no HTML.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from amxmodel.analysis.breakeven import PRICE, THRESHOLDS, findings, linear_overhead
from amxmodel.common.units import format_value, sig
from amxmodel.plot.frames import tornado_table
from amxmodel.plot.textfmt import WIDTH, text_table, wrap

SEED_ID = "87k0h85m65.ffs@tglx"
SEED_QUOTE = "I'd rather start simple and see how much overhead it creates."
SUBJECT = "Re: Thoughts of AMX KVM support based on latest kernel"
FOCUS = ("upstream", "sync-always")


def reproduce_command(record: dict, program: str = "amxmodel main") -> list[str]:
    """The command that repeats the run behind ``record``, wrapped with ``\\`` to 72 columns;
    changes that name no catalogue entry (a workload file) are left as a note."""
    words = [program]
    if record.get("name") not in (None, "default"):
        words.append(f"--scenario {record['name']}")
    notes = []
    for change in record.get("changes") or []:
        if " (" in change or change.startswith("class "):
            notes.append(change)
            continue
        words.append(f"--set {change}")
    lines, line = [], " "
    for word in words:
        if len(line) + len(word) + 3 > WIDTH and line.strip():
            lines.append(line + " \\")
            line = "     "
        line += " " + word
    lines.append(line)
    lines += [f"  # {n}: pass your own file with --set workload=FILE" for n in notes]
    return lines


def _bullet(text: str) -> list[str]:
    """A ``- `` item wrapped to 72 columns, continuation lines indented under its text."""
    first, *rest = wrap(text, WIDTH - 2)
    return [first, *(f"  {line}" for line in rest)]


def _table(res) -> str:
    w = res.wide()
    lin = linear_overhead(res)
    price = lin.solve_price(THRESHOLDS[0])
    rows = pd.DataFrame({
        "design": list(w.index),
        "host CPU": w["overhead_fraction"].to_numpy(),
        "p99 host": (w["overhead_fraction_p99"].to_numpy() if "overhead_fraction_p99" in w
                     else [float("nan")] * len(w)),
        "RDMSR/vCPU-s": w["rdmsr_xfd_per_vcpu_s"].to_numpy(),
        "0.1 % at": [_price(price[p]) for p in w.index],
    })
    return text_table(rows, {"host CPU": "fraction", "p99 host": "fraction"})


def _price(x: float) -> str:
    if x == 0:
        return "already"
    if x == float("inf"):
        return "never"
    return f"{sig(x)} cyc"


def _assumptions(tornado: pd.DataFrame | None, policy: str, top: int = 4) -> list[str]:
    if tornado is None or tornado.empty:
        return ["(no sensitivity run given)"]
    t = tornado_table(tornado).head(top)
    out = []
    for r in t.itertuples():
        out += _bullet(f"- {r.parameter} from {sig(r.low_value)} to {sig(r.high_value)}: "
                    f"{policy} at {format_value(r.metric_low, 'fraction')} .. "
                    f"{format_value(r.metric_high, 'fraction')} of host CPU")
    return out


def _memory(res) -> list[str]:
    w = res.wide()
    parts = []
    for pol in [p for p in ("upstream", "lazy-exit-user", "nm-first-use") if p in w.index]:
        r = w.loc[pol]
        parts.append(f"{pol} holds {format_value(r['fpstate_bytes_per_vcpu'], 'bytes')} "
                     f"per vCPU ({format_value(r['fleet_fpstate_gib'], 'GiB')} for the "
                     f"fleet), {sig(r['unused_amx_bytes_fraction'] * 100)} % of its AMX "
                     f"memory never used, {sig(r['reallocs_per_host_hour'])} reallocations "
                     "per host-hour")
    return wrap("Memory: " + "; ".join(parts) + "." if parts else "Memory: no design "
                "with AMX buffers in this run.", WIDTH)


def reply_text(res, tornado: pd.DataFrame | None = None, policy: str = "sync-always",
               reference: str = "upstream", program: str = "amxmodel main") -> str:
    """The reply draft for run ``res`` (``tornado``: a tornado frame of ``policy``)."""
    rec = res.record
    sc = res.scenario
    policies: Sequence[str] = list(res.wide().index)
    policy = policy if policy in policies else policies[0]
    reference = reference if reference in policies else policies[-1]
    hw = sc.hardware.values
    lines = [f"In-Reply-To: <{SEED_ID}>", f"Subject: {SUBJECT}", "",
             f"On 2021-11-16, Thomas Gleixner wrote ({SEED_ID}):", f"> {SEED_QUOTE}", ""]
    lines += wrap("Here is what a model of a whole fleet says it creates, for the read "
                  "after every VM exit and for the other designs discussed in 2021.", WIDTH)
    lines += ["", "Method:"]
    if res.mode == "sample":
        lines += _bullet(f"- a sampled fleet of {sc.fleet['hosts']} hosts x "
                         f"{sc.fleet['pcpus_per_host']} hardware threads, {sc.run['steps']} "
                         f"steps of {sc.run['step_s']:g} seconds; VM exits, task switches, "
                         "first AMX uses and VM churn are drawn once and every design prices "
                         "the same events")
    else:
        lines += _bullet(f"- expected values (mean field) for hosts of "
                         f"{sc.fleet['pcpus_per_host']} hardware threads over "
                         f"{sc.run['steps']} steps of {sc.run['step_s']:g} seconds; every "
                         "design prices the same expected events")
    lines += _bullet(f"- prices per event (none published for SPR): RDMSR(XFD) "
                  f"{hw[PRICE]:g} cycles, WRMSR(XFD) {hw['wrmsr_xfd_cycles']:g}, XSETBV "
                  f"{hw['xsetbv_cycles']:g}, VM exit in KVM {hw['exit_kernel_cycles']:g}, "
                  f"clock {hw['cpu_hz'] / 1e9:g} GHz")
    lines += _bullet("- overhead = the design's cycles / all hardware threads' cycles; fleet "
                  f"mean {sig(rec.get('exits_per_vcpu_s', 0.0))} VM exits per vCPU-second")
    w = res.wide()
    if {"overhead_fraction", "overhead_fraction_xsetbv"} <= set(w.columns) \
            and w.loc[reference, "overhead_fraction"] > 0:
        share = w.loc[reference, "overhead_fraction_xsetbv"] / w.loc[reference, "overhead_fraction"]
        lines += _bullet("- every AMX design's total includes the XCR0 switch (XSETBV around "
                         "entries and exits) that AMX in the host XCR0 adds for guests whose "
                         f"XCR0 lacks AMX: {share:.0%} of {reference}'s overhead in this run; "
                         "no XFD design changes it")
    lines += ["", *wrap(res.header, WIDTH), "", _table(res), ""]
    lines += wrap("host CPU: mean over hosts; p99 host: the 99th-percentile host; 0.1 % at: "
                  "the RDMSR(XFD) price at which the design reaches 0.1 % of host CPU "
                  "(already: above it at any price; never: it pays no RDMSR)", WIDTH)
    lines += ["", *wrap(findings(linear_overhead(res), policy, reference), WIDTH)]
    lines += ["", *_memory(res)]
    lines += ["", f"Assumptions that move {policy} most, each alone over its", "plausible range (mean-field runs):"]
    lines += _assumptions(tornado, policy)
    lines += ["", "To reproduce (pip install amxmodel from its repository first):"]
    lines += reproduce_command(rec, program)
    return "\n".join(line.rstrip() for line in lines) + "\n"
