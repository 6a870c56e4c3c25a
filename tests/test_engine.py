"""The fleet engine: reproducibility, streaming memory, stationarity against mean-field."""

import tracemalloc

import numpy as np
import pytest

from amxmodel.fleet import engine
from amxmodel.fleet.engine import Exposure, chunk_bounds, diurnal, load_sum, run_chunk
from amxmodel.fleet.meanfield import expected_exposure
from amxmodel.fleet.population import class_table
from amxmodel.inputs.scenario import load_scenario
from amxmodel.runs.execution import map_ordered

PAGES = np.tile(np.array([1, 3, 3, 3, 3, 3.0]), (11, 1))
SMALL = ["fleet.hosts=12", "run.steps=20", "run.chunk_hosts=4"]


def _task(args):
    sc, i = args
    return run_chunk(sc, i, PAGES)


def _fields(e: Exposure):
    return [e.exits, e.points, e.vcpu_state_s, e.peak_pages, e.host_amx, e.class_exits,
            e.class_points, e.class_vcpu_state_s]


def test_bit_identical_whatever_the_order_or_processes():
    sc = load_scenario(None, SMALL)
    n = len(chunk_bounds(sc))
    forward = Exposure.concat([run_chunk(sc, i, PAGES) for i in range(n)])
    backward = [run_chunk(sc, i, PAGES) for i in reversed(range(n))][::-1]
    pooled = map_ordered(_task, [(sc, i) for i in range(n)], jobs=2, progress=False)
    for other in (Exposure.concat(backward), Exposure.concat(pooled)):
        for a, b in zip(_fields(forward), _fields(other)):
            assert np.array_equal(a, b)


def test_seed_changes_results():
    a = run_chunk(load_scenario(None, SMALL), 0, PAGES)
    b = run_chunk(load_scenario(None, SMALL + ["run.seed=7"]), 0, PAGES)
    assert not np.array_equal(a.exits, b.exits)


def _peak_bytes(steps: int) -> int:
    sc = load_scenario(None, ["fleet.hosts=16", f"run.steps={steps}", "run.chunk_hosts=16"])
    tracemalloc.start()
    run_chunk(sc, 0, PAGES)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_memory_does_not_grow_with_steps():
    short, long = _peak_bytes(10), _peak_bytes(400)
    assert long < 1.2 * short + 200_000, (short, long)


def test_exposure_accounts_every_vcpu_second():
    sc = load_scenario(None, SMALL)
    e = run_chunk(sc, 0, PAGES)
    t = class_table(sc)
    vcpus = e.vcpu_state_s.sum(axis=1) / e.seconds
    # each host holds slots_per_host VMs at every moment: vCPUs per host near the target
    target = sc.fleet["pcpus_per_host"] * sc.fleet["vcpu_overcommit"] * sc.fleet["occupancy"]
    assert t.slots_per_host > 0
    assert 0.3 * target < vcpus.mean() < 3 * target
    assert np.isclose(e.class_vcpu_state_s.sum(), e.vcpu_state_s.sum())
    assert np.isclose(e.class_exits.sum(), e.exits.sum())
    # the share of exits from guests whose XCR0 is the host's minus AMX is a mix of the
    # classes' p_xcr0_host_minus_amx, and matches the per-class sum
    share = t.const["p_xcr0_host_minus_amx"]
    on = e.exits > 0
    assert np.all((e.xcr0_match[on] >= share.min() - 1e-12) & (e.xcr0_match[on] <= share.max() + 1e-12))
    assert np.isclose((e.exits * e.xcr0_match).sum(),
                      (e.class_exits * e.class_xcr0_match).sum())


@pytest.mark.slow
@pytest.mark.parametrize("workload", ["web", "ai-inference"])
def test_sampled_exposures_converge_to_mean_field(workload):
    sc = load_scenario(None, [f"workload={workload}", "fleet.hosts=3000", "run.steps=60",
                              "run.chunk_hosts=500"])
    e = Exposure.concat([run_chunk(sc, i, PAGES) for i in range(len(chunk_bounds(sc)))])
    m = expected_exposure(sc)
    per_host = {"exits": (e.exits.sum(axis=2), m.exits[0].sum(axis=1)),
                "vcpu_state_s": (e.vcpu_state_s, m.vcpu_state_s[0]),
                # exits of guests whose XCR0 is the host's minus AMX (they pay the XSETBV)
                "xcr0_exits": ((e.exits * e.xcr0_match).sum(axis=2),
                               (m.exits * m.xcr0_match)[0].sum(axis=1))}
    for name, (x, expect) in per_host.items():
        mean = x.mean(axis=0)
        se = x.std(axis=0, ddof=1) / np.sqrt(len(x))
        # within 4 standard errors, plus 0.5 % for the step discretization of lifetimes
        assert np.all(np.abs(mean - expect) <= 4 * se + 0.005 * expect), (name, mean / expect)


def test_load_sum_is_the_sum_of_the_step_loads():
    sc = load_scenario(None, ["run.steps=500", "run.step_s=97", "fleet.diurnal_amplitude=0.4"])
    cum = np.r_[0.0, np.cumsum(diurnal(sc))]
    first = np.array([0, 0, 17, 250, 499, 300])
    last = np.array([499, -1, 17, 400, 499, 299])  # whole run, empty, one step, ..., empty
    assert np.allclose(load_sum(sc, first, last), cum[last + 1] - cum[first], rtol=1e-12, atol=1e-9)
    whole_days = load_scenario(None, ["run.steps=5", "run.step_s=86400"])
    assert load_sum(whole_days, 0, 4) == pytest.approx(diurnal(whole_days).sum())


def test_peak_pages_are_the_largest_held_at_any_step(monkeypatch):
    """Buffered state changes, flushed in blocks and in pieces of hosts, give the same peaks
    as the host totals recomputed at every step."""
    monkeypatch.setattr(engine, "PEAK_BATCH", 16)
    sc = load_scenario(None, ["fleet.hosts=6", "run.steps=40", "fleet.amx_host_share=0.5"])
    table = class_table(sc)
    rng = np.random.default_rng(3)
    pages = rng.uniform(1, 5, (11, 6))
    ch = engine.Chunk(sc, table, 6, engine.chunk_rng(sc, 0), pages)
    ch_steps, n = 40, 400
    host, step = rng.integers(0, 6, n), rng.integers(0, ch_steps, n)
    k = rng.integers(1, 9, n).astype(float)
    used = rng.integers(0, 9, n) % (k + 1)
    cls = rng.integers(0, len(table.names), n)
    w = engine._weights(table.const, cls, k, rng.random(n) < 0.8, rng.random(n) < 0.7, used)
    kw = w * (k * rng.choice([-1, 1], n))[:, None]
    ch.peaks.add(host[:150], step[:150], kw[:150])
    ch.peaks.add(host[150:], step[150:], kw[150:])
    for t1 in (7, 19, 40):
        ch.peaks.flush(t1)
    level = np.zeros((6, ch_steps, engine.NJ))
    np.add.at(level, (host, step), kw)
    held = np.cumsum(level, axis=1) @ pages.T  # (hosts, steps, P+1)
    held = np.where(ch.host_amx[:, None, None], held[:, :, :-1], held[:, :, -1:])
    assert np.allclose(ch.peaks.peak_pages, np.maximum(held.max(axis=1), 0.0))


def test_blocks_without_departures(monkeypatch):
    """One-step blocks on long-lived VMs (most blocks see no departure) account the same
    vCPU-seconds as one block, host by host, up to the few VMs that change."""
    sets = ["fleet.hosts=4", "run.steps=30", "workload=database", "run.chunk_hosts=4"]
    sc = load_scenario(None, sets)
    whole = run_chunk(sc, 0, PAGES)
    monkeypatch.setattr(engine, "BLOCK_DEPARTURES", 1e-6)
    assert engine.Chunk(sc, class_table(sc), 4, engine.chunk_rng(sc, 0), PAGES)._block_steps() == 1
    steps = run_chunk(sc, 0, PAGES)
    a, b = whole.vcpu_state_s.sum(axis=1), steps.vcpu_state_s.sum(axis=1)
    assert np.all(a > 0) and np.allclose(a, b, rtol=0.05)
    assert np.isclose(steps.class_vcpu_state_s.sum(), b.sum())


def test_churn_and_first_amx_uses_match_mean_field():
    """Short-lived VMs and frequent first AMX uses: exits, state time and every point event
    per host within 4 standard errors (plus 1 %) of the expected values."""
    sc = load_scenario(None, ["fleet.pcpus_per_host=32", "fleet.hosts=3000", "run.steps=60",
                              "run.step_s=10", "run.chunk_hosts=500", "workloads.*.p_uses_amx=0.5",
                              "workloads.*.vm_lifetime_s.median=600",
                              "workloads.*.vm_lifetime_s.sigma=0.5"])
    e = Exposure.concat([run_chunk(sc, i, PAGES) for i in range(len(chunk_bounds(sc)))])
    m = expected_exposure(sc)
    for x, expect in ((e.exits.sum(axis=2), m.exits[0].sum(axis=1)),
                      (e.vcpu_state_s, m.vcpu_state_s[0]), (e.points, m.points[0])):
        se = x.std(axis=0, ddof=1) / np.sqrt(len(x))
        assert np.all(np.abs(x.mean(axis=0) - expect) <= 4 * se + 0.01 * expect), x.mean(0) / expect
