"""The one-line caption that says which scenario a number comes from.

Every output that shows numbers (the run table, each chart and its text twin, notebook
headers) starts from the run record (:attr:`amxmodel.runs.run.Results.record`), so a
pasted chart names its scenario, mode and seed and the prices it was computed with.
"""

from __future__ import annotations

from collections.abc import Mapping


def _lookup(meta: Mapping, dotted: str):
    """A value from scenario metadata by dotted key: flat, nested (also under the record's
    ``scenario`` and a part's ``values``) or bare."""
    inner = meta.get("scenario")
    if isinstance(inner, Mapping):
        found = _lookup(inner, dotted)
        if found is not None:
            return found
    if dotted in meta:
        return meta[dotted]
    node = meta
    for part in dotted.split("."):
        if isinstance(node, Mapping) and isinstance(node.get("values"), Mapping) \
                and part not in node:
            node = node["values"]
        if not isinstance(node, Mapping) or part not in node:
            return meta.get(dotted.rsplit(".", 1)[-1])
        node = node[part]
    return node


def scenario_header(meta: Mapping | None) -> str:
    """``scenario default, seed 20211116, rdmsr_xfd=50 cyc, wrmsr_xfd=200 cyc`` (keys found)."""
    meta = meta or {}
    parts = [f"scenario {meta.get('name') or 'unnamed'}"]
    if meta.get("mode") not in (None, "sample"):
        parts.append(str(meta["mode"]))
    if meta.get("seed") is not None:
        parts.append(f"seed {meta['seed']}")
    for key in ("rdmsr_xfd", "wrmsr_xfd"):
        value = _lookup(meta, f"hardware.{key}_cycles")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            parts.append(f"{key}={value:g} cyc")
    return ", ".join(parts)
