"""How much memory a run will take, known before anything is allocated.

The engine's memory is one chunk of state per worker (VM slots x a few hundred bytes)
plus per-host accumulators and the per-host result frames, which grow with the fleet but
not with the number of steps. :func:`check_fits` refuses a scenario whose estimate does
not fit in the memory this machine has available, naming the estimate, so that a typo in
``fleet.hosts`` ends with a message instead of the OOM killer.
"""

from __future__ import annotations

import os

from amxmodel.common.errors import InputError
from amxmodel.fleet.population import class_table
from amxmodel.inputs.scenario import Scenario

SLOT_BYTES = 600  # engine state per VM slot, with its arrival pool (measured ~490)
BLOCK_BYTES = 8 * 2**20  # temporaries of one block of departures (measured 2-4 MiB)
HOST_BYTES_PER_POLICY = 420  # accumulators, mechanism counts, pages and the hosts frame
HOST_BYTES = 1200  # policy-independent per-host accumulators and their merged copy
BASE_BYTES = 64 * 2**20  # tables, frames of the summary, interpreter slack


def estimate_bytes(sc: Scenario, jobs: int = 1, mode: str = "sample") -> int:
    """Upper estimate of the peak bytes a run allocates (excluding the interpreter)."""
    if mode != "sample":
        return BASE_BYTES
    slots = class_table(sc).slots_per_host
    hosts = int(sc.fleet["hosts"])
    chunk = min(int(sc.run["chunk_hosts"]), hosts)
    per_host = HOST_BYTES + HOST_BYTES_PER_POLICY * len(sc.policies)
    per_job = chunk * slots * SLOT_BYTES + BLOCK_BYTES
    return int(BASE_BYTES + hosts * per_host + max(jobs, 1) * per_job)


def available_bytes() -> int:
    """Memory available to new allocations (MemAvailable), or physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(sc: Scenario, jobs: int = 1, mode: str = "sample") -> int:
    """The estimate, or an InputError if it exceeds 80 % of the available memory."""
    need = estimate_bytes(sc, jobs, mode)
    have = available_bytes()
    if need > 0.8 * have:
        raise InputError(
            f"fleet.hosts={sc.fleet['hosts']} with run.chunk_hosts={sc.run['chunk_hosts']} would "
            f"need about {need / 2**30:.1f} GiB, more than the {have / 2**30:.1f} GiB available; "
            "allowed: a smaller fleet.hosts or run.chunk_hosts, or --mode mean-field")
    return need
