"""``perf kvm stat report``: the VM-EXIT table of a recorded interval.

perf prints (tools/perf/builtin-kvm.c, ``print_result``)::

    Analyze events for all VMs, all VCPUs:

                 VM-EXIT    Samples  Samples%     Time%    Min Time    Max Time         Avg time

               MSR_WRITE      80000    46.51%     1.10%      0.40us     25.31us      0.81us ( +-   0.30% )
    ...
    Total Samples:172000, Total events handled time:5871234.50us.

An exit code perf cannot name is printed as ``UNKNOWN`` (and ``unknown kvm exit code:N on
vmx`` goes to stderr, which may be mixed into the file). Versions before perf 3.14 have no Min/Max Time columns and say "Analyze events for all
VCPUs:"; both layouts are read. ``--vcpu N`` prints "VCPU N" instead of "all VCPUs"; a file
with one such report per vCPU gives per-vCPU counts. Samples are exits; the time columns
are not used (HLT time is halted time, not the cost of an exit). The report does not say
how long the recording ran or how many vCPUs the guests had: ``--duration`` and (for
all-vCPU reports) ``--vcpus`` supply them.
"""

from __future__ import annotations

import re

from .measure import Block, Measurement, combine_blocks, line_error, parse_count, reason_name

TOOL = "perf-kvm-stat"
_ANALYZE = re.compile(r"^\s*Analyze events for (?P<what>.*?)(?:all VCPUs|VCPU (?P<vcpu>\d+)):\s*$")
_TOTAL = re.compile(r"^\s*Total Samples:\s*(?P<n>\S+?),")
_LOST = re.compile(r"^\s*Lost events:\s*(?P<n>\d{1,19})\b")
# pr_err() of get_exit_reason(), interleaved with the rows when stderr goes to the same file
_UNKNOWN_CODE = re.compile(r"^\s*unknown kvm exit code:\s*(?P<code>\d+) on (?P<isa>\S+)")
_PCT = r"\S+%"
_US = r"\S+us"
_AVG = r"\S+us\s+\(\s*\+-\s*\S+%\s*\)"
# Column layouts after the event column, by the header's column names.
LAYOUTS = {
    "Samples Samples% Time% Min Time Max Time Avg time":
        ("perf >= 3.14", rf"{_PCT}\s+{_PCT}\s+{_US}\s+{_US}\s+{_AVG}"),
    "Samples Samples% Time% Avg time":
        ("perf 3.7-3.13", rf"{_PCT}\s+{_PCT}\s+{_AVG}"),
}
HINTS = {
    "duration": "perf kvm stat report does not print how long 'perf kvm stat record' ran: give "
                "--duration SECONDS",
    "vcpus": "a report for all VCPUs does not say how many vCPUs ran: give --vcpus N (or give "
             "one 'perf kvm stat report --vcpu N' per vCPU)",
}
EVENT_OPS = {"VM-EXIT": "vmexit", "MMIO Access": "mmio", "IO Port Access": "ioport"}


def looks_like(lines: list[str]) -> bool:
    """True when the text has a perf kvm stat table."""
    return any(_ANALYZE.match(x) or re.match(r"^\s*VM-EXIT\s+Samples\b", x) for x in lines)


def parse(lines: list[str], path: str) -> Measurement:
    """Read one or more ``perf kvm stat report`` tables from ``lines``."""
    m = Measurement(TOOL, "perf kvm stat report", path)
    blocks: list[Block] = []
    i, layouts = 0, set()
    while i < len(lines):
        if "\x1b[" in lines[i]:
            raise line_error(path, i + 1, "terminal control codes: this is 'perf kvm stat live' "
                             "output; record with 'perf kvm stat record' and give the 'report'")
        hit = _ANALYZE.match(lines[i])
        if hit:
            block, i, layout = _table(lines, i, path, hit.group("vcpu"), m)
            blocks.append(block)
            layouts.add(layout)
        else:
            i += 1
    combine_blocks(blocks, m)
    per = "one table per vCPU" if m.per_vcpu else "all vCPUs"
    m.variant = f"perf kvm stat report ({per}; {', '.join(sorted(layouts))} columns)"
    m.hints.update(HINTS)
    return m


def _table(lines: list[str], start: int, path: str, vcpu: str | None, m: Measurement):
    """Parse the table whose 'Analyze events' line is ``start``; return it and the next line."""
    i = start + 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i == len(lines):
        raise line_error(path, start + 1, "'Analyze events' with no table after it")
    regex, layout = _header(lines[i], i + 1, path)
    row = re.compile(rf"^\s*(?P<name>\S+)\s+(?P<samples>\S+)\s+{regex}\s*$")
    block = Block(start + 1, vcpu)
    i += 1
    while i < len(lines):
        text = lines[i]
        total = _TOTAL.match(text)
        if total:
            _check_total(block, parse_count(total.group("n"), path, i + 1, "Total Samples"),
                         path, i + 1)
            return block, _lost(lines, i + 1, path, m), layout
        if _UNKNOWN_CODE.match(text):
            m.notes.append(f"perf: {text.strip()} (line {i + 1}); its exits are the UNKNOWN row")
        elif text.strip():
            hit = row.match(text)
            if not hit:
                raise line_error(path, i + 1, f"expected a VM-EXIT row 'NAME SAMPLES ...' in the "
                                 f"{layout} layout of the header above, got {text.strip()!r}")
            block.add(reason_name(hit.group("name")),
                      parse_count(hit.group("samples"), path, i + 1, "Samples"))
        i += 1
    raise line_error(path, start + 1, "the table has no 'Total Samples:' line (file cut short?)")


def _header(text: str, lineno: int, path: str) -> tuple[str, str]:
    """The row regex and layout name for a table header line."""
    for name, op in EVENT_OPS.items():
        if text.strip().startswith(name):
            if op != "vmexit":
                raise line_error(path, lineno, f"a '{name}' table (perf kvm stat report "
                                 f"--event={op}): calibrate needs the VM-EXIT table (the default, "
                                 "--event=vmexit)")
            columns = " ".join(text.split()[1:])
            if columns not in LAYOUTS:
                known = "; ".join(f"'{k}' ({v[0]})" for k, v in LAYOUTS.items())
                raise line_error(path, lineno, f"unknown VM-EXIT columns '{columns}'; known "
                                 f"layouts: {known}")
            layout, regex = LAYOUTS[columns]
            return regex, layout
    raise line_error(path, lineno, f"expected the table header 'VM-EXIT Samples ...', got "
                     f"{text.strip()!r}")


def _check_total(block: Block, total: int, path: str, lineno: int) -> None:
    """The rows must add up to perf's own total, else the file was cut or edited."""
    rows = int(sum(block.counts.values()))
    if rows != total:
        raise line_error(path, lineno, f"Total Samples {total} but the rows above add up to "
                         f"{rows} (rows missing or file edited?)")


def _lost(lines: list[str], i: int, path: str, m: Measurement) -> int:
    """Skip blank lines and a 'Lost events' line after a total; note lost events."""
    while i < len(lines) and (not lines[i].strip() or _LOST.match(lines[i])):
        hit = _LOST.match(lines[i])
        if hit and int(hit.group("n")):
            m.notes.append(f"perf lost {hit.group('n')} events (line {i + 1}): rates are low")
        i += 1
    return i
