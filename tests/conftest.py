"""Shared fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spr():
    """The default hardware profile, validated as a scenario part."""
    from amxmodel.inputs.scenario import load_hardware

    return load_hardware("spr")


@pytest.fixture(scope="session")
def ref_delta(spr):
    """``ref_delta(prep, more, policy="upstream")``: the reference counters that ``more`` adds
    after ``prep`` (unchanged ones and pages left out)."""
    from amxmodel.kernel.registry import run_events
    from amxmodel.kernel.upstream import COUNTER_NAMES

    def delta(prep, more, policy="upstream"):
        a, b = run_events(policy, spr, prep), run_events(policy, spr, prep + more)
        return {k: b[k] - a[k] for k in COUNTER_NAMES
                if k not in ("pages", "peak_pages") and b[k] != a[k]}

    return delta


@pytest.fixture(scope="session")
def ref_errors(spr):
    """``ref_errors(events, policy="upstream")``: (index, event, errno) the kernel returned."""
    from amxmodel.kernel.replay import replay_trace

    def errors(events, policy="upstream"):
        res = replay_trace({"name": "t", "source": "test", "events": events}, [policy], spr)[0]
        return [(e["index"], e["event"], e["errno"]) for e in res["errors"]]

    return errors
