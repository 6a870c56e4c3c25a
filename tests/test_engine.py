"""The fleet engine: reproducibility, streaming memory, stationarity against mean-field."""

import tracemalloc

import numpy as np
import pytest

from amxmodel.engine import Exposure, chunk_bounds, run_chunk
from amxmodel.executor import map_ordered
from amxmodel.meanfield import expected_exposure
from amxmodel.params import load_scenario

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
    from amxmodel.fleet import class_table
    t = class_table(sc)
    vcpus = e.vcpu_state_s.sum(axis=1) / e.seconds
    # each host holds slots_per_host VMs at every moment: vCPUs per host near the target
    target = sc.fleet["pcpus_per_host"] * sc.fleet["vcpu_overcommit"] * sc.fleet["occupancy"]
    assert t.slots_per_host > 0
    assert 0.3 * target < vcpus.mean() < 3 * target
    assert np.isclose(e.class_vcpu_state_s.sum(), e.vcpu_state_s.sum())
    assert np.isclose(e.class_exits.sum(), e.exits.sum())


@pytest.mark.slow
@pytest.mark.parametrize("workload", ["web", "ai-inference"])
def test_sampled_exposures_converge_to_mean_field(workload):
    sc = load_scenario(None, [f"workload={workload}", "fleet.hosts=3000", "run.steps=60",
                              "run.chunk_hosts=500"])
    e = Exposure.concat([run_chunk(sc, i, PAGES) for i in range(len(chunk_bounds(sc)))])
    m = expected_exposure(sc)
    per_host = {"exits": (e.exits.sum(axis=2), m.exits[0].sum(axis=1)),
                "vcpu_state_s": (e.vcpu_state_s, m.vcpu_state_s[0])}
    for name, (x, expect) in per_host.items():
        mean = x.mean(axis=0)
        se = x.std(axis=0, ddof=1) / np.sqrt(len(x))
        # within 4 standard errors, plus 0.5 % for the step discretization of lifetimes
        assert np.all(np.abs(mean - expect) <= 4 * se + 0.005 * expect), (name, mean / expect)
