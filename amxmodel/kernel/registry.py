"""The registry of reference models: one event-level model per design, by policy name.

:mod:`amxmodel.kernel.upstream` holds the merged design (Linux 5.17+) and
:mod:`amxmodel.kernel.designs` the others; this module maps the catalogue's policy names
(:mod:`amxmodel.inputs.designs`) onto them and replays raw events through one.
"""

from __future__ import annotations

from typing import Any

from amxmodel.common.errors import InputError, unknown
from amxmodel.inputs.designs import POLICY_NAMES
from amxmodel.inputs.hardware import Hardware
from amxmodel.kernel.designs import (
    LazyExitUser,
    NmFirstUse,
    NoAmx,
    Opt1ExitClear,
    Opt2SwitchCheck,
    Prealloc,
    RfcSwitch,
    SyncAlways,
    Xcr0Alloc,
)
from amxmodel.kernel.trace import parse_events
from amxmodel.kernel.upstream import DEFAULT_KERNEL, ReferenceModel

MODELS: dict[str, type[ReferenceModel]] = {
    cls.name: cls
    for cls in (ReferenceModel, SyncAlways, Opt1ExitClear, Opt2SwitchCheck, LazyExitUser,
                NmFirstUse, Xcr0Alloc, Prealloc, RfcSwitch, NoAmx)
}
assert tuple(MODELS) == POLICY_NAMES, "one reference model per policy, in catalogue order"


def make_model(policy: str, hardware: Hardware, kernel: str = DEFAULT_KERNEL,
               options: dict[str, dict[str, str]] | None = None) -> ReferenceModel:
    """A fresh reference model for ``policy`` on host kernel ``kernel``; ``options`` maps
    policies to their design options (e.g. ``{"sync-always": {"xfd_reset": "init"}}``)."""
    if policy not in MODELS:
        raise unknown("policy", policy, MODELS)
    return MODELS[policy](hardware, kernel, **(options or {}).get(policy, {}))


def parse_options(items: list[str] | None) -> dict[str, dict[str, str]]:
    """``POLICY.KEY=VALUE`` strings (``--option``) as ``{policy: {key: value}}``, checked."""
    out: dict[str, dict[str, str]] = {}
    for item in items or []:
        head, sep, value = item.partition("=")
        policy, dot, key = head.partition(".")
        if not sep or not dot:
            raise InputError(f"--option {item!r}: expected POLICY.KEY=VALUE, e.g. "
                             "sync-always.xfd_reset=init")
        if policy not in MODELS:
            raise unknown("policy", policy, MODELS, f"--option {item!r}")
        opts = MODELS[policy].OPTIONS
        if key not in opts:
            raise unknown(f"option of {policy}", key, opts or {"(none)": None}, f"--option {item!r}")
        if value not in opts[key]:
            raise unknown(f"{policy} {key}", value, opts[key], f"--option {item!r}")
        out.setdefault(policy, {})[key] = value
    return out


def run_events(policy: str, hardware: Hardware, raw_events: list[dict],
               kernel: str = DEFAULT_KERNEL) -> dict[str, Any]:
    """Replay raw event mappings for one policy; return the counters with their prices."""
    model = make_model(policy, hardware, kernel)
    for ev in parse_events(raw_events):
        model.apply(ev)
    return model.result()["counters"]
