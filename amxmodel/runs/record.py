"""The reproducibility record of a run, read back: what ``amxmodel run --from DIR`` replays.

``amxmodel run --out DIR`` leaves ``DIR/scenario.yaml`` with the resolved scenario (every
parameter, not only the overrides), the mode, the seed, the package version and the git
commit. :func:`load_record` turns it back into a validated scenario, so a run can be
repeated bit for bit even after the files under ``data/`` have changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from amxmodel.common.errors import InputError
from amxmodel.common.yamlio import load_yaml
from amxmodel.inputs.modes import check_mode
from amxmodel.inputs.scenario import Scenario, build_scenario

RECORD_FILE = "scenario.yaml"


@dataclass(frozen=True)
class RunRecord:
    """A run as recorded: the scenario, mode and seed, and where the numbers came from."""

    scenario: Scenario
    mode: str
    seed: int
    package_version: str | None
    git_commit: str | None


def load_record(result_dir: str | Path) -> RunRecord:
    """Read ``result_dir/scenario.yaml`` into a :class:`RunRecord`; bad records raise InputError."""
    path = Path(result_dir) / RECORD_FILE
    if not Path(result_dir).is_dir():
        raise InputError(f"--from {result_dir}: no such folder; expected one written by "
                         "'amxmodel run --out'")
    rec = load_yaml(path, "run record")
    if not isinstance(rec, dict):
        raise InputError(f"{path}: expected a mapping with scenario, mode, seed")
    mode, seed = rec.get("mode"), rec.get("seed")
    check_mode(mode, f"{path}: mode")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"{path}: seed {seed!r}; allowed: a whole number >= 0")
    raw = rec.get("scenario")
    if not isinstance(raw, dict) or not all(isinstance(raw.get(k), dict) for k in ("hardware", "fleet")):
        raise InputError(f"{path}: scenario: expected the resolved scenario (hardware, fleet, "
                         "workloads, policies, run) that 'amxmodel run --out' writes")
    try:
        sc = build_scenario({**raw, "_where": f"{path}: scenario.run"})
    except InputError as exc:
        raise InputError(f"{path}: scenario: {exc}") from None
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise InputError(f"{path}: scenario: not a resolved scenario ({type(exc).__name__}: "
                         f"{exc})") from None
    return RunRecord(sc, mode, seed, rec.get("package_version"), rec.get("git_commit"))
