"""amxmodel: what it costs to virtualize Intel AMX in KVM, for a whole fleet.

In November 2021 Thomas Gleixner proposed that KVM read IA32_XFD after every VM exit on
hosts with dynamic xfeatures and asked to "see how much overhead it creates". This
package answers that for every design that was on the table, with the memory and
reallocation side of the same decision.

A notebook needs only this module and :mod:`amxmodel.plot`::

    import amxmodel as amx
    from amxmodel import plot

    res = amx.run("default", sets=["hardware.rdmsr_xfd_cycles=100"])
    print(plot.table(res))
    plot.show("overhead", res)
    lin = amx.linear_overhead(res)
    print(amx.findings(lin))

The package is layered by stage, data flowing one way: ``common`` (errors, YAML, files)
-> ``inputs`` (catalogue, hardware, workloads, scenario, overrides) -> ``kernel`` (the
event-level model of each design) -> ``fleet`` (sampled engine, mean field) -> ``analysis``
(metrics, break-even, sensitivity) -> ``runs`` (run, sweep, executors, bench) -> ``plot``
-> ``cli``. Names below are imported on first use, so ``import amxmodel`` stays cheap and
never imports altair, papermill or dask.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

try:
    __version__ = version("amxmodel")
except PackageNotFoundError:  # running from a checkout without install
    __version__ = "0.0.0+checkout"

# public name -> module that owns it
_API = {
    "load_scenario": "amxmodel.inputs.scenario",
    "load_hardware": "amxmodel.inputs.scenario",
    "Scenario": "amxmodel.inputs.scenario",
    "POLICIES": "amxmodel.inputs.designs",
    "POLICY_NAMES": "amxmodel.inputs.designs",
    "resolve_policies": "amxmodel.inputs.designs",
    "MODES": "amxmodel.inputs.modes",
    "parameter_frame": "amxmodel.inputs.parameter_table",
    "InputError": "amxmodel.common.errors",
    "replay": "amxmodel.kernel.replay",
    "run": "amxmodel.runs.run",
    "Results": "amxmodel.runs.run",
    "sweep": "amxmodel.runs.sweep",
    "run_sweep": "amxmodel.runs.sweep",
    "read_points": "amxmodel.runs.sweep",
    "load_grid": "amxmodel.runs.grid",
    "check_parameters": "amxmodel.runs.notebook_params",
    "sweep_record": "amxmodel.runs.caption",
    "save_summary": "amxmodel.runs.notebook_params",
    "linear_overhead": "amxmodel.analysis.breakeven",
    "breakeven_table": "amxmodel.analysis.breakeven",
    "breakeven_curve": "amxmodel.analysis.breakeven",
    "class_breakeven_table": "amxmodel.analysis.breakeven",
    "findings": "amxmodel.analysis.breakeven",
    "verdict": "amxmodel.analysis.breakeven",
    "memory_findings": "amxmodel.analysis.conclusions",
    "sensitivity_findings": "amxmodel.analysis.conclusions",
    "sweep_findings": "amxmodel.analysis.conclusions",
    "swings": "amxmodel.analysis.sensitivity",
    "tornado_frame": "amxmodel.analysis.sensitivity",
    "price_scan": "amxmodel.analysis.sensitivity",
    "hardware_prices": "amxmodel.analysis.sensitivity",
    "wide": "amxmodel.analysis.metrics",
    "event_effects": "amxmodel.runs.fleetevents",
    "effect_sentences": "amxmodel.runs.fleetevents",
    "overcommit_scan": "amxmodel.runs.fleetevents",
    "overcommit_sentences": "amxmodel.runs.fleetevents",
    "calibrate": "amxmodel.calibrate",
    "calibration_report": "amxmodel.calibrate.report:render",
    "measured_prices": "amxmodel.probe.profile:measured_frame",
}

__all__ = ["__version__", *_API]  # noqa: PLE0604 (the keys of _API are strings)


def __getattr__(name: str):
    """Import a public name from the module that owns it, on first use (PEP 562)."""
    if name not in _API:
        raise AttributeError(f"module 'amxmodel' has no attribute '{name}'")
    module, _, attr = _API[name].partition(":")
    value = getattr(importlib.import_module(module), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # for type checkers and IDEs; at run time names load lazily
    from amxmodel.analysis.breakeven import (  # noqa: F401
        breakeven_curve,
        breakeven_table,
        class_breakeven_table,
        findings,
        linear_overhead,
        verdict,
    )
    from amxmodel.analysis.conclusions import (  # noqa: F401
        memory_findings,
        sensitivity_findings,
        sweep_findings,
    )
    from amxmodel.analysis.metrics import wide  # noqa: F401
    from amxmodel.analysis.sensitivity import hardware_prices, price_scan, swings, tornado_frame  # noqa: F401
    from amxmodel.calibrate import calibrate  # noqa: F401
    from amxmodel.calibrate.report import render as calibration_report  # noqa: F401
    from amxmodel.common.errors import InputError  # noqa: F401
    from amxmodel.inputs.designs import POLICIES, POLICY_NAMES, resolve_policies  # noqa: F401
    from amxmodel.inputs.modes import MODES  # noqa: F401
    from amxmodel.inputs.parameter_table import parameter_frame  # noqa: F401
    from amxmodel.inputs.scenario import Scenario, load_hardware, load_scenario  # noqa: F401
    from amxmodel.kernel.replay import replay  # noqa: F401
    from amxmodel.probe.profile import measured_frame as measured_prices  # noqa: F401
    from amxmodel.runs.caption import sweep_record  # noqa: F401
    from amxmodel.runs.fleetevents import (  # noqa: F401
        effect_sentences,
        event_effects,
        overcommit_scan,
        overcommit_sentences,
    )
    from amxmodel.runs.grid import load_grid  # noqa: F401
    from amxmodel.runs.notebook_params import check_parameters, save_summary  # noqa: F401
    from amxmodel.runs.run import Results, run  # noqa: F401
    from amxmodel.runs.sweep import read_points, run_sweep, sweep  # noqa: F401
