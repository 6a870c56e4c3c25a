"""The Python API: a scenario in, tidy frames out.

>>> from amxmodel.runs.run import run
>>> res = run("default", sets=["fleet.hosts=8", "run.steps=10"])   # doctest: +SKIP
>>> res.summary.query("metric == 'overhead_fraction'")               # doctest: +SKIP

A run simulates the fleet once (:mod:`amxmodel.fleet.engine`, or :mod:`amxmodel.fleet.meanfield`
for expected values), prices the events under every selected policy with the cost table
measured on the reference model (:mod:`amxmodel.kernel.mechanisms`), and returns the frames of
:mod:`amxmodel.analysis.metrics`. ``save`` writes them as parquet with the resolved scenario, the
seed, the package version and the git commit, atomically.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from amxmodel import __version__
from amxmodel.analysis.metrics import summarize, wide
from amxmodel.common.datafiles import git_commit
from amxmodel.common.outdirs import OutFolder, output_folder
from amxmodel.common.units import sig
from amxmodel.fleet.engine import Exposure, chunk_bounds, run_chunk
from amxmodel.fleet.footprint import check_fits
from amxmodel.fleet.meanfield import expected_exposure
from amxmodel.fleet.population import class_table
from amxmodel.inputs.modes import check_mode
from amxmodel.inputs.scenario import Scenario, load_scenario
from amxmodel.kernel.mechanisms import CostTable, build_cost_table
from amxmodel.kernel.vocabulary import MECHS
from amxmodel.runs.caption import catalogue_changes, scenario_header
from amxmodel.runs.execution import using
from amxmodel.runs.executors import Executor


@dataclass
class Results:
    """What one run produced."""

    scenario: Scenario
    mode: str
    summary: pd.DataFrame
    hosts: pd.DataFrame
    by_class: pd.DataFrame
    exposure: Exposure
    table: CostTable
    elapsed_s: float
    record: dict = field(default_factory=dict)

    def metric(self, name: str) -> pd.Series:
        """One metric by policy."""
        df = self.summary[self.summary.metric == name]
        return df.set_index("policy")["value"]

    @property
    def header(self) -> str:
        """The caption of every table and chart of this run (scenario, mode, seed, prices)."""
        return scenario_header(self.record)

    @property
    def facts(self) -> str:
        """Fleet shape, hardware profile and the fleet's mean VM exit rate, in one sentence."""
        return scenario_facts(self)

    @property
    def units(self) -> dict[str, str]:
        """The unit of each metric of :attr:`summary`."""
        return dict(zip(self.summary["metric"], self.summary["unit"], strict=False))

    @property
    def frames(self) -> dict:
        """The frames charts are drawn from, with the run record under ``scenario``."""
        return {"summary": self.summary, "hosts": self.hosts, "by_class": self.by_class,
                "scenario": self.record}

    def wide(self) -> pd.DataFrame:
        """One row per policy, one column per metric."""
        return wide(self.summary)

    def save(self, out_dir: str | Path, force: bool = False) -> Path:
        """Write frames and the scenario record into ``out_dir`` (see
        :func:`write_results_dir`)."""
        return write_results_dir(out_dir, self.result_files(), self.record, force=force)

    def result_files(self) -> dict[str, pd.DataFrame]:
        """The frames a results folder holds, by file name."""
        return {"summary.parquet": self.summary, "hosts.parquet": self.hosts,
                "by_class.parquet": self.by_class}


RESULT_NAMES = ("summary.parquet", "hosts.parquet", "by_class.parquet", "scenario.yaml")


def write_results_dir(out_dir: str | Path, frames: dict[str, pd.DataFrame], record: dict,
                      force: bool = False, folder: OutFolder | None = None) -> Path:
    """Write parquet frames and ``scenario.yaml`` into ``out_dir`` under the output-folder
    rule (:mod:`amxmodel.common.outdirs`): staged inside it, then renamed into place with
    the record last, so a folder with a ``scenario.yaml`` holds one whole run. ``folder``
    is one the caller already holds (checked before computing)."""
    if folder is None:
        with output_folder(out_dir, "--out", force) as held:
            return write_results_dir(out_dir, frames, record, folder=held)
    names = [*frames, "scenario.yaml"]
    folder.claim(names)
    with folder.staging() as tmp:
        for name, df in frames.items():
            df.to_parquet(tmp / name, index=False)
        (tmp / "scenario.yaml").write_text(yaml.safe_dump(record, sort_keys=False, width=100),
                                           encoding="utf-8")
        if (folder.path / "scenario.yaml").is_file() and "scenario.yaml" in folder.owned:
            (folder.path / "scenario.yaml").unlink()  # the old record goes first, the new last
        folder.install(tmp, names)
    return folder.path


def _chunk_task(args):
    sc, chunk, pages = args
    return run_chunk(sc, chunk, pages)


def simulate(sc: Scenario, table: CostTable, jobs: int = 1, progress: bool | None = None,
             executor: Executor | None = None) -> Exposure:
    """Sampled exposures of the whole fleet: chunks run by ``executor`` (default: ``jobs``
    local processes), merged in chunk index order."""
    n = len(chunk_bounds(sc))
    class_table(sc)  # validate the fleet shape before starting workers
    tasks = [(sc, i, table.pages) for i in range(n)]
    with using(executor, jobs) as ex:
        parts = ex.map_ordered(_chunk_task, tasks, desc="chunks", progress=progress)
    return Exposure.concat(parts)


def realloc_failures(sc: Scenario, exp: Exposure, table: CostTable) -> np.ndarray:
    """Failed reallocations per host and policy: binomial on the reallocations, own stream."""
    from amxmodel.analysis.metrics import mechanism_counts

    reallocs = np.rint(mechanism_counts(exp, table)[:, :, MECHS.index("reallocs")]).astype(np.int64)
    p = float(sc.fleet["realloc_fail_prob"])
    if p <= 0:
        return np.zeros(reallocs.shape)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(sc.run["seed"]),
                                                                     spawn_key=(2**31,))))
    return rng.binomial(reallocs, p).astype(float)


def run(scenario: str | Path | dict | Scenario | None = None, sets=None, mode: str = "sample",
        policies=None, seed: int | None = None, jobs: int | None = 1,
        progress: bool | None = None, scheduler: str | None = None,
        dask_local: int | None = None, executor: Executor | None = None) -> Results:
    """Run a scenario (file, name, raw dict or Scenario) and return its frames.

    Host chunks run in this process (``jobs=1``), in ``jobs`` local processes (``None``:
    all cores when the first chunk's time says they pay off, see
    :class:`amxmodel.runs.executors.Auto`), on the dask scheduler at ``scheduler``, on a dask
    LocalCluster of ``dask_local`` processes, or on an open ``executor``; the frames are the
    same.
    """
    check_mode(mode)
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario, sets)
    if isinstance(scenario, Scenario) and sets:
        sc = sc.with_overrides(sets)
    extra = {}
    if policies:
        extra["policies"] = list(policies)
    if seed is not None:
        extra["run.seed"] = seed
    if extra:
        sc = sc.with_overrides(extra)
    runner = using(executor, jobs, scheduler, dask_local)  # bad flags fail here, before work
    check_fits(sc, jobs or os.cpu_count() or 1, mode)  # refuse before allocating, not OOM
    t0 = time.perf_counter()
    table = build_cost_table(sc.hardware, sc.policies)
    if mode == "sample":
        with runner as ex:
            exp = simulate(sc, table, progress=progress, executor=ex)
        fails = realloc_failures(sc, exp, table)
        summary, hosts, by_class = summarize(sc, exp, table, fails, sampled=True)
    else:
        exp = expected_exposure(sc)
        summary, hosts, by_class = summarize(sc, exp, table, None, sampled=False)
        hosts = hosts.iloc[0:0]
    elapsed = time.perf_counter() - t0
    raw = _plain(sc.raw())
    record = {"name": sc.name, "mode": mode, "seed": int(sc.run["seed"]),
              "package_version": __version__, "git_commit": git_commit(),
              "changes": catalogue_changes(raw), "scenario": raw}
    record["caption"] = scenario_header(record)
    record["exits_per_vcpu_s"] = _mean_exit_rate(exp)
    for frame in (summary, hosts, by_class):  # kept in every parquet file's metadata
        frame.attrs.update(caption=record["caption"], changes=list(record["changes"]))
    return Results(sc, mode, summary, hosts, by_class, exp, table, elapsed, record)


def _mean_exit_rate(exp: Exposure) -> float:
    """The fleet's mean VM exits (fastpath, in KVM, to user space) per vCPU-second."""
    vcpu_s = float(np.asarray(exp.vcpu_state_s).sum())
    return float(np.asarray(exp.exits)[:, :3].sum() / vcpu_s) if vcpu_s > 0 else 0.0


def scenario_facts(res: Results) -> str:
    """What a reader needs besides the caption: fleet shape, hardware, the mean exit rate."""
    sc, rec = res.scenario, res.record
    return (f"fleet: {sc.fleet['hosts']} hosts of {sc.fleet['pcpus_per_host']} hardware "
            f"threads, hardware {sc.hardware.name}, {sc.run['steps']} steps of "
            f"{sc.run['step_s']:g} s; fleet mean {sig(rec.get('exits_per_vcpu_s', 0.0))} VM "
            "exits per vCPU-second")


def _plain(obj):
    """Plain YAML-safe data (tuples to lists, numpy scalars to Python)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
