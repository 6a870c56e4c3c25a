"""The calibrated workload class: a data/workloads/*.yaml file that the model reads.

Three fields are measured: ``exits_per_vcpu_s`` (a log-normal whose median is the measured
exits per vCPU-second and whose sigma is the per-vCPU spread or a default), and
``exit_share_fastpath`` / ``exit_share_user`` (from the reasons through the mapping file,
or the user share measured by kvm_stat's ``kvm_userspace_exit``). Every other field is
copied from a base class with its own source. A top-level ``calibration:`` mapping records
what was read: tool, file, interval, vCPUs, rates by reason, unknown reasons.

The dict is validated by :func:`amxmodel.inputs.scenario.load_scenario` before anything is written,
and the file is written to a temporary name in the same folder and renamed into place, so
an error never leaves a partial or invalid file. An existing file is kept unless
``force`` is set: a calibration should not silently replace a shipped class.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from amxmodel.common.atomicio import write_text
from amxmodel.common.errors import InputError
from amxmodel.inputs.scenario import load_scenario
from amxmodel.inputs.workloads import WorkloadClass

CALIBRATED = ("exits_per_vcpu_s", "exit_share_fastpath", "exit_share_user")
_Z95 = 1.6449  # the 5th and 95th percentiles of a log-normal are median * exp(-/+ 1.645 sigma)


def rounded(x: float) -> float:
    """Six significant digits: what a measurement of this kind can claim."""
    return float(f"{x:.6g}")


def load_base(ref: str) -> WorkloadClass:
    """A workload class by name (data/workloads/NAME.yaml) or path, validated."""
    sc = load_scenario(None, {"workload": ref})
    return next(iter(sc.workloads.values()))


def rate_field(median: float, sigma: float, source: str) -> dict[str, Any]:
    """``exits_per_vcpu_s`` as a log-normal; plausible is its 5th-95th percentile range."""
    lo, hi = median * math.exp(-_Z95 * sigma), median * math.exp(_Z95 * sigma)
    return {"value": {"dist": "lognormal", "median": rounded(median), "sigma": rounded(sigma)},
            "plausible": [rounded(lo), rounded(hi)], "source": source}


def share_field(value: float, low: float, high: float, source: str) -> dict[str, Any]:
    """A share with its plausible range."""
    return {"value": rounded(value), "plausible": [rounded(low), rounded(high)], "source": source}


def workload_dict(name: str, help_text: str, source: str, calibrated: dict[str, dict],
                  base: WorkloadClass, calibration: dict[str, Any]) -> dict[str, Any]:
    """The class as plain data: calibrated fields first, the rest from ``base``."""
    fields = dict(calibrated)
    for key, entry in base.as_dict()["fields"].items():
        if key not in fields:
            fields[key] = {k: v for k, v in entry.items() if v is not None}
    return {"name": name, "help": help_text, "source": source, "fields": fields,
            "calibration": calibration}


def validate(data: dict[str, Any], out: Path) -> None:
    """Load the class through the model's own validation; errors name the output file."""
    try:
        load_scenario(None, {"workload": data})
    except InputError as exc:
        raise InputError(f"{out}: the calibrated class would not load: {exc}") from None


MINE = "written by 'amxmodel calibrate'"  # on the first line of every class it writes


def check_out(out: Path, force: bool) -> None:
    """Refuse an output path the model could not read back, one inside the package, the
    notebooks or the shipped data (``data/workloads/`` excepted: the documented place for a
    new class), or one that exists (with ``force``: one amxmodel did not write)."""
    from amxmodel.common.datafiles import data_dir
    from amxmodel.common.outdirs import check_out_file

    check_out_file(out, "--out", force, (".yaml", ".yml"), MINE,
                   allowed_in=data_dir() / "workloads")


class _Dumper(yaml.SafeDumper):
    """Block style, except small all-scalar mappings and lists (as in the shipped classes)."""

    def represent_dict(self, data):
        flow = len(data) <= 8 and all(not isinstance(v, (dict, list)) for v in data.values())
        return self.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)

    def represent_list(self, data):
        flow = all(not isinstance(v, (dict, list)) for v in data)
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(dict, _Dumper.represent_dict)
_Dumper.add_representer(list, _Dumper.represent_list)


def to_yaml(data: dict[str, Any], header: str) -> str:
    """The class as YAML with a comment header."""
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    return comment + yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=100,
                               allow_unicode=True)


def write_atomic(out: Path, text: str) -> None:
    """Write ``text`` to ``out`` through a temporary file and a rename (never half a file)."""
    write_text(out, text)
