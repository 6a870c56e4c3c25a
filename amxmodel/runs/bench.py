"""How fast the fleet engine is, against floors measured on the same machine in the same run.

A number of vCPU-steps per second means little alone, so every measurement comes with
its yardstick, timed in CPU seconds of this process (the machine may be shared; wall
seconds are reported beside them) and repeated (minimum and median):

- **engine**: every chunk of the throughput fleet through :func:`amxmodel.fleet.engine.run_chunk`,
  in this process (simulation only: pricing is the same for every engine).
- **lean floor**: the same work in one batch (:func:`amxmodel.fleet.floor.lean_floor`: the
  engine's own draws and per-segment arithmetic without its blocks, batches and chains,
  the whole fleet as one chunk). ``engine_floor_ratio`` is engine / lean floor.
- **random-number floor**: the CPU seconds the lean floor spends inside the random
  generator, where every kind of draw is one call: what drawing alone costs.
- **reference**: the event-level fleet (:mod:`amxmodel.fleet.eventfleet`), every exit replayed
  through the reference state machine, against the engine on the same small scenario.
- **headline**: 10,000 hosts for a day of 60-s steps with every policy, ``amxmodel.runs.run.run``
  in a child process (in-process unless ``--jobs`` says otherwise): CPU seconds of the
  process tree, wall seconds, and the peak resident memory of the whole tree, sampled
  (proportional set sizes, so pages a forked child shares are counted once).
  Then the same scenario in mean-field mode; one chunk's traced memory at 1x and 4x the
  steps; the start-up time of ``amxmodel --help`` next to ``python3 -c pass``.
- **scale** (``full``): 100,000 hosts x 1 day and 10,000 hosts x 1 week, each in a child
  process, with the same three numbers.

:func:`measure` returns a flat dict (units in the key names); ``amxmodel bench`` prints it.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from amxmodel.analysis.metrics import mechanism_counts
from amxmodel.fleet.engine import Chunk, chunk_bounds, chunk_rng, run_chunk
from amxmodel.fleet.eventfleet import EventFleet
from amxmodel.fleet.population import class_table
from amxmodel.inputs.scenario import Scenario, load_scenario
from amxmodel.kernel.mechanisms import build_cost_table

# Targets of issues 6 and 16 on the full sizes: key -> (bound, "min" or "max")
TARGETS = {
    "engine_floor_ratio": (1.5, "max"),
    "engine_vcpu_steps_per_cpu_s": (6e8, "min"),
    "headline_cpu_s": (5.0, "max"),
    "reference_speedup": (1000.0, "min"),
    "peak_rss_bytes": (2**30, "max"),
    "memory_steps_ratio": (1.2, "max"),
    "mean_field_wall_s": (1.0, "max"),
}
SAMPLE_S = 0.02  # interval between two samples of a process tree's resident memory


@dataclass(frozen=True)
class Sizes:
    """Fleets measured (``--quick`` shrinks every one)."""

    throughput: tuple[str, ...]  # engine, lean floor, random-number floor
    headline: tuple[str, ...]
    small: tuple[str, ...]  # engine and event-level reference
    memory_steps: int  # one chunk at this many steps and at 4x
    repeats: int  # timings of engine and floors, and of start-up
    scale: tuple[tuple[str, ...], ...] = ()  # child-process runs of --full


# the small scenario has the shape of the agreement test's (8 pCPUs per host, 2-s steps)
SMALL = ("fleet.pcpus_per_host=8", "run.step_s=2")
FULL = Sizes(("fleet.hosts=1000", "run.steps=1440"), ("fleet.hosts=10000", "run.steps=1440"),
             SMALL + ("fleet.hosts=2", "run.steps=4"), 1440, 3)
SCALE = (("fleet.hosts=100000", "run.steps=1440"), ("fleet.hosts=10000", "run.steps=10080"))
QUICK = Sizes(("fleet.hosts=64", "run.steps=120"), ("fleet.hosts=200", "run.steps=240"),
              SMALL + ("fleet.hosts=1", "run.steps=1"), 120, 1)


def measure(quick: bool = False, jobs: int | None = None, full: bool = False,
            sizes: Sizes | None = None, judge: bool | None = None) -> dict:
    """Run every measurement. ``jobs``: processes of the headline (default 1, in-process);
    ``full`` adds the scale runs; ``sizes`` replaces the quick or full sizes, and
    ``judge`` says whether targets are checked (default: not on quick sizes)."""
    sizes = sizes or (QUICK if quick else FULL)
    if full:
        sizes = Sizes(*[getattr(sizes, f) for f in ("throughput", "headline", "small",
                                                    "memory_steps", "repeats")], SCALE)
    jobs = jobs or 1
    judge = not quick if judge is None else judge
    t0 = time.perf_counter()
    out: dict = {"cores": os.cpu_count() or 1, "jobs": jobs, "quick": quick,
                 "load_average_before": os.getloadavg()[0]}
    out.update(_startup(sizes.repeats))
    sc = load_scenario(None, list(sizes.throughput))
    out.update(_engine_and_floors(sc, sizes.repeats))
    out.update(_reference(list(sizes.small)))
    out.update(_headline(list(sizes.headline), jobs))
    out.update(_memory_flat(sc, sizes.memory_steps))
    for i, sets in enumerate(sizes.scale):
        out.update(_scale(f"scale{i + 1}", list(sets)))
    out["load_average_after"] = os.getloadavg()[0]
    out["bench_wall_s"] = time.perf_counter() - t0
    out["bench_peak_rss_bytes"] = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    out["targets_met"] = {k: met(k, out[k]) for k in TARGETS} if judge else None
    return out


def met(key: str, value: float) -> bool:
    """Whether ``value`` meets the target of ``key`` (a plain bool, for JSON)."""
    bound, kind = TARGETS[key]
    return bool(value >= bound if kind == "min" else value <= bound)


# -- timing -----------------------------------------------------------------------------


def timed(fn: Callable[[], object], repeats: int) -> tuple[dict, object]:
    """CPU and wall seconds of ``repeats`` calls (min and median), and the last result."""
    cpu, wall, res = [], [], None
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        res = fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return {"cpu_s": min(cpu), "cpu_s_median": statistics.median(cpu),
            "wall_s": min(wall), "wall_s_median": statistics.median(wall)}, res


def _prefixed(prefix: str, d: dict) -> dict:
    return {f"{prefix}_{k}": v for k, v in d.items()}


class CountingGenerator:
    """A numpy Generator that counts the random numbers it returns and the CPU seconds
    spent in it."""

    def __init__(self, rng: np.random.Generator):
        self._rng, self.draws, self.cpu_s = rng, 0, 0.0

    def __getattr__(self, name: str):
        method = getattr(self._rng, name)

        def counted(*args, **kwargs):
            c0 = time.process_time()
            out = method(*args, **kwargs)
            self.cpu_s += time.process_time() - c0
            self.draws += int(np.size(out))
            return out

        return counted


# -- engine and floors ------------------------------------------------------------------


def _engine_and_floors(sc: Scenario, repeats: int) -> dict:
    """The engine, the lean floor and the random-number floor on the throughput fleet."""
    from amxmodel.fleet.floor import lean_floor

    table, pages = class_table(sc), build_cost_table(sc.hardware, sc.policies).pages
    n = len(chunk_bounds(sc))
    engine, parts = timed(lambda: [run_chunk(sc, i, pages, table) for i in range(n)], repeats)
    vcpu_steps = sum(_vcpu_steps(p, sc) for p in parts)
    one = sc.with_overrides({"run.chunk_hosts": int(sc.fleet["hosts"])})
    gens: list[CountingGenerator] = []

    def floor():
        gens.append(CountingGenerator(chunk_rng(one, 0)))
        return lean_floor(one, 0, pages, table, rng=gens[-1])

    lean, exp = timed(floor, repeats)
    rng_s = [g.cpu_s for g in gens]
    out = {"throughput_fleet": f"{sc.fleet['hosts']} hosts x {sc.run['steps']} steps, chunks "
                               f"of {sc.run['chunk_hosts']} (lean floor: one chunk)",
           "throughput_vcpu_steps": vcpu_steps, "repeats": repeats}
    out.update(_prefixed("engine", engine))
    out.update(_prefixed("lean_floor", lean))
    out["rng_floor_cpu_s"], out["rng_floor_cpu_s_median"] = min(rng_s), statistics.median(rng_s)
    out["engine_floor_ratio"] = engine["cpu_s"] / lean["cpu_s"]
    out["engine_rng_floor_ratio"] = engine["cpu_s"] / out["rng_floor_cpu_s"]
    out["engine_vcpu_steps_per_cpu_s"] = vcpu_steps / engine["cpu_s"]
    out["engine_vcpu_steps_per_s"] = vcpu_steps / engine["wall_s"]
    out["lean_floor_vcpu_steps_per_cpu_s"] = _vcpu_steps(exp, one) / lean["cpu_s"]
    out["rng_floor_draws_per_vcpu_step"] = gens[-1].draws / _vcpu_steps(exp, one)
    out.update(_engine_draws(sc, table, pages, n))
    return out


def _vcpu_steps(exposure, sc: Scenario) -> float:
    return float(exposure.vcpu_state_s.sum()) / float(sc.run["step_s"])


def _engine_draws(sc: Scenario, table, pages, n: int) -> dict:
    """Random numbers per vCPU-step of the engine, and its CPU share spent drawing them."""
    draws = rng_s = total_s = vcpu_steps = 0.0
    for i, (start, stop) in enumerate(chunk_bounds(sc)[:n]):
        rng = CountingGenerator(chunk_rng(sc, i))
        c0 = time.process_time()
        exp = Chunk(sc, table, stop - start, rng, pages).run()
        total_s += time.process_time() - c0
        draws, rng_s = draws + rng.draws, rng_s + rng.cpu_s
        vcpu_steps += _vcpu_steps(exp, sc)
    return {"engine_draws_per_vcpu_step": draws / vcpu_steps,
            "engine_rng_time_share": rng_s / total_s}


# -- event-level reference --------------------------------------------------------------


def _reference(sets: list[str], min_s: float = 0.5) -> dict:
    """vCPU-steps per CPU second of the event-level fleet and of the engine (simulation
    and mechanism counts of every policy) on the same small scenario."""
    from amxmodel.runs.run import simulate

    sc = load_scenario(None, sets)
    c0 = time.process_time()
    ref = EventFleet(sc).run()
    ref_s = time.process_time() - c0
    vcpu_steps = float(ref.vcpu_s.sum()) / float(sc.run["step_s"])
    table = build_cost_table(sc.hardware, sc.policies)
    reps, c0 = 0, time.process_time()
    while reps == 0 or time.process_time() - c0 < min_s:
        exp = simulate(sc, table, progress=False)
        mechanism_counts(exp, table)
        reps += 1
    engine_s = (time.process_time() - c0) / reps
    engine_vs = _vcpu_steps(exp, sc)
    return {"reference_scenario": ", ".join(sets),
            "reference_vcpu_steps_per_s": vcpu_steps / ref_s,
            "reference_engine_vcpu_steps_per_s": engine_vs / engine_s,
            "reference_speedup": (engine_vs / engine_s) / (vcpu_steps / ref_s)}


# -- child processes: headline, scale, start-up -----------------------------------------


def tree_rss_bytes(pid: int) -> int:
    """Resident bytes of process ``pid`` and all its descendants now (0 once gone), pages
    shared between them counted once: the sum of their proportional set sizes (a forked
    worker's inherited pages are split between it and its parent), leaving out a child
    whose memory counters equal its parent's (a vfork'd child before its exec, such as
    ``git rev-parse``, runs in its parent's memory and would count it twice)."""
    total, todo = 0, [(pid, None)]
    while todo:
        p, parent_statm = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                statm = f.read()
            if statm != parent_statm:
                total += _pss_bytes(p)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [(int(c), statm) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return total


def _pss_bytes(pid: int) -> int:
    """Proportional set size of ``pid`` (its resident set size where the kernel has none)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_sampled(cmd: list[str]) -> tuple[str, float, int]:
    """Run ``cmd``: its stdout, wall seconds, and the peak over samples (every
    :data:`SAMPLE_S`) of the resident memory of its whole process tree."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_bytes(proc.pid))
            time.sleep(SAMPLE_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} ... failed ({proc.returncode}): {stderr}")
    return stdout, wall, peak[0]


def _run_child(sets: list[str], jobs: int) -> dict:
    """``model.run`` of ``sets`` in a child process: its own numbers, the tree's peak RSS."""
    code = "import sys\nfrom amxmodel.runs.bench import run_child\nrun_child(sys.argv[1])"
    args = json.dumps({"sets": sets, "jobs": jobs})
    stdout, wall, peak = run_sampled([sys.executable, "-c", code, args])
    out = json.loads(stdout.strip().splitlines()[-1])
    out["process_wall_s"], out["peak_rss_bytes"] = wall, peak
    return out


def run_child(args: str) -> None:
    """Run a fleet (JSON ``{"sets": [...], "jobs": n}``) and print its numbers as JSON."""
    from amxmodel.common.datafiles import git_commit
    from amxmodel.runs.run import run

    a = json.loads(args)
    git_commit()  # its git child starts now, while this process is small (see tree_rss_bytes)
    w0, c0 = time.perf_counter(), time.process_time()
    res = run(None, a["sets"], jobs=a["jobs"], progress=False)
    wall = time.perf_counter() - w0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time() - c0 + children.ru_utime + children.ru_stime
    sc, exp = res.scenario, res.exposure
    print(json.dumps({
        "fleet": f"{sc.fleet['hosts']} hosts x {sc.run['steps']} steps of "
                 f"{sc.run['step_s']:g} s, {len(sc.policies)} policies, chunks of "
                 f"{sc.run['chunk_hosts']}, {a['jobs']} process(es)",
        "vcpus": float(exp.vcpu_state_s.sum()) / exp.seconds,
        "wall_s": wall, "cpu_s": cpu,
        "vcpu_steps_per_cpu_s": _vcpu_steps(exp, sc) / cpu}))


def _headline(sets: list[str], jobs: int) -> dict:
    """The headline fleet in a child process, then in mean-field here."""
    from amxmodel.runs.run import run

    out = _prefixed("headline", _run_child(sets, jobs))
    out["peak_rss_bytes"] = out.pop("headline_peak_rss_bytes")
    t0 = time.perf_counter()
    run(None, sets, mode="mean-field", progress=False)
    out["mean_field_wall_s"] = time.perf_counter() - t0
    return out


def _scale(name: str, sets: list[str]) -> dict:
    """A large fleet in one child process: wall and CPU seconds, peak RSS of the tree."""
    res = _run_child(sets, 1)
    return {f"{name}_fleet": res["fleet"], f"{name}_wall_s": res["wall_s"],
            f"{name}_cpu_s": res["cpu_s"], f"{name}_peak_rss_bytes": res["peak_rss_bytes"],
            f"{name}_vcpu_steps_per_cpu_s": res["vcpu_steps_per_cpu_s"]}


def _startup(repeats: int) -> dict:
    """Wall seconds until ``amxmodel --help`` returns, and ``python3 -c pass`` beside it."""
    script = Path(sys.executable).with_name("amxmodel")
    amx = [str(script)] if script.exists() else [sys.executable, "-m", "amxmodel"]
    out = {}
    for key, cmd in (("startup_s", [*amx, "--help"]), ("python_startup_s",
                                                        [sys.executable, "-c", "pass"])):
        walls = [run_sampled(cmd)[1] for _ in range(max(repeats, 1))]
        out[key], out[f"{key}_median"] = min(walls), statistics.median(walls)
    return out


def _memory_flat(sc: Scenario, steps: int) -> dict:
    """Traced peak bytes of one chunk at ``steps`` and at 4x ``steps``."""
    table, pages = class_table(sc), build_cost_table(sc.hardware, sc.policies).pages
    peaks = []
    for n in (steps, 4 * steps):
        s = sc.with_overrides({"run.steps": n})
        start, stop = chunk_bounds(s)[0]
        tracemalloc.start()
        Chunk(s, table, stop - start, chunk_rng(s, 0), pages).run()
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return {"chunk_hosts": int(sc.run["chunk_hosts"]), "chunk_peak_bytes": peaks[0],
            "chunk_peak_bytes_4x_steps": peaks[1], "memory_steps_ratio": peaks[1] / peaks[0]}
