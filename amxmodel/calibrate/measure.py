"""What a tool's output says: exit counts by reason over an interval, on some vCPUs.

Every parser (perf kvm stat, kvm_stat, bcc kvmexit) turns a text file into one
:class:`Measurement`. A measurement keeps what the file says and nothing more: when the
file does not tell the interval or the vCPU count, those stay ``None`` and the parser
leaves a hint saying which flag supplies them (``--duration``, ``--vcpus``).

Counts are exits over the whole interval, summed over the vCPUs seen; ``per_vcpu`` has the
same counts split by vCPU when the tool printed them (``perf kvm stat report --vcpu N``,
bcc kvmexit per thread), which gives the spread of the rate across vCPUs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from amxmodel.common.errors import InputError
from amxmodel.common.yamlio import excerpt, read_input_text

_PREFIX = "EXIT_REASON_"
MAX_COUNT_DIGITS = 19  # a 64-bit counter


@dataclass
class Block:
    """One table of a file: counts by reason, for one vCPU (``label``) or for all (``None``)."""

    line: int
    label: str | None
    counts: dict[str, float] = field(default_factory=dict)

    def add(self, reason: str, count: float) -> None:
        """Add ``count`` exits of ``reason``."""
        self.counts[reason] = self.counts.get(reason, 0.0) + count


@dataclass
class Measurement:
    """Exit counts read from one file, with what the file says about interval and vCPUs."""

    tool: str
    variant: str
    path: str
    counts: dict[str, float] = field(default_factory=dict)
    per_vcpu: dict[str, dict[str, float]] | None = None
    counters: dict[str, float] = field(default_factory=dict)
    user_exits: float | None = None
    interval_s: float | None = None
    vcpus: int | None = None
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    hints: dict[str, str] = field(default_factory=dict)


def line_error(path: str, lineno: int, message: str) -> InputError:
    """An InputError that names the file and the line."""
    return InputError(f"{path}: line {lineno}: {message}")


def reason_name(raw: str) -> str:
    """A tool's spelling of an exit reason, normalized: upper case, no EXIT_REASON_ prefix."""
    name = raw.strip().upper()
    return name[len(_PREFIX):] if name.startswith(_PREFIX) and len(name) > len(_PREFIX) else name


def parse_count(text: str, path: str, lineno: int, what: str = "count") -> int:
    """A non-negative whole number from a column, or an error naming the line."""
    if not re.fullmatch(r"\d+", text):
        raise line_error(path, lineno, f"{what} {excerpt(text)} is not a whole number >= 0")
    if len(text) > MAX_COUNT_DIGITS:
        raise line_error(path, lineno, f"{what} has {len(text)} digits; allowed: at most "
                                       f"{MAX_COUNT_DIGITS}")
    return int(text)


def read_lines(path: str | Path) -> list[str]:
    """The lines of a text file (no line ends); unreadable or empty files raise InputError."""
    p = Path(path)
    text = read_input_text(p, "tool's text output")
    if not text.strip():
        raise InputError(f"{p}: the file is empty")
    return text.splitlines()


def combine_blocks(blocks: list[Block], m: Measurement) -> None:
    """Fill ``m.counts`` (and ``m.per_vcpu`` for per-vCPU blocks) from a file's tables.

    One table for all vCPUs, or any number of tables each for a different vCPU; a mix, or
    the same vCPU twice, is an error that names the table's line.
    """
    if not blocks:
        raise InputError(f"{m.path}: no exit table found ({m.variant})")
    whole = [b for b in blocks if b.label is None]
    if whole and len(blocks) > 1:
        b = whole[1] if len(whole) > 1 else next(x for x in blocks if x.label is not None)
        raise line_error(m.path, b.line, "a second table: give one report for all vCPUs, or one "
                         "report per vCPU (each for a different vCPU), not several for all vCPUs "
                         "(perf kvm stat live and repeated runs are not read)")
    seen: dict[str, int] = {}
    for b in blocks:
        if b.label is not None and b.label in seen:
            raise line_error(m.path, b.line, f"vCPU {b.label} again (its first table is on line "
                             f"{seen[b.label]}); give each vCPU once")
        if b.label is not None:
            seen[b.label] = b.line
        for reason, count in b.counts.items():
            m.counts[reason] = m.counts.get(reason, 0.0) + count
    if not whole:
        m.per_vcpu = {b.label: dict(b.counts) for b in blocks}  # type: ignore[misc]
        m.vcpus = len(blocks)
