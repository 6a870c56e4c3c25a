"""Overrides: dotted ``key=value`` changes applied to raw scenario data.

They are the same in a scenario's ``set:`` mapping, on the command line (``--set``), in a
notebook's ``sets`` and in a sweep grid:

- ``hardware=spr-pessimistic``, ``fleet=default``: swap a whole part;
- ``workload=web`` or ``workload=path/to/class.yaml``: a fleet of one workload class;
- ``hardware.rdmsr_xfd_cycles=120``, ``fleet.hosts=50``, ``run.steps=10``;
- ``mix.web=0.5``: a workload share (the mix is normalized);
- ``workloads.web.exits_per_vcpu_s=800`` (a fixed value) or
  ``workloads.web.exits_per_vcpu_s.median=800`` (one parameter of the distribution);
  ``workloads.*.p_uses_amx=0.1`` for every class of the mix;
- ``policies=upstream,sync-always``;
- a bare name (``rdmsr_xfd_cycles=120``) when it is unique across hardware, fleet and run.

Single values are checked against the catalogue where they are given, so an error names
the override; the whole scenario is validated afterwards by
:func:`amxmodel.inputs.scenario.build_scenario`.
"""

from __future__ import annotations

import re
from typing import Any

from amxmodel.common.errors import InputError, closest, unknown
from amxmodel.common.yamlio import parse_scalar
from amxmodel.inputs import catalog
from amxmodel.inputs.designs import POLICY_NAMES, resolve_policies
from amxmodel.inputs.parts import load_part, load_workloads
from amxmodel.inputs.workloads import check_share

_NAMES = ("hardware", "fleet", "workload", "policies")  # their values name files or designs
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def as_number(value: Any) -> Any:
    """``value``, or the number it spells when it is a numeric string YAML kept as text
    (``3e+09``: YAML 1.1 wants a dot before the exponent), so every value the tool prints
    is accepted back by ``--set``."""
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        number = float(value)
        return int(number) if number.is_integer() and "e" not in value.lower() \
            and "." not in value else number
    return value


def override_pairs(sets) -> list[tuple[str, Any]]:
    if isinstance(sets, dict):
        return [(k, v if k in _NAMES else as_number(v)) for k, v in sets.items()]
    out = []
    for item in sets:
        if "=" not in item:
            raise InputError(f"--set {item!r}: expected key=value, e.g. hardware.rdmsr_xfd_cycles=100")
        key, value = item.split("=", 1)
        parsed = parse_scalar(value, f"--set {key.strip()}")
        out.append((key.strip(), parsed if key.strip() in _NAMES else as_number(parsed)))
    return out


def apply_overrides(raw: dict[str, Any], sets, where: str = "--set") -> None:
    """Apply dotted-key overrides to raw scenario data in place (parts first, then fields)."""
    pairs = override_pairs(sets)
    parts = [p for p in pairs if p[0] in ("hardware", "fleet", "workload")]
    for key, value in parts + [p for p in pairs if p not in parts]:
        _apply_one(raw, key, value, f"{where} {key}")


def _apply_one(raw, key: str, value, where: str) -> None:
    head, _, rest = key.partition(".")
    if key == "hardware":
        raw["hardware"] = load_part("hardware", value)
    elif key == "fleet":
        raw["fleet"] = load_part("fleets", value)
        raw["workloads"] = {}
        load_workloads(raw)
    elif key == "workload":
        part = load_part("workloads", value)
        name = part.get("name", str(value))
        raw["workloads"] = {name: part}
        raw["fleet"]["mix"] = {name: 1.0}
    elif key == "policies":
        raw["policies"] = resolve_policies(value, where)  # checked here: the error names the --set
    elif head in ("hardware", "fleet", "run") and rest:
        specs = catalog.section(head)
        if rest not in specs:
            raise unknown(f"{head} parameter", rest, specs, where)
        value = specs[rest].check(value, where)
        target = raw["run"] if head == "run" else raw[head].setdefault("values", {})
        target[rest] = value
    elif head == "mix" and rest:
        check_share(rest, value, where)
        raw["fleet"].setdefault("mix", {})[rest] = value
        try:
            load_workloads(raw)
        except InputError as exc:  # the class named by this override: say so
            raise InputError(f"{where}: {str(exc).removeprefix('workloads: ')}") from None
    elif head == "policies" and rest:
        raise InputError(f"{where}: policies is set as a whole list, not by element; allowed: "
                         f"e.g. --set policies=upstream,sync-always (names: {', '.join(POLICY_NAMES)})")
    elif head == "workloads" and rest:
        cls, _, fkey = rest.partition(".")
        targets = list(raw["workloads"]) if cls == "*" else [cls]
        for t in targets:
            if t not in raw["workloads"]:
                raise unknown("workload class in the mix", t, raw["workloads"], where)
            _set_workload_field(raw["workloads"][t], fkey, value, where)
    elif head in catalog.section("workload"):
        raise InputError(_workload_hint(key, value, where))
    elif not rest:
        owners = [s for s in ("hardware", "fleet", "run") if key in catalog.section(s)]
        if len(owners) != 1:
            bare = [n for s in ("hardware", "fleet", "run") for n in catalog.section(s)]
            raise InputError(
                f"{where}: unknown parameter '{key}'{closest(key, bare)}; allowed: a name listed "
                "by 'amxmodel params', or hardware=, fleet=, workload=, policies=, mix.<class>=, "
                "workloads.<class>.<field>=")
        _apply_one(raw, f"{owners[0]}.{key}", value, where)
    else:
        raise unknown("override section", head,
                      ["hardware", "fleet", "run", "mix", "workloads", "workload", "policies"], where)


def _workload_hint(key: str, value, where: str) -> str:
    """The message for a workload field given without its class: the full keys to use."""
    name, _, sub = key.partition(".")
    if sub:
        return (f"{where}: '{name}' is a workload field; set it per class: "
                f"workloads.*.{key}={value} (every class) or workloads.<class>.{key}={value}")
    return (f"{where}: '{name}' is a workload field; set it per class: "
            f"workloads.*.{name}={value} makes it {value} for every VM of every class, "
            f"workloads.*.{name}.median={value} keeps each class's log-normal spread "
            "(its mean is exp(sigma^2/2) times the median, 1.4x for sigma 0.8); "
            f"workloads.<class>.{name}=... for one class ('amxmodel params' lists them)")


def _set_workload_field(part: dict, fkey: str, value, where: str) -> None:
    name, _, sub = fkey.partition(".")
    specs = catalog.section("workload")
    if name not in specs:
        raise unknown("workload field", name, specs, where)
    part.setdefault("_set", {})[name] = where  # errors in this field name the override
    fields = part.setdefault("fields", {})
    entry = fields.setdefault(name, {})
    if not sub:
        entry["value"] = value
        return
    current = entry.get("value")
    if not isinstance(current, dict):
        target = where.split(" ", 1)[-1].rsplit(".", 1)[0]
        raise InputError(f"{where}: '{name}' is a constant in this class, not a distribution; "
                         f"set it directly: {target}={value}")
    current[sub] = value
