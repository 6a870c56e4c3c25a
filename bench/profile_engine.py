"""Where the fleet engine spends its time: cProfile of its chunks in this process.

    python bench/profile_engine.py                    # 512 hosts x 1440 steps, the catalogue's chunks
    python bench/profile_engine.py --rev 540a2a8      # the engine as it was at a commit
    python bench/profile_engine.py --hosts 2048 --steps 240 --top 20

``--rev`` loads ``amxmodel/fleet/engine.py`` of that commit (``git show``) beside today's
package, so a before/after comparison runs on the same machine, fleet and cost table.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import io
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package

from amxmodel.fleet import engine
from amxmodel.fleet.population import class_table
from amxmodel.inputs.scenario import load_scenario
from amxmodel.kernel.mechanisms import build_cost_table

REPO_DIR = Path(__file__).resolve().parents[1]  # the checkout this script belongs to


def engine_at(rev: str):
    """The engine module of commit ``rev``, imported as ``amxmodel._engine_at_rev``."""
    src = subprocess.run(["git", "-C", str(REPO_DIR), "show", f"{rev}:amxmodel/fleet/engine.py"],
                         check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "engine.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("amxmodel._engine_at_rev", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=512)
    ap.add_argument("--steps", type=int, default=1440)
    ap.add_argument("--chunk", type=int, default=None,
                    help="run.chunk_hosts (default: the catalogue's)")
    ap.add_argument("--rev", default=None, help="profile the engine of this git commit")
    ap.add_argument("--top", type=int, default=12)
    a = ap.parse_args()
    eng = engine_at(a.rev) if a.rev else engine
    chunk = [] if a.chunk is None else [f"run.chunk_hosts={a.chunk}"]
    sc = load_scenario(None, [f"fleet.hosts={a.hosts}", f"run.steps={a.steps}", *chunk])
    pages, table = build_cost_table(sc.hardware, sc.policies).pages, class_table(sc)
    chunks = range(len(engine.chunk_bounds(sc)))
    t0 = time.process_time()
    parts = [eng.run_chunk(sc, i, pages, table) for i in chunks]
    plain_s = time.process_time() - t0  # CPU seconds: the machine may be busy
    prof = cProfile.Profile()
    prof.enable()
    for i in chunks:
        eng.run_chunk(sc, i, pages, table)
    prof.disable()
    vcpu_steps = sum(float(p.vcpu_state_s.sum()) for p in parts) / float(sc.run["step_s"])
    print(f"engine {a.rev or 'working tree'}: {a.hosts} hosts x {a.steps} steps, chunks of "
          f"{sc.run['chunk_hosts']}: {plain_s:.2f} s, {vcpu_steps / plain_s:.3g} vCPU-steps per CPU-second")
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(a.top)
    print(out.getvalue().split("\n\n", 1)[-1].strip())


if __name__ == "__main__":
    main()
