"""The hardware profile a probe writes: data/hardware/*.yaml format, plus what was measured.

``values`` holds the measured prices that the catalogue knows (and ``cpu_hz`` set to the
TSC frequency, since the prices are TSC ticks); every other parameter keeps the catalogue
default. The ``probe`` mapping records the date, the host, each measured price with its
95 % interval, prices the catalogue has no parameter for, and, for every unmeasured
parameter, that it is the default and where the default comes from. The profile is
loaded through the model's own validation before it is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from amxmodel.common.atomicio import write_text
from amxmodel.common.errors import InputError
from amxmodel.inputs import catalog
from amxmodel.probe import hostinfo


def profile_dict(report: dict, name: str) -> dict[str, Any]:
    """The profile as plain data."""
    specs = catalog.section("hardware")
    host = report["host"]
    date = report["probe"]["date"]
    where = f"amxmodel probe {date} on {hostinfo.summary(host)}"
    values: dict[str, Any] = {"cpu_hz": float(host["tsc_hz"])}
    measured: dict[str, Any] = {"cpu_hz": {"value": float(host["tsc_hz"]),
                                           "source": f"TSC frequency, {host['tsc_hz_source']}"}}
    extra: dict[str, Any] = {}
    for key, est in report["prices"].items():
        entry = {"value": est["value"], "ci95": [est["ci95_low"], est["ci95_high"]],
                 "unit": est["unit"], "batches": est["n"], "calls": est["calls"]}
        if key not in specs:
            extra[key] = {**entry, "note": "no catalogue parameter; reported for reference"}
            continue
        lo, hi = specs[key].allowed
        if est["value"] < lo or est["value"] > hi:
            entry["note"] = (f"not used: outside the allowed range {lo:g} to {hi:g}; the "
                             "catalogue default stays")
        else:
            values[key] = est["value"]
        measured[key] = entry
    unmeasured = {k: f"catalogue default {s.default:g} {s.unit} ({s.source})"
                  for k, s in specs.items() if k not in values}
    return {
        "name": name,
        "help": f"measured by amxmodel probe on {host['cpu_model']}, kernel {host['kernel']}",
        "source": where,
        "values": values,
        "probe": {"date": date, "host": hostinfo.summary(host), "caveats": report["caveats"],
                  "measured": measured, "reported_only": extra, "unmeasured": unmeasured},
    }


def write_profile(report: dict, out: str | Path) -> Path:
    """Validate and write the profile atomically; the name is the file's stem."""
    out = Path(out)
    if out.suffix not in (".yaml", ".yml"):
        raise InputError(f"--out {out}: must end in .yaml so that --set hardware=PATH reads it")
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: no such folder '{out.parent}'")
    data = profile_dict(report, out.stem)
    from amxmodel.inputs.scenario import load_scenario

    try:
        load_scenario(None, {"hardware": data})
    except InputError as exc:
        raise InputError(f"{out}: the measured profile would not load: {exc}") from None
    head = ("# Hardware profile measured by `amxmodel probe`; use it with\n"
            f"#   amxmodel run --set hardware={out}\n")
    return write_text(out, head + yaml.safe_dump(data, sort_keys=False, width=100))


def measured_frame(ref: str | Path):
    """The measured prices of a probe profile next to the catalogue's default and plausible
    range (a profile name under data/hardware or a path): one row per measured parameter."""
    import pandas as pd

    from amxmodel.common.datafiles import data_dir
    from amxmodel.common.yamlio import load_yaml

    path = Path(ref) if str(ref).endswith((".yaml", ".yml")) else data_dir() / "hardware" / f"{ref}.yaml"
    data = load_yaml(path, "hardware profile")
    record = (data or {}).get("probe") if isinstance(data, dict) else None
    if not record:
        raise InputError(f"{path}: not a profile written by amxmodel probe (no 'probe:' record)")
    specs = catalog.section("hardware")
    rows = []
    for name, m in record["measured"].items():
        if "ci95" not in m:
            continue
        spec = specs.get(name)
        lo, hi = spec.plausible if spec and spec.plausible else (None, None)
        rows.append({"parameter": name, "measured": m["value"], "ci95_low": m["ci95"][0],
                     "ci95_high": m["ci95"][1], "unit": m["unit"],
                     "default": spec.default if spec else None,
                     "plausible_low": lo, "plausible_high": hi,
                     "inside_plausible": None if lo is None else bool(lo <= m["value"] <= hi),
                     "used": name in data["values"]})
    for name, m in record.get("reported_only", {}).items():
        rows.append({"parameter": name, "measured": m["value"], "ci95_low": m["ci95"][0],
                     "ci95_high": m["ci95"][1], "unit": m["unit"], "default": None,
                     "plausible_low": None, "plausible_high": None, "inside_plausible": None,
                     "used": False})
    return pd.DataFrame(rows).set_index("parameter")
