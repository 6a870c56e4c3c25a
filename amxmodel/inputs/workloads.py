"""Workload classes: what the VMs of one class do (rates as distributions, shares as numbers).

A class is a YAML file under ``data/workloads/``; every field names a catalogue entry of
the ``workload`` section and may carry its own plausible range and source. Classes are
checked here, called from the one validation place, :func:`amxmodel.inputs.scenario.build_scenario`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from amxmodel.common.errors import InputError, unknown
from amxmodel.inputs import catalog
from amxmodel.inputs.distributions import Fixed, _Dist, parse_dist

PROBABILITY_FIELDS = ("exit_share_fastpath", "exit_share_user", "amx_task_share",
                      "tiles_live_share", "p_cpuid_amx", "p_guest_aware", "p_uses_amx",
                      "p_xcr0_host_minus_amx", "preempt_share_user_task",
                      "preempt_share_kernel_fpu")


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


def check_workload(name: str, part: dict[str, Any]) -> WorkloadClass:
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
    for fname, spec in specs.items():  # fields added later (issue 17) default to "off"
        if fname not in fields and spec.default is not None:
            fields[fname] = WorkloadField(parse_dist(spec.default, f"{where}: {fname}"), None,
                                          "catalogue default (data/parameters.yaml)")
    missing = [f for f in specs if f not in fields]
    if missing:
        raise InputError(f"{where}: missing workload field(s): {', '.join(missing)}")
    if fields["exit_share_fastpath"].value.mean() + fields["exit_share_user"].value.mean() > 1:
        raise InputError(f"{where}: exit_share_fastpath + exit_share_user must be <= 1")
    if (fields["preempt_share_user_task"].value.mean()
            + fields["preempt_share_kernel_fpu"].value.mean() > 1):
        raise InputError(f"{where}: preempt_share_user_task + preempt_share_kernel_fpu must be <= 1")
    if fields["vcpus_per_vm"].value.bounds()[0] < 1:
        raise InputError(f"{where}: vcpus_per_vm must be >= 1")
    return WorkloadClass(str(part.get("name", name)), str(part.get("help", "")), fields)


def check_share(cls: str, share: Any, where: str) -> None:
    bad = isinstance(share, bool) or not isinstance(share, (int, float))
    if bad or not math.isfinite(share) or share < 0:
        raise InputError(f"{where}: mix.{cls} = {share!r}; allowed: a finite share >= 0")
