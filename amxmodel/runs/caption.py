"""The caption that says which scenario a number comes from: one builder, every output.

Every output that shows numbers (the run table, each chart and its text twin, notebook
headers, the HTML report, the reply draft, the summary parquet's metadata) is captioned by
:func:`scenario_header` from the run record (:attr:`amxmodel.runs.run.Results.record`)::

    scenario default, sample, 200 hosts x 60 steps, seed 20211116;
    changed: hardware.rdmsr_xfd_cycles=173; amxmodel 0.1.0, commit 8f5009e1d2

"changed" lists every value that differs from the catalogue defaults (the default
scenario with its shipped hardware profile, fleet and workload classes), written as the
``--set`` that would reproduce it: overrides, a workload file, a calibrated class, a
scenario file's own ``set:``. Without changes the caption says ``catalogue defaults``, so a
pasted chart can never pass an altered fleet off as the default one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any


def _number(v: Any) -> str:
    """A value as ``--set`` accepts it back (``3e+09``, ``0.05``, ``173``)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        v = int(v)
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _value_changes(key: str, now: Any, was: Any) -> list[tuple[str, str]]:
    """(key, value) pairs where a workload field's value differs (per distribution parameter
    when both are the same kind of distribution)."""
    if isinstance(now, Mapping) and isinstance(was, Mapping) and now.get("dist") == was.get("dist"):
        return [(f"{key}.{k}", _number(v)) for k, v in now.items()
                if v is not None and not _same(v, was.get(k))]
    if isinstance(now, Mapping):
        inner = ", ".join(f"{k}={_number(v)}" for k, v in now.items() if v is not None)
        return [] if _same(now, was) else [(key, f"{{{inner}}}")]
    return [] if _same(now, was) else [(key, _number(now))]


def scenario_changes(raw: Mapping, base: Mapping) -> list[str]:
    """What resolved scenario ``raw`` changes against ``base`` (both :meth:`Scenario.raw`),
    as ``key=value`` overrides in ``--set`` syntax."""
    out: list[str] = []
    hw, hw0 = raw.get("hardware", {}), base.get("hardware", {})
    if hw.get("name") != hw0.get("name"):
        out.append(f"hardware={hw.get('name')}")
    for k, v in (hw.get("values") or {}).items():
        if not _same(v, (hw0.get("values") or {}).get(k)):
            out.append(f"hardware.{k}={_number(v)}")
    fl, fl0 = raw.get("fleet", {}), base.get("fleet", {})
    for k, v in (fl.get("values") or {}).items():
        if not _same(v, (fl0.get("values") or {}).get(k)):
            out.append(f"fleet.{k}={_number(v)}")
    mix, mix0 = dict(fl.get("mix") or {}), dict(fl0.get("mix") or {})
    shipped = base.get("shipped_workloads") or base.get("workloads") or {}
    if len(mix) == 1 and len(mix0) > 1:
        (only,) = mix
        out.append(f"workload={only}" + ("" if only in shipped else " (a file, not in the catalogue)"))
    else:
        out += _mix_changes(mix, mix0)
    per_field: dict[str, dict[str, str]] = {}  # changed key -> class -> value now
    for cls, part in (raw.get("workloads") or {}).items():
        ref = shipped.get(cls)
        if ref is None:
            if not (len(mix) == 1 and cls in mix):
                out.append(f"class {cls} (not in the catalogue)")
            rate = ((part.get("fields") or {}).get("exits_per_vcpu_s") or {}).get("value")
            out += [f"{cls}.{k}={v}" for k, v in _value_changes("exits_per_vcpu_s", rate, None)]
            continue
        fields0 = ref.get("fields", {})
        for fname, entry in (part.get("fields") or {}).items():
            was = (fields0.get(fname) or {}).get("value")
            for key, value in _value_changes(fname, entry.get("value"), was):
                per_field.setdefault(key, {})[cls] = value
    classes = [c for c in (raw.get("workloads") or {}) if c in shipped]
    for key, changed in per_field.items():
        values = {_field_now(raw["workloads"][c], key) for c in classes}
        if len(classes) > 1 and len(values) == 1 and next(iter(values)) is not None:
            out.append(f"workloads.*.{key}={next(iter(values))}")
        else:
            out += [f"workloads.{c}.{key}={v}" for c, v in changed.items()]
    if list(raw.get("policies") or []) != list(base.get("policies") or []):
        out.append(f"policies={','.join(raw.get('policies') or [])}")
    for k, v in (raw.get("run") or {}).items():
        if not _same(v, (base.get("run") or {}).get(k)):
            out.append(f"run.{k}={_number(v)}")
    return out


def _field_now(part: Mapping, key: str) -> str | None:
    """A workload field's value (or one parameter of its distribution) as ``--set`` text."""
    name, _, sub = key.partition(".")
    value = ((part.get("fields") or {}).get(name) or {}).get("value")
    if sub:
        value = value.get(sub) if isinstance(value, Mapping) else None
    return None if value is None or isinstance(value, Mapping) else _number(value)


def _mix_changes(mix: Mapping, mix0: Mapping) -> list[str]:
    """``mix.<class>=share`` for the classes whose share was set, in the catalogue's units:
    the mix is normalized, so one changed share rescales the others by a common factor,
    which is taken out again here."""
    ratios = [mix[k] / mix0[k] for k in mix if mix0.get(k)]
    common = max(ratios, key=lambda r: sum(math.isclose(r, q, rel_tol=1e-6) for q in ratios)) \
        if ratios else 1.0
    out = [f"mix.{k}={_number(round(v / common, 4))}" for k, v in mix.items()
           if not (mix0.get(k) and math.isclose(v / mix0[k], common, rel_tol=1e-6))]
    return out + [f"mix.{k}=0" for k in mix0 if k not in mix]


def _scenario_part(meta: Mapping, *path: str):
    node: Any = meta.get("scenario") if isinstance(meta.get("scenario"), Mapping) else meta
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def caption_facts(meta: Mapping | None) -> dict[str, Any]:
    """The caption's parts from a run record (or a sweep's metadata): name, mode, hosts,
    steps, seed, changes, version, commit (None where the record lacks them)."""
    meta = meta or {}
    changes = meta.get("changes")
    if changes is None:  # a bare mapping (a sweep's metadata): its dotted keys are the changes
        changes = [f"{k}={_number(v)}" for k, v in meta.items() if "." in str(k)]
    hosts = _scenario_part(meta, "fleet", "values", "hosts") or meta.get("fleet.hosts")
    steps = _scenario_part(meta, "run", "steps") or meta.get("run.steps")
    return {"name": meta.get("name") or "unnamed", "mode": meta.get("mode"),
            "hosts": hosts, "steps": steps, "seed": meta.get("seed"),
            "changes": list(changes),
            "swept": list(meta.get("swept") or []),
            "version": meta.get("package_version"), "commit": meta.get("git_commit")}


def scenario_header(meta: Mapping | None) -> str:
    """The caption of a run record (see the module docstring); parts the record lacks are
    left out, so a bare ``{"name": "x"}`` reads ``scenario x``."""
    f = caption_facts(meta)
    parts, apart = [f"scenario {f['name']}"], set()
    if f["mode"]:
        parts.append(str(f["mode"]))
    if f["hosts"] is not None and f["steps"] is not None and f["mode"] != "mean-field":
        parts.append(f"{f['hosts']} hosts x {f['steps']} steps")
        apart |= {"fleet.hosts", "run.steps"}
    if f["seed"] is not None and f["mode"] != "mean-field":
        parts.append(f"seed {f['seed']}")
        apart.add("run.seed")
    if f["mode"] == "mean-field":
        apart.add("run.seed")  # expected values: no random stream
    f["changes"] = [c for c in f["changes"] if c.split("=", 1)[0] not in apart]
    text = ", ".join(parts)
    if f["swept"]:
        text += f"; swept: {', '.join(f['swept'])}"
    if f["changes"]:
        text += f"; changed: {', '.join(f['changes'])}"
    elif meta and ("changes" in meta or "swept" in meta):
        text += "; catalogue defaults otherwise" if f["swept"] else "; catalogue defaults"
    if f["version"]:
        commit = f", commit {str(f['commit'])[:10]}" if f["commit"] else ""
        text += f"; amxmodel {f['version']}{commit}"
    return text


@lru_cache(maxsize=1)
def _baseline() -> dict:
    """The default scenario as plain data, with every shipped workload class (those of the
    default mix come with it; the others are read once)."""
    from amxmodel.common.datafiles import data_dir
    from amxmodel.inputs.parts import load_part
    from amxmodel.inputs.scenario import load_scenario
    from amxmodel.inputs.workloads import check_workload

    default = load_scenario(None)
    shipped = {name: wc.as_dict() for name, wc in default.workloads.items()}
    for path in sorted((data_dir() / "workloads").glob("*.yaml")):
        if path.stem not in shipped:
            part = load_part("workloads", path.stem)
            name = str(part.get("name", path.stem))
            shipped.setdefault(name, check_workload(name, part).as_dict())
    return {**default.raw(), "shipped_workloads": shipped}


def catalogue_changes(raw: Mapping) -> list[str]:
    """:func:`scenario_changes` of a resolved scenario against the catalogue defaults."""
    return scenario_changes(raw, _baseline())


def sweep_record(grid: Mapping, grid_file: str | None = None) -> dict:
    """The caption record of a sweep grid (a mapping as in a grid file): its scenario, mode
    and seed, the swept keys, what its fixed ``set`` changes from the catalogue defaults,
    and the package version and commit."""
    from amxmodel import __version__
    from amxmodel.common.datafiles import git_commit
    from amxmodel.common.errors import InputError
    from amxmodel.inputs.overrides import override_pairs
    from amxmodel.inputs.scenario import load_scenario

    fixed = grid.get("set") or []
    pairs = override_pairs(fixed if isinstance(fixed, (Mapping, list, tuple)) else [])
    sets = [f"{k}={_number(v)}" for k, v in pairs]
    name = str(grid.get("scenario") or "default")
    try:
        changes = catalogue_changes(load_scenario(grid.get("scenario"), sets).raw())
    except InputError:  # a scenario file gone since the sweep ran: name its overrides
        changes = sets
    swept = list(grid.get("grid") or {})
    changes = [c for c in changes if c.split("=", 1)[0] not in swept]  # the grid's values win
    seeds = grid.get("seeds") or ([grid["seed"]] if grid.get("seed") is not None else [])
    label = f"{name} (sweep {grid_file})" if grid_file else f"{name} (sweep)"
    return {"name": label, "mode": grid.get("mode"),
            "seed": seeds[0] if len(seeds) == 1 else None,
            "swept": swept, "changes": changes,
            "package_version": __version__, "git_commit": git_commit()}
