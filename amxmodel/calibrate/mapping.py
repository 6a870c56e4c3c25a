"""From VMX exit reasons to the model's kinds of exit: fastpath, handled in KVM, user space.

The split lives in data/calibrate/exit_reasons.yaml, not in code: each reason gives the
share of its exits that re-enter from ``vmx_exit_handlers_fastpath()``, that KVM handles,
and that go to the VMM, with the kernel source or the word "assumption". MSR_WRITE, for
example, re-enters in the fastpath only for x2APIC ICR and TSC-deadline writes, so its
split is an assumption a user can change (``--mapping FILE``).

:meth:`ExitMapping.kinds` weights the shares by measured counts. Because mixed reasons
carry assumed splits, it also returns the range each share can take when every mixed
reason is all of one kind or none of it; that range becomes the field's plausible range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amxmodel.common.datafiles import data_dir
from amxmodel.common.errors import InputError
from amxmodel.common.yamlio import load_yaml

KINDS = ("fastpath", "kernel", "user")
UNATTRIBUTED = "UNATTRIBUTED"


@dataclass(frozen=True)
class Shares:
    """The kinds of one reason's exits; the three shares sum to 1."""

    fastpath: float
    kernel: float
    user: float
    source: str

    def get(self, kind: str) -> float:
        """The share of ``kind`` (one of KINDS)."""
        return float(getattr(self, kind))


@dataclass(frozen=True)
class KindSplit:
    """Count-weighted shares of all exits, with the range the assumed splits allow."""

    share: dict[str, float]
    low: dict[str, float]
    high: dict[str, float]


@dataclass(frozen=True)
class Counters:
    """Debugfs counters turned into exit counts by reason."""

    counts: dict[str, float]
    unknown: list[str]
    ignored: list[str]


@dataclass(frozen=True)
class ExitMapping:
    """The reason -> kinds table of one mapping file."""

    path: str
    reasons: dict[str, Shares]
    default: Shares
    aliases: dict[str, str]
    sigma_default: float
    debugfs_total: str
    debugfs_parts: dict[str, str]
    debugfs_not_exits: frozenset[str]

    def canonical(self, reason: str) -> str:
        """The reason's name in the table (aliases resolved)."""
        return self.aliases.get(reason, reason)

    def known(self, reason: str) -> bool:
        """True when the table lists the reason (after aliases)."""
        return self.canonical(reason) in self.reasons

    def shares(self, reason: str) -> Shares:
        """The reason's shares, or the default for a reason the table does not list."""
        return self.reasons.get(self.canonical(reason), self.default)

    def kinds(self, counts: dict[str, float]) -> KindSplit:
        """Shares of all exits by kind, weighted by ``counts``, and their low/high range."""
        total = sum(counts.values())
        share, low, high = {}, {}, {}
        for kind in KINDS:
            parts = [(c, self.shares(r).get(kind)) for r, c in counts.items()]
            share[kind] = sum(c * s for c, s in parts) / total
            low[kind] = sum(c for c, s in parts if s >= 1.0) / total
            high[kind] = sum(c for c, s in parts if s > 0.0) / total
        return KindSplit(share, low, high)

    def attribute_counters(self, counters: dict[str, float], path: str) -> Counters:
        """Debugfs counters as exits by reason: named parts, unknown ``*_exits``, the rest."""
        if self.debugfs_total not in counters:
            raise InputError(f"{path}: no '{self.debugfs_total}' counter (the total of VM exits); "
                             f"counters found: {', '.join(sorted(counters)) or 'none'}")
        counts: dict[str, float] = {}
        unknown, ignored = [], []
        for name, value in counters.items():
            if name in self.debugfs_parts:
                reason = self.debugfs_parts[name]
                counts[reason] = counts.get(reason, 0.0) + value
            elif name.endswith("_exits") and name not in self.debugfs_not_exits:
                counts[name] = value
                unknown.append(name)
            elif name != self.debugfs_total:
                ignored.append(name)
        rest = counters[self.debugfs_total] - sum(counts.values())
        if rest < 0:
            raise InputError(f"{path}: the exit counters add up to more than "
                             f"'{self.debugfs_total}' ({sum(counts.values()):g} > "
                             f"{counters[self.debugfs_total]:g}); were they read at different times?")
        if rest > 0:
            counts[UNATTRIBUTED] = rest
        return Counters(counts, unknown, ignored)


def default_mapping_path() -> Path:
    """data/calibrate/exit_reasons.yaml of the data folder."""
    return data_dir() / "calibrate" / "exit_reasons.yaml"


def display_path(p: Path) -> str:
    """``p`` as ``data/...`` when it is a shipped file (files record no host paths)."""
    try:
        return str(p.resolve().relative_to(data_dir().resolve().parent))
    except ValueError:
        return str(p)


def load_mapping(path: str | Path | None = None) -> ExitMapping:
    """Read and check a mapping file (default: the shipped one)."""
    p = Path(path) if path is not None else default_mapping_path()
    raw = load_yaml(p, "exit reason mapping")
    where = display_path(p)
    if not isinstance(raw, dict):
        raise InputError(f"{where}: expected a mapping with 'reasons', 'default', 'debugfs'")
    for key in ("reasons", "default", "debugfs", "sigma_default"):
        if key not in raw:
            raise InputError(f"{where}: missing '{key}'")
    reasons = raw["reasons"]
    if not isinstance(reasons, dict) or not reasons:
        raise InputError(f"{where}: 'reasons' must map exit reason names to shares")
    sigma = raw["sigma_default"] if isinstance(raw["sigma_default"], dict) else {}
    value = sigma.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 5:
        raise InputError(f"{where}: sigma_default.value must be a number in [0, 5], got {value!r}")
    debugfs = raw["debugfs"] if isinstance(raw["debugfs"], dict) else {}
    parts = debugfs.get("parts") or {}
    if not isinstance(parts, dict) or not isinstance(debugfs.get("total"), str):
        raise InputError(f"{where}: debugfs needs 'total: NAME' and 'parts: {{counter: REASON}}'")
    return ExitMapping(
        path=where,
        reasons={str(k): _shares(v, f"{where}: reasons.{k}") for k, v in reasons.items()},
        default=_shares(raw["default"], f"{where}: default"),
        aliases={str(k): str(v) for k, v in (raw.get("aliases") or {}).items()},
        sigma_default=float(value),
        debugfs_total=debugfs["total"],
        debugfs_parts={str(k): str(v) for k, v in parts.items()},
        debugfs_not_exits=frozenset(str(x) for x in debugfs.get("not_exits") or []),
    )


def _shares(entry: Any, where: str) -> Shares:
    """One entry: fastpath, kernel, user in [0, 1] summing to 1, and a source."""
    if not isinstance(entry, dict):
        raise InputError(f"{where}: expected {{fastpath, kernel, user, source}}, got {entry!r}")
    extra = set(entry) - set(KINDS) - {"source"}
    if extra:
        raise InputError(f"{where}: unknown key(s) {', '.join(sorted(extra))}; allowed: "
                         f"{', '.join(KINDS)}, source")
    values = {}
    for kind in KINDS:
        v = entry.get(kind, 0.0)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise InputError(f"{where}: {kind} must be a share in [0, 1], got {v!r}")
        values[kind] = float(v)
    if not math.isclose(sum(values.values()), 1.0, abs_tol=1e-9):
        raise InputError(f"{where}: fastpath + kernel + user = {sum(values.values()):g}, must be 1")
    if not str(entry.get("source", "")).strip():
        raise InputError(f"{where}: every line needs a source (kernel function or 'assumption')")
    return Shares(values["fastpath"], values["kernel"], values["user"], str(entry["source"]))
