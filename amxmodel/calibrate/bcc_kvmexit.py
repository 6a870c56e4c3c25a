"""bcc's ``kvmexit`` tool (iovisor/bcc tools/kvmexit.py): exit counts per thread.

The tool prints a header, a column line and one row per (thread, reason)::

    Display kvm exit reasons and statistics for all threads after sleeping 6 secs.
    PID      TID      KVM_EXIT_REASON                     COUNT
    1273903  1273922  EXTERNAL_INTERRUPT                  175

The columns depend on the filter: ``PID TID`` (all threads), ``TID`` (``-p PID -a``),
``TIDS`` (``-T``), or none (``-p PID``, ``-t TID``, ``-p PID -v N``: one vCPU or one VM
collapsed). Each vCPU of KVM runs in its own thread, so rows with a TID are per-vCPU
counts. "after sleeping N secs." gives the interval; "Hit Ctrl-C to end." does not (then
``--duration`` does). Older versions print reasons with the ``EXIT_REASON_`` prefix; the
first row after Ctrl-C starts with ``^C``. Several runs, one per vCPU (``-v N`` or ``-t``),
may be concatenated.
"""

from __future__ import annotations

import re

from .measure import Block, Measurement, combine_blocks, line_error, parse_count, reason_name

TOOL = "bcc-kvmexit"
_HEADER = re.compile(r"^Display kvm exit reasons and statistics for (?P<ctx>.+?)"
                     r"(?: after sleeping (?P<secs>\d+) secs\.|\.\.\. Hit Ctrl-C to end\.)\s*$")
HINTS = {
    "duration": "kvmexit ran until Ctrl-C, so its output has no interval: give --duration "
                "SECONDS (or run 'kvmexit N' for N seconds)",
    "vcpus": "kvmexit -p PID sums all threads of the VM: give --vcpus N (or run 'kvmexit -p PID "
             "-a' for one row per vCPU thread)",
}
_COLUMNS = {
    ("PID", "TID"): 2,
    ("TID",): 1,
    ("TIDS",): 1,
    (): 0,
}


def looks_like(lines: list[str]) -> bool:
    """True when the text has kvmexit's header or column line."""
    return any(_HEADER.match(x.strip()) or x.split()[-2:] == ["KVM_EXIT_REASON", "COUNT"]
               for x in lines if x.strip())


def parse(lines: list[str], path: str) -> Measurement:
    """Read one or more kvmexit runs."""
    m = Measurement(TOOL, "bcc kvmexit", path)
    blocks: list[Block] = []
    durations: dict[float | None, int] = {}
    contexts: list[str] = []
    i = 0
    while i < len(lines):
        text = lines[i].strip()
        hit = _HEADER.match(text)
        if hit:
            secs = float(hit.group("secs")) if hit.group("secs") else None
            durations.setdefault(secs, i + 1)
            contexts.append(hit.group("ctx"))
            i = _run(lines, i + 1, path, hit.group("ctx"), blocks)
        elif text:
            raise line_error(path, i + 1, "expected kvmexit's header 'Display kvm exit reasons "
                             f"and statistics for ...', got {text!r}")
        else:
            i += 1
    if len(durations) > 1:
        line = sorted(durations.values())[1]
        raise line_error(path, line, "runs of different lengths in one file: give runs of the "
                         "same duration")
    combine_blocks(blocks, m)
    m.interval_s = next(iter(durations))
    m.variant = f"bcc kvmexit ({'; '.join(dict.fromkeys(contexts))})"
    m.hints.update(HINTS)
    return m


def _run(lines: list[str], i: int, path: str, ctx: str, blocks: list[Block]) -> int:
    """Parse the column line and rows after a header; append blocks; return the next line."""
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i == len(lines):
        raise line_error(path, i, "a kvmexit header with no column line after it")
    head = tuple(lines[i].split())
    if head[-2:] != ("KVM_EXIT_REASON", "COUNT") or head[:-2] not in _COLUMNS:
        raise line_error(path, i + 1, f"expected kvmexit's columns '[PID TID|TID|TIDS] "
                         f"KVM_EXIT_REASON COUNT', got {lines[i].strip()!r}")
    ids = _COLUMNS[head[:-2]]
    single = _single_vcpu(ctx)
    by_label: dict[str | None, Block] = {}
    i += 1
    while i < len(lines) and not _HEADER.match(lines[i].strip()):
        text = lines[i].strip().removeprefix("^C")
        if text:
            cells = text.split()
            if len(cells) != ids + 2:
                raise line_error(path, i + 1, f"expected {ids + 2} columns "
                                 f"({' '.join(head)}), got {text!r}")
            for c in cells[:ids]:
                parse_count(c, path, i + 1, "thread id")
            label = "/".join(cells[:ids]) if ids else single
            block = by_label.setdefault(label, Block(i + 1, label))
            block.add(reason_name(cells[-2]), parse_count(cells[-1], path, i + 1, "COUNT"))
        i += 1
    blocks.extend(by_label.values())
    return i


def _single_vcpu(ctx: str) -> str | None:
    """The vCPU label of a run that traced one thread ('TID n', 'PID p VCPU n'), else None."""
    hit = re.fullmatch(r"TID (\d+)|PID (\d+) VCPU (\d+)", ctx)
    if not hit:
        return None
    return hit.group(1) or f"{hit.group(2)} vCPU {hit.group(3)}"
