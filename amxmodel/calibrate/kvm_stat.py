"""``kvm_stat`` from the kernel tree (tools/kvm/kvm_stat), and raw KVM debugfs counters.

Four layouts are read:

- ``kvm_stat -1`` (batch): ``'%-42s%10d%10d' % (name, total, delta)``, the delta over one
  second; the interval is that second. A child field may be followed by its parent
  (``kvm_exit(HLT) kvm_exit``), the internal key of kvm_stat since child events.
- ``kvm_stat --log``: a banner of field names, then one line of ``' %9d'`` deltas per
  ``-s`` delay. Since Linux 5.7 each line starts with ``YYYY-MM-DD HH:MM:SS`` and the
  interval follows from the timestamps; older versions print no timestamp (then
  ``--duration`` gives the interval). The banner repeats every 20 lines.
- ``kvm_stat --log --csv``: ``timestamp,name,...`` then ``YYYY-MM-DD HH:MM:SS,delta,...``.
- debugfs counters, e.g. ``grep -H . /sys/kernel/debug/kvm/*``: ``PATH:VALUE``,
  ``NAME: VALUE`` or ``NAME VALUE``, once (cumulative, ``--duration`` is the time they
  cover) or twice (two snapshots, the difference is used).

Tracepoint fields give exits by reason: ``kvm_exit(NAME)`` per VMX exit reason, the parent
``kvm_exit`` the total (what no child explains is UNATTRIBUTED), and ``kvm_userspace_exit``
the returns to the VMM, a measured user-space share. Debugfs fields (``exits``,
``halt_exits``, ...) are passed on as counters; data/calibrate/exit_reasons.yaml says which
count exits. Other tracepoints (``kvm_entry``, ``kvm_msr``, ...) are not exits and are
listed as ignored. kvm_stat never says how many vCPUs ran: ``--vcpus`` gives it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

from .measure import Measurement, line_error, reason_name

TOOL = "kvm_stat"
_STAMP = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"
_INT = re.compile(r"-?\d{1,19}")  # at most 19 digits: an int64 counter
_FIELD = re.compile(r"[A-Za-z_][\w\-]*(\([\w\-/ ]+\))?")
_BATCH = re.compile(r"^\s*(?P<name>\S+)(?:\s+kvm_\w+)?\s+(?P<total>-?\d+)"
                    r"\s+(?P<delta>-?\d+)\s*$")
_COUNTER = re.compile(r"^\s*(?P<key>[^\s:]+?)\s*(?::\s*|\s+)(?P<value>-?\d{1,19})\s*$")
_CHILD = re.compile(r"^(?P<parent>kvm_\w+)\((?P<child>[^)]*)\)$")


def looks_like(lines: list[str]) -> bool:
    """True when the first non-blank line fits one of the kvm_stat layouts."""
    first = _first(lines)
    return first is not None and _variant(lines[first]) is not None


def parse(lines: list[str], path: str) -> Measurement:
    """Read kvm_stat batch or log output, or a debugfs counter dump."""
    first = _first(lines)
    variant = _variant(lines[first]) if first is not None else None
    if variant is None:
        shown = lines[first].strip() if first is not None else ""
        raise line_error(path, (first or 0) + 1, "not kvm_stat output: expected 'NAME TOTAL "
                         "DELTA' (kvm_stat -1), a field banner (kvm_stat --log), 'timestamp,...' "
                         f"(--log --csv) or 'NAME: VALUE' (debugfs), got {shown!r}")
    m = Measurement(TOOL, variant, path)
    m.hints["vcpus"] = "kvm_stat does not report how many vCPUs ran: give --vcpus N"
    {"batch": _batch, "log": _log, "csv": _log, "debugfs": _debugfs}[variant](lines, path, m)
    return m


def _first(lines: list[str]) -> int | None:
    return next((i for i, x in enumerate(lines) if x.strip()), None)


def _variant(text: str) -> str | None:
    if text.startswith("timestamp,"):
        return "csv"
    if _BATCH.match(text):
        return "batch"
    if _COUNTER.match(text):
        return "debugfs"
    tokens = text.split()
    if tokens and all(_FIELD.fullmatch(t) for t in tokens):
        return "log"
    return None


def _matches(lines: list[str], regex: re.Pattern, path: str,
             expected: str) -> Iterator[tuple[int, re.Match]]:
    """(line number, match) of every non-blank line; a line that does not match is an error."""
    for i, text in enumerate(lines):
        if text.strip():
            hit = regex.match(text)
            if not hit:
                raise line_error(path, i + 1, f"expected {expected}, got {text.strip()!r}")
            yield i + 1, hit


def _batch(lines: list[str], path: str, m: Measurement) -> None:
    """kvm_stat -1: the delta column covers one second."""
    values = {hit.group("name"): _delta(hit.group("delta"), path, n)
              for n, hit in _matches(lines, _BATCH, path, "'NAME TOTAL DELTA' as printed by "
                                     "kvm_stat -1")}
    m.variant = "kvm_stat -1 (batch, one second)"
    m.interval_s = 1.0
    m.notes.append("kvm_stat -1 covers one second; kvm_stat --log over minutes is steadier")
    _assign(values, m)


def _log(lines: list[str], path: str, m: Measurement) -> None:
    """kvm_stat --log, plain or CSV: sum the per-delay rows under their banner."""
    csv = m.variant == "csv"
    keys: list[str] | None = None
    banner_line = 0
    sums: dict[str, float] = {}
    stamps: list[datetime | None] = []
    for i, text in enumerate(lines):
        if not text.strip():
            continue
        cells = text.split(",") if csv else text.split()
        stamp, values = _row(cells, csv)
        if values is None:
            keys, banner_line = _banner(cells[1:] if csv else cells, path, i + 1), i + 1
            continue
        if keys is None:
            raise line_error(path, i + 1, "a row of values before any banner of field names")
        if len(values) != len(keys):
            raise line_error(path, i + 1, f"{len(values)} values for the {len(keys)} fields of "
                             f"the banner on line {banner_line}")
        for key, value in zip(keys, values):
            sums[key] = sums.get(key, 0.0) + _delta(value, path, i + 1)
        stamps.append(_stamp(stamp, path, i + 1))
        if len(stamps) > 1 and None not in stamps[-2:] and stamps[-1] < stamps[-2]:
            raise line_error(path, i + 1, f"timestamp {stamps[-1]} is before the row above "
                             f"({stamps[-2]}): the timestamps go backwards (two logs joined, or "
                             "the clock changed); allowed: one log in time order")
    if not stamps:
        raise line_error(path, banner_line or 1, "a banner but no rows of values")
    m.variant = f"kvm_stat --log{' --csv' if csv else ''} ({len(stamps)} rows)"
    _interval_from_stamps(stamps, m)
    _assign(sums, m)


def _row(cells: list[str], csv: bool) -> tuple[str | None, list[str] | None]:
    """(timestamp, values) of a data row, or (None, None) for a banner."""
    if csv:
        return (None, None) if cells[0] == "timestamp" else (cells[0], [c.strip() for c in cells[1:]])
    if len(cells) >= 2 and re.fullmatch(_STAMP, f"{cells[0]} {cells[1]}"):
        return f"{cells[0]} {cells[1]}", cells[2:]
    if cells and all(_INT.fullmatch(c) for c in cells):
        return None, cells
    return None, None


def _banner(names: list[str], path: str, lineno: int) -> list[str]:
    bad = [n for n in names if not _FIELD.fullmatch(n.strip())]
    if bad or not names:
        raise line_error(path, lineno, f"expected a banner of kvm_stat field names or a row of "
                         f"values, got {' '.join(names)!r}")
    return [n.strip() for n in names]


def _stamp(text: str | None, path: str, lineno: int) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise line_error(path, lineno, f"timestamp {text!r} is not YYYY-MM-DD HH:MM:SS") from None


def _interval_from_stamps(stamps: list[datetime | None], m: Measurement) -> None:
    """n rows spanning t_last - t_first seconds cover span * n / (n - 1) seconds."""
    if any(s is None for s in stamps) or len(stamps) < 2 or stamps[-1] <= stamps[0]:
        why = ("has no timestamps (kvm_stat before Linux 5.7)" if stamps[0] is None
               else "has too few rows to tell the -s delay")
        m.hints["duration"] = (f"this kvm_stat --log output {why}: give --duration SECONDS "
                               f"(rows x the -s delay, {len(stamps)} rows here)")
        return
    span = (stamps[-1] - stamps[0]).total_seconds()  # type: ignore[operator]
    m.interval_s = span * len(stamps) / (len(stamps) - 1)
    m.notes.append(f"interval from the timestamps: {len(stamps)} rows over {span:g} s "
                   "(1 s resolution)")


def _delta(text: str, path: str, lineno: int) -> float:
    if not _INT.fullmatch(text.strip()):
        raise line_error(path, lineno, f"value {text.strip()!r} is not a whole number")
    value = int(text)
    if value < 0:
        raise line_error(path, lineno, f"negative delta {value} (counters reset while logging?)")
    return float(value)


def _assign(values: dict[str, float], m: Measurement) -> None:
    """Sort kvm_stat fields into exit reasons, the kvm_exit total, user exits and counters."""
    parent = values.get("kvm_exit")
    user_children = 0.0
    for key, value in values.items():
        child = _CHILD.match(key)
        if child and child.group("parent") == "kvm_exit":
            m.counts[reason_name(child.group("child"))] = value
        elif child and child.group("parent") == "kvm_userspace_exit":
            user_children += value
        elif key == "kvm_userspace_exit":
            m.user_exits = value
        elif key.startswith("kvm_"):
            if key != "kvm_exit":
                m.ignored.append(key)
        else:
            m.counters[key] = value
    if m.user_exits is None and user_children:
        m.user_exits = user_children
    if parent is not None:
        rest = parent - sum(m.counts.values())
        if rest > 0:
            m.counts["UNATTRIBUTED"] = rest
            m.notes.append("kvm_exit counted exits no kvm_exit(NAME) field explains; run "
                           "kvm_stat -f 'kvm_exit.*' for the split by reason")


def _debugfs(lines: list[str], path: str, m: Measurement) -> None:
    """One or two snapshots of debugfs counters of one directory."""
    seen: dict[str, list[tuple[int, int]]] = {}
    where: dict[str, int] = {}
    for n, hit in _matches(lines, _COUNTER, path, "'NAME: VALUE' or 'PATH:VALUE' of a debugfs "
                           "counter"):
        folder, _, name = hit.group("key").rpartition("/")
        where.setdefault(folder, n)
        if len(where) > 1:
            first = next(iter(where))
            raise line_error(path, n, f"counters of a second directory '{folder}' (the first, "
                             f"'{first}', starts on line {where[first]}): give one directory; "
                             "/sys/kernel/debug/kvm itself sums all VMs")
        seen.setdefault(name, []).append((n, int(hit.group("value"))))
    snapshots = max(len(v) for v in seen.values())
    for name, values in seen.items():
        if len(values) != snapshots:
            raise line_error(path, values[0][0], f"counter '{name}' appears {len(values)} time(s), "
                             f"others {snapshots}: give one or two complete snapshots")
        value = values[-1][1] - (values[0][1] if snapshots > 1 else 0)
        if value < 0:
            raise line_error(path, values[-1][0], f"counter '{name}' went down ({values[0][1]} -> "
                             f"{values[-1][1]}): the counters were reset between snapshots")
        m.counters[name] = float(value)
    if snapshots > 1:
        m.variant = f"debugfs counters ({snapshots} snapshots, last minus first)"
        how = "the time between the first and the last snapshot"
    else:
        m.variant = "debugfs counters (cumulative)"
        how = "the time the counters cover (since the VMs started or the counters were cleared)"
    m.hints["duration"] = f"debugfs counters carry no time: give --duration SECONDS, {how}"
