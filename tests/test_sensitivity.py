"""Sensitivity: every swing end is the run it claims to be; tornado frames chart as given."""

from __future__ import annotations

import numpy as np
import pytest

from amxmodel.analysis.sensitivity import (
    hardware_prices,
    mean_field_linear,
    price_scan,
    swings,
    tornado_frame,
    workload_ends,
)
from amxmodel.common.errors import InputError
from amxmodel.inputs import catalog
from amxmodel.inputs.scenario import load_scenario
from amxmodel.plot import frames as chartdata
from amxmodel.runs.run import run


@pytest.fixture(scope="module")
def sc():
    return load_scenario("default")


@pytest.fixture(scope="module")
def sw(sc):
    return swings(sc, workload=["exits_per_vcpu_s", "p_uses_amx"], fleet=["occupancy"])


def test_hardware_prices_are_the_priced_parameters():
    names = hardware_prices()
    assert {"rdmsr_xfd_cycles", "wrmsr_xfd_cycles", "exit_kernel_cycles", "realloc_us",
            "cpu_hz"} <= set(names)
    assert "exit_fastpath_cycles" not in names  # prices nothing a design adds
    assert "page_size_bytes" not in names


def test_every_end_equals_a_mean_field_run_with_that_value(sc, sw):
    row = sw[(sw.parameter == "rdmsr_xfd_cycles") & (sw.policy == "upstream")].iloc[0]
    lo, hi = catalog.section("hardware")["rdmsr_xfd_cycles"].plausible
    assert (row.low_value, row.high_value) == (lo, hi)
    again = run(sc, [f"hardware.rdmsr_xfd_cycles={hi}"], mode="mean-field")
    assert row.value_high == pytest.approx(again.metric("overhead_fraction")["upstream"], rel=1e-9)
    row = sw[(sw.parameter == "occupancy") & (sw.policy == "sync-always")].iloc[0]
    again = run(sc, [f"fleet.occupancy={row.low_value}"], mode="mean-field")
    assert row.value_low == pytest.approx(again.metric("overhead_fraction")["sync-always"],
                                          rel=1e-9)
    assert (sw.baseline == sw.policy.map(run(sc, mode="mean-field").metric(
        "overhead_fraction"))).all()


def test_workload_ends_move_every_class_to_its_own_bound(sc):
    ends = workload_ends(sc, "exits_per_vcpu_s")
    sets, center = ends["high"]
    assert set(sets) == {f"workloads.{c}.exits_per_vcpu_s" for c in sc.workloads}
    moved = sc.with_overrides(sets)
    for cls, wc in sc.workloads.items():
        assert moved.workloads[cls].dist("exits_per_vcpu_s").center() == wc.fields[
            "exits_per_vcpu_s"].plausible[1]
        assert moved.workloads[cls].dist("exits_per_vcpu_s").sigma == wc.dist(
            "exits_per_vcpu_s").sigma  # the shape is kept
    want = sum(sc.mix[c] * wc.fields["exits_per_vcpu_s"].plausible[1]
               for c, wc in sc.workloads.items())
    assert center == pytest.approx(want)
    with pytest.raises(InputError, match="unknown workload field"):
        workload_ends(sc, "exits")


def test_more_exits_cost_more_for_the_syncing_designs(sw):
    rows = sw[sw.parameter == "exits_per_vcpu_s"].set_index("policy")
    for pol in ("upstream", "sync-always"):
        assert rows.loc[pol, "value_low"] < rows.loc[pol, "baseline"] < rows.loc[pol, "value_high"]


def test_tornado_frame_of_a_difference_charts(sw):
    single = tornado_frame(sw, "sync-always")
    diff = tornado_frame(sw, "sync-always", minus="upstream")
    up = tornado_frame(sw, "upstream")
    assert np.allclose(diff["metric_high"], single["metric_high"] - up["metric_high"])
    assert np.allclose(diff["baseline"], single["baseline"] - up["baseline"])
    table = chartdata.tornado_table(diff)
    assert table["swing"].is_monotonic_decreasing
    with pytest.raises(InputError, match="unknown policy"):
        tornado_frame(sw, "upstreem")


def test_price_scan_covers_the_plausible_range_and_is_linear(sc):
    lin = mean_field_linear(sc)
    scan = price_scan(lin, "rdmsr_xfd_cycles", policies=["upstream"], scenario="default")
    xs = scan["rdmsr_xfd_cycles"].to_numpy()
    assert xs[0] == pytest.approx(20) and xs[-1] == pytest.approx(200) and len(xs) == 7
    slope = np.diff(scan["value"]) / np.diff(xs)
    assert np.allclose(slope, slope[0])
    assert chartdata.sweep_table(scan)[1] == "rdmsr_xfd_cycles"
