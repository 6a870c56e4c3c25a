"""``amxmodel bench --quick`` runs and reports every measurement (not whether targets are met:
benchmarks are not timed unit tests)."""

import json
import subprocess
import sys

import pytest

from amxmodel.runs.bench import TARGETS

KEYS = ("engine_vcpu_steps_per_s", "rng_baseline_vcpu_steps_per_s", "rng_limit_ratio",
        "reference_vcpu_steps_per_s", "reference_speedup", "peak_rss_bytes", "cores",
        "headline_wall_s", "mean_field_wall_s", "engine_draws_per_vcpu_step",
        "rng_baseline_draws_per_vcpu_step")


@pytest.fixture(scope="module")
def quick():
    cmd = [sys.executable, "-m", "amxmodel", "bench", "--quick", "--format", "json"]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_quick_bench_reports_every_measurement(quick):
    for key in KEYS + tuple(TARGETS):
        assert key in quick, key
        assert quick[key] > 0, (key, quick[key])
    assert quick["quick"] is True and quick["targets_met"] is None


def test_engine_draws_fewer_random_numbers_than_a_per_step_engine(quick):
    assert quick["engine_draws_per_vcpu_step"] < quick["rng_baseline_draws_per_vcpu_step"]


def test_bad_jobs_is_one_clear_error():
    out = subprocess.run([sys.executable, "-m", "amxmodel", "bench", "--quick", "--jobs", "0"],
                         check=False, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip() == "amxmodel: error: --jobs 0: allowed: 1 or more processes"
