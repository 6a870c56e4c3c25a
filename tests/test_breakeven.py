"""Break-even: one run's counts priced again equal a new run; solved points sit on the threshold."""

from __future__ import annotations

import numpy as np
import pytest

from amxmodel.analysis.breakeven import (
    breakeven_curve,
    breakeven_table,
    class_breakeven_table,
    class_linear,
    findings,
    linear_overhead,
    threshold_label,
)
from amxmodel.common.errors import InputError
from amxmodel.kernel.vocabulary import MECHS
from amxmodel.plot import frames as chartdata
from amxmodel.runs.run import run

SMALL = ["fleet.hosts=12", "run.steps=8"]


@pytest.fixture(scope="module")
def sampled():
    return run("default", SMALL, mode="sample", progress=False)


@pytest.fixture(scope="module")
def mean_field():
    return run("default", mode="mean-field")


@pytest.mark.parametrize("which", ["sampled", "mean_field"])
def test_linear_overhead_reproduces_the_run(request, which):
    res = request.getfixturevalue(which)
    lin = linear_overhead(res)
    assert np.allclose(lin.fraction(), res.metric("overhead_fraction")[list(lin.policies)],
                       rtol=1e-12, atol=0)


def test_repricing_equals_a_new_run_with_that_price(sampled):
    lin = linear_overhead(sampled)
    again = run("default", SMALL + ["hardware.rdmsr_xfd_cycles=170", "hardware.realloc_us=9"],
                mode="sample", progress=False)
    expected = again.metric("overhead_fraction")[list(lin.policies)]
    got = lin.fraction({"rdmsr_xfd_cycles": 170, "realloc_us": 9})
    assert np.allclose(got, expected, rtol=1e-12, atol=0)


def test_exit_scale_equals_a_run_with_scaled_exit_rates():
    one = ["workload=web", "workloads.web.host_preempts_per_vcpu_s=0"]
    base = linear_overhead(run("default", one, mode="mean-field"))
    twice = run("default", one + ["workloads.web.exits_per_vcpu_s.median=10000"],
                mode="mean-field")
    assert np.allclose(base.fraction(exit_scale=2.0), twice.metric("overhead_fraction"),
                       rtol=1e-9, atol=0)


@pytest.mark.parametrize("threshold", [0.001, 0.01])
def test_solved_price_and_rate_land_on_the_threshold(mean_field, threshold):
    lin = linear_overhead(mean_field)
    price = lin.solve_price(threshold)
    rate = lin.solve_exit_rate(threshold)
    for pol in ("upstream", "sync-always", "rfc-switch"):
        assert 0 < price[pol] < np.inf
        at = lin.fraction({"rdmsr_xfd_cycles": price[pol]})[pol]
        assert at == pytest.approx(threshold, rel=1e-9)
        at = lin.fraction(exit_scale=rate[pol] / lin.exits_per_vcpu_s)[pol]
        assert at == pytest.approx(threshold, rel=1e-9)
    reads = (lin.exit_counts + lin.other_counts)[:, MECHS.index("rdmsr_xfd")] > 0
    assert (np.isinf(price) == ~reads).all()  # a design that never reads XFD never breaks even
    assert price["no-amx"] == np.inf and rate["no-amx"] == np.inf


def test_sync_always_breaks_even_before_upstream(mean_field):
    """tglx's seed reads XFD on every vCPU; upstream only on vCPUs with passthrough on."""
    table = breakeven_table(linear_overhead(mean_field)).set_index(["threshold", "policy"])
    for level in ("0.1 %", "1 %"):
        assert (table.loc[(level, "sync-always"), "rdmsr_xfd_cycles_at_threshold"]
                < table.loc[(level, "upstream"), "rdmsr_xfd_cycles_at_threshold"])


def test_a_policy_over_the_threshold_at_zero_price_breaks_even_at_zero(mean_field):
    lin = linear_overhead(mean_field)
    over = lin.fraction()["rfc-switch"] / 2
    assert lin.solve_price(over)["rfc-switch"] == 0.0


def test_curve_is_a_sweep_with_one_panel_per_threshold(mean_field):
    lin = linear_overhead(mean_field)
    curve = breakeven_curve(lin, rates=[100, 1000, 10000], scenario="default")
    _, param, facet = chartdata.sweep_table(curve, metric="breakeven_rdmsr_xfd_cycles")
    assert (param, facet) == ("exits_per_vcpu_s", "threshold")
    assert set(curve["threshold"]) == {threshold_label(0.001), threshold_label(0.01)}
    assert np.isfinite(curve["value"]).all()
    assert "no-amx" not in set(curve["policy"]) and "sync-always" in set(curve["policy"])
    up = curve[(curve.policy == "upstream") & (curve.threshold == "1 %")]
    assert up["value"].is_monotonic_decreasing  # more exits: a cheaper RDMSR already shows


def test_class_view_matches_the_per_vcpu_metric(sampled):
    lins = class_linear(sampled.scenario, sampled.exposure, sampled.table)
    bc = sampled.by_class[sampled.by_class.metric == "overhead_fraction_of_vcpu"]
    for name, lin in lins.items():
        want = bc[bc.workload == name].set_index("policy")["value"]
        assert np.allclose(lin.fraction()[want.index], want, rtol=1e-9, atol=1e-18)
    assert lins["database"].exits_per_vcpu_s > lins["idle"].exits_per_vcpu_s


def test_bad_parameters_are_input_errors(mean_field):
    lin = linear_overhead(mean_field)
    with pytest.raises(InputError, match="cpu_hz is not a price"):
        lin.solve_price(0.01, "cpu_hz")
    with pytest.raises(InputError, match="unknown hardware parameter 'rdmsr_xfd'"):
        lin.fraction({"rdmsr_xfd": 3})
    with pytest.raises(InputError, match="out of range"):
        lin.fraction({"rdmsr_xfd_cycles": -1})
    with pytest.raises(InputError, match="must be positive"):
        breakeven_curve(lin, rates=[0, 10])


def test_class_table_and_findings_quote_the_solved_numbers(mean_field):
    r = mean_field
    t = class_breakeven_table(r.scenario, r.exposure, r.table, policies=["sync-always"])
    assert set(t["workload"]) == set(r.scenario.mix) and set(t["policy"]) == {"sync-always"}
    web = class_linear(r.scenario, r.exposure, r.table)["web"]
    row = t[(t.workload == "web") & (t.threshold == "1 %")].iloc[0]
    assert row.rdmsr_xfd_cycles_at_threshold == web.solve_price(0.01)["sync-always"]
    assert row.exits_per_vcpu_s == web.exits_per_vcpu_s
    lin = linear_overhead(r)
    text = findings(lin)
    assert f"{lin.solve_price(0.001)['sync-always']:.3g}"[:3] in text
    assert "0.1 % of host CPU" in text and "1 % of host CPU" in text
