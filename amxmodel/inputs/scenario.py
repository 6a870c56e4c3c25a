"""Scenarios: hardware profile + fleet (with its workload mix) + policies + run settings.

A scenario file names its parts; each part is a YAML file under ``data/``, checked
against the catalogue (:mod:`amxmodel.inputs.catalog`). Overrides use dotted keys, the same in
a scenario's ``set:`` mapping, on the command line (``--set``) and from notebooks:

- ``hardware=spr-pessimistic``, ``fleet=default``: swap a whole part;
- ``workload=web`` or ``workload=path/to/class.yaml``: a fleet of one workload class;
- ``hardware.rdmsr_xfd_cycles=120``, ``fleet.hosts=50``, ``run.steps=10``;
- ``mix.web=0.5``: a workload share (the mix is normalized);
- ``workloads.web.exits_per_vcpu_s=800`` (a fixed value) or
  ``workloads.web.exits_per_vcpu_s.median=800`` (one parameter of the distribution);
  ``workloads.*.p_uses_amx=0.1`` for every class of the mix;
- ``policies=upstream,sync-always``;
- a bare name (``rdmsr_xfd_cycles=120``) when it is unique across hardware, fleet and run.

Everything is validated in :func:`build_scenario`, one place, with messages that name the
file and field and the allowed range.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amxmodel.inputs import catalog
from amxmodel.inputs.distributions import Fixed, _Dist, parse_dist
from amxmodel.common.errors import InputError, closest, unknown
from amxmodel.common.datafiles import data_dir
from amxmodel.inputs.designs import POLICY_NAMES, resolve_policies
from amxmodel.common.yamlio import load_yaml, parse_scalar

PROBABILITY_FIELDS = ("exit_share_fastpath", "exit_share_user", "amx_task_share",
                      "tiles_live_share", "p_cpuid_amx", "p_guest_aware", "p_uses_amx")


# ----------------------------------------------------------------------------- parts


@dataclass(frozen=True)
class Hardware:
    """A host cost profile: cycles per mechanism, clock, page and buffer sizes."""

    name: str
    values: dict[str, float | int]

    def __getattr__(self, key: str):
        try:
            return self.__dict__["values"][key]
        except KeyError:
            raise AttributeError(key) from None

    def pages(self, nbytes: float) -> int:
        """Pages of a vmalloc'ed buffer of ``nbytes`` (the guard page is not counted)."""
        return math.ceil(nbytes / self.values["page_size_bytes"])

    @property
    def default_pages(self) -> int:
        return self.pages(self.values["fpstate_default_bytes"])

    @property
    def amx_pages(self) -> int:
        return self.pages(self.values["fpstate_amx_bytes"])

    @property
    def realloc_cycles(self) -> float:
        return self.values["realloc_us"] * 1e-6 * self.values["cpu_hz"]


@dataclass(frozen=True)
class WorkloadField:
    value: _Dist
    plausible: tuple[float, float] | None = None
    source: str = "assumption"


@dataclass(frozen=True)
class WorkloadClass:
    """What the VMs of one class do: rates as distributions over VMs, shares as numbers."""

    name: str
    help: str
    fields: dict[str, WorkloadField]

    def dist(self, key: str) -> _Dist:
        return self.fields[key].value

    def mean(self, key: str) -> float:
        return self.fields[key].value.mean()

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "help": self.help,
            "fields": {
                k: {"value": f.value.model_dump() if not isinstance(f.value, Fixed) else f.value.value,
                    "plausible": list(f.plausible) if f.plausible else None, "source": f.source}
                for k, f in self.fields.items()
            },
        }


@dataclass(frozen=True)
class Scenario:
    """A fully resolved and validated scenario."""

    name: str
    hardware: Hardware
    fleet: dict[str, float | int]
    mix: dict[str, float]
    workloads: dict[str, WorkloadClass]
    policies: list[str]
    run: dict[str, float | int]
    sources: dict[str, str] = field(default_factory=dict)

    def with_overrides(self, sets: list[str] | dict[str, Any]) -> Scenario:
        """A new scenario with more overrides applied."""
        raw = copy.deepcopy(self.raw())
        apply_overrides(raw, sets, "override")
        return build_scenario(raw)

    def raw(self) -> dict[str, Any]:
        """The resolved scenario as plain data (reloadable with :func:`build_scenario`)."""
        return {
            "name": self.name,
            "hardware": {"name": self.hardware.name, "values": dict(self.hardware.values)},
            "fleet": {"name": self.sources.get("fleet", "inline"), "values": dict(self.fleet),
                      "mix": dict(self.mix)},
            "workloads": {n: w.as_dict() for n, w in self.workloads.items()},
            "policies": list(self.policies),
            "run": dict(self.run),
        }


# ----------------------------------------------------------------------------- loading


def _named_file(kind: str, ref: str) -> Path:
    """``ref`` as an existing path, or ``data/<kind>/<ref>.yaml``."""
    p = Path(str(ref))
    if p.suffix in (".yaml", ".yml") or "/" in str(ref):
        if not p.exists():
            raise InputError(f"{kind}: no such file '{ref}'")
        return p
    folder = data_dir() / kind
    p = folder / f"{ref}.yaml"
    if not p.exists():
        names = sorted(f.stem for f in folder.glob("*.yaml"))
        raise unknown(kind.rstrip("s"), str(ref), names, kind)
    return p


def _load_part(kind: str, ref: Any) -> dict[str, Any]:
    if isinstance(ref, dict):
        return copy.deepcopy(ref)
    path = _named_file(kind, ref)
    raw = load_yaml(path, kind.rstrip("s") + " file")
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a mapping, got {type(raw).__name__}")
    raw.setdefault("name", path.stem)
    raw["_file"] = str(path)
    return raw


def _load_workloads(raw: dict[str, Any]) -> None:
    mix = raw["fleet"].get("mix") or {}
    wl = raw.setdefault("workloads", {})
    for name in list(mix):
        if name not in wl:
            part = _load_part("workloads", name)
            key = part.get("name", name) if "/" in str(name) or str(name).endswith(".yaml") else name
            wl[key] = part
            if key != name:
                mix[key] = mix.pop(name)


def scenario_raw(ref: str | Path | dict | None = None) -> dict[str, Any]:
    """Read a scenario file (path or name under ``data/scenarios``) into raw nested data."""
    if ref is None:
        ref = "default"
    if isinstance(ref, dict):
        sc = copy.deepcopy(ref)
        where = "scenario"
    else:
        path = _named_file("scenarios", str(ref))
        sc = load_yaml(path, "scenario")
        where = str(path)
        if not isinstance(sc, dict):
            raise InputError(f"{path}: expected a mapping with hardware, fleet, policies, run")
        sc.setdefault("name", path.stem)
    allowed = {"name", "help", "hardware", "fleet", "policies", "run", "set", "workloads"}
    for key in sc:
        if key not in allowed:
            raise unknown("scenario key", key, allowed, where)
    raw = {
        "name": sc.get("name", "scenario"),
        "hardware": _load_part("hardware", sc.get("hardware", "spr")),
        "fleet": _load_part("fleets", sc.get("fleet", "default")),
        "policies": sc.get("policies", "all"),
        "run": dict(sc.get("run") or {}),
        "workloads": {k: _load_part("workloads", v) for k, v in (sc.get("workloads") or {}).items()},
        "_where": where,
    }
    _load_workloads(raw)
    if sc.get("set"):
        apply_overrides(raw, sc["set"], where + ": set")
    return raw


def load_scenario(ref: str | Path | dict | None = None, sets=None) -> Scenario:
    """Load, override and validate a scenario: the one entry point for files and notebooks."""
    raw = scenario_raw(ref)
    if sets:
        apply_overrides(raw, sets, "--set")
    return build_scenario(raw)


# ----------------------------------------------------------------------------- overrides


def _pairs(sets) -> list[tuple[str, Any]]:
    if isinstance(sets, dict):
        return list(sets.items())
    out = []
    for item in sets:
        if "=" not in item:
            raise InputError(f"--set {item!r}: expected key=value, e.g. hardware.rdmsr_xfd_cycles=100")
        key, value = item.split("=", 1)
        out.append((key.strip(), parse_scalar(value, f"--set {key.strip()}")))
    return out


def apply_overrides(raw: dict[str, Any], sets, where: str = "--set") -> None:
    """Apply dotted-key overrides to raw scenario data in place (parts first, then fields)."""
    pairs = _pairs(sets)
    parts = [p for p in pairs if p[0] in ("hardware", "fleet", "workload")]
    for key, value in parts + [p for p in pairs if p not in parts]:
        _apply_one(raw, key, value, f"{where} {key}")


def _apply_one(raw, key: str, value, where: str) -> None:
    head, _, rest = key.partition(".")
    if key == "hardware":
        raw["hardware"] = _load_part("hardware", value)
    elif key == "fleet":
        raw["fleet"] = _load_part("fleets", value)
        raw["workloads"] = {}
        _load_workloads(raw)
    elif key == "workload":
        part = _load_part("workloads", value)
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
        _check_share(rest, value, where)
        raw["fleet"].setdefault("mix", {})[rest] = value
        try:
            _load_workloads(raw)
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
        raise InputError(f"{where}: '{name}' is a fixed value, set it directly (no '.{sub}')")
    current[sub] = value


# ----------------------------------------------------------------------------- validation


def _check_workload(name: str, part: dict[str, Any]) -> WorkloadClass:
    where = part.get("_file", f"workloads.{name}")
    allowed_keys = {"name", "help", "fields", "_file", "_set", "source", "calibration"}
    for key in part:
        if key not in allowed_keys:
            raise unknown("workload key", key, allowed_keys - {"_file", "_set"}, where)
    specs = catalog.section("workload")
    fields_raw = part.get("fields")
    if not isinstance(fields_raw, dict):
        raise InputError(f"{where}: expected 'fields:' with {', '.join(specs)}")
    fields: dict[str, WorkloadField] = {}
    for fname, entry in fields_raw.items():
        if fname not in specs:
            raise unknown("workload field", fname, specs, where)
        if not isinstance(entry, dict) or "value" not in entry:
            entry = {"value": entry}
        for k in entry:
            if k not in ("value", "plausible", "source"):
                raise unknown(f"key of {fname}", k, ["value", "plausible", "source"], where)
        spec = specs[fname]
        fw = part.get("_set", {}).get(fname) or f"{where}: {fname}"
        dist = parse_dist(entry["value"], fw)
        lo, hi = dist.bounds()
        if math.isinf(hi):  # open tails: the median must be allowed; draws are clipped
            lo = hi = dist.center()
        alo, ahi = spec.allowed
        if fname in PROBABILITY_FIELDS and not isinstance(dist, Fixed):
            raise InputError(f"{fw}: a {spec.unit} is a single number in [0, 1], not a distribution")
        if lo < alo or hi > ahi:
            shown = f"{lo:g}" if lo < alo else f"{hi:g}"
            raise InputError(
                f"{fw}: value {shown} is out of range; allowed: {alo:g} to {ahi:g} {spec.unit}")
        plaus = entry.get("plausible")
        if plaus is not None:
            if (not isinstance(plaus, (list, tuple)) or len(plaus) != 2
                    or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in plaus)
                    or plaus[0] > plaus[1]):
                raise InputError(f"{fw}: plausible must be [low, high] with low <= high, got {plaus!r}")
            plaus = (float(plaus[0]), float(plaus[1]))
        fields[fname] = WorkloadField(dist, plaus, str(entry.get("source", "assumption")))
    missing = [f for f in specs if f not in fields]
    if missing:
        raise InputError(f"{where}: missing workload field(s): {', '.join(missing)}")
    if fields["exit_share_fastpath"].value.mean() + fields["exit_share_user"].value.mean() > 1:
        raise InputError(f"{where}: exit_share_fastpath + exit_share_user must be <= 1")
    if fields["vcpus_per_vm"].value.bounds()[0] < 1:
        raise InputError(f"{where}: vcpus_per_vm must be >= 1")
    return WorkloadClass(str(part.get("name", name)), str(part.get("help", "")), fields)


def _check_share(cls: str, share: Any, where: str) -> None:
    bad = isinstance(share, bool) or not isinstance(share, (int, float))
    if bad or not math.isfinite(share) or share < 0:
        raise InputError(f"{where}: mix.{cls} = {share!r}; allowed: a finite share >= 0")


def build_scenario(raw: dict[str, Any]) -> Scenario:
    """Validate raw scenario data into a :class:`Scenario` (the one validation place)."""
    hw = raw["hardware"]
    hw_where = hw.get("_file", "hardware")
    for key in hw:
        if key not in ("name", "help", "values", "_file", "source"):
            raise unknown("hardware key", key, ["name", "help", "values", "source"], hw_where)
    hardware = Hardware(str(hw.get("name", "inline")),
                        catalog.check_values("hardware", hw.get("values") or {}, hw_where))
    if hardware.fpstate_amx_bytes < hardware.fpstate_default_bytes:
        raise InputError(f"{hw_where}: fpstate_amx_bytes must be >= fpstate_default_bytes")

    fl = raw["fleet"]
    fl_where = fl.get("_file", "fleet")
    for key in fl:
        if key not in ("name", "help", "values", "mix", "mix_source", "_file", "source"):
            raise unknown("fleet key", key, ["name", "help", "values", "mix", "mix_source"], fl_where)
    fleet = catalog.check_values("fleet", fl.get("values") or {}, fl_where)
    mix_raw = fl.get("mix") or {}
    if not isinstance(mix_raw, dict) or not mix_raw:
        raise InputError(f"{fl_where}: 'mix' must map workload classes to shares")
    for cls, share in mix_raw.items():
        _check_share(cls, share, fl_where)
    total = sum(mix_raw.values())
    if total <= 0:
        raise InputError(f"{fl_where}: the mix shares sum to 0; at least one must be > 0")
    mix = {k: float(v) / total for k, v in mix_raw.items() if v > 0}
    workloads = {k: _check_workload(k, raw["workloads"][k]) for k in mix}

    run = catalog.check_values("run", raw.get("run") or {}, raw.get("_where", "run"))
    policies = resolve_policies(raw.get("policies", "all"), f"{raw.get('_where', 'scenario')}: policies")
    sources = {"hardware": hw.get("_file", "inline"), "fleet": fl.get("_file", "inline")}
    return Scenario(str(raw.get("name", "scenario")), hardware, fleet, mix, workloads, policies, run,
                    sources)
