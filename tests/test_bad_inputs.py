"""The bad-input catalogue: every case through the real CLI, one clear line, nothing written.

Each row is (case id, command line, files to write first, fragments of the message). The
message must name the file, field or event and the allowed values; the command must exit
with status 2, print exactly one ``amxmodel: error:`` line and no traceback, and leave
every folder it could have written (its ``--out``, the test's folder, the package and
``data/``) as it was. ``{tmp}`` is the test's folder, ``{pkg}`` the package source,
``{data}`` the shipped data, ``{up_to_pkg}`` the package as ``../..`` from ``{tmp}`` and
``{results}`` a finished mean-field run, ``{top}`` the checkout, ``{nb}`` the shipped
notebooks and ``{cal}`` the calibration samples. A file whose content is ``FIFO`` is made a
named pipe; :data:`ENVS` sets environment variables for a case.

Issue 15's cases (item numbers in the comments) are here too: an output folder that is not
the tool's, damaged results, hostile YAML, unbounded reads and work, write errors.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from test_sweep import PARAMS_CELL, make_notebook

from amxmodel.cli import main
from amxmodel.common.datafiles import PACKAGE_DIR, checkout_dir, data_dir, notebooks_dir

SMALL = ["--set", "fleet.hosts=2", "--set", "run.steps=2"]
CALIBRATION_SAMPLES = Path(__file__).parent / "data" / "calibrate"
RUN = ["run", *SMALL, "--out", "{tmp}/out"]
HEAD = "name: t\nsource: test\nevents:\n"
LOGNORMAL = "workloads.web.exits_per_vcpu_s={dist: lognormal, median: 800, sigma: -1}"
UNIFORM = "workloads.web.exits_per_vcpu_s={dist: uniform, low: 900, high: 100}"
CHOICE_ZERO = "workloads.web.vcpus_per_vm={dist: choice, values: [1, 2], weights: [0, 0]}"
CHOICE_LEN = "workloads.web.vcpus_per_vm={dist: choice, values: [1, 2, 4], weights: [1, 1]}"
GRID_HEAD = "set: {fleet.hosts: 2, run.steps: 2}\nmode: mean-field\n"
NB_GRID = GRID_HEAD + "notebook: nb.ipynb\ngrid: {hardware.rdmsr_xfd_cycles: [20, 50]}\n"
NO_SEED_CELL = PARAMS_CELL.replace("seed = 0\n", "")
MARKER = {".amxmodel-files": json.dumps({"written_by": "amxmodel", "files": [
    "sweep.yaml", "points", "failed", "notebooks"]})}
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
) + "run: {steps: *i}\n"
HUGE = "9" * 5000
RANGE_399 = ", ".join(map(str, range(1, 400)))
KVM_LOG_BACKWARDS = ("kvm_exit kvm_exit(HLT) kvm_userspace_exit\n"
                     "2025-06-02 10:00:02 2000 400 50\n2025-06-02 10:00:04 2200 420 60\n"
                     "2025-06-02 10:00:01 1800 380 40\n")
SUMMARY = {"policy": ["upstream"], "metric": ["overhead_fraction"], "value": [0.1],
           "stderr": [0.0], "unit": ["fraction"], "scenario": ["t"]}


def parquet(**columns) -> bytes:
    """A parquet file's bytes."""
    buf = io.BytesIO()
    pd.DataFrame({**SUMMARY, **columns}).to_parquet(buf, index=False)
    return buf.getvalue()


def _with(args_files: tuple[list[str], dict], more: dict) -> tuple[list[str], dict]:
    """A case's command and files, with ``more`` files."""
    args, files = args_files
    return args, {**files, **more}


def sweep(grid: str) -> tuple[list[str], dict[str, str]]:
    """A sweep of ``{tmp}/grid.yaml`` holding ``grid``."""
    return ["sweep", "{tmp}/grid.yaml", "--out", "{tmp}/out"], {"grid.yaml": grid}


def replay(*events: str) -> tuple[list[str], dict[str, str]]:
    """A replay of a trace made of ``events`` (flow mappings)."""
    return ["replay", "{tmp}/trace.yaml"], {"trace.yaml": HEAD + "".join(f"  - {e}\n" for e in events)}


def calibrate(*args: str) -> list[str]:
    """``amxmodel calibrate`` of the bcc kvmexit sample with ``args``."""
    return ["calibrate", "{cal}/bcc-kvmexit-all.txt", *args]


def case(cid: str, args: list[str], files: dict | None, *fragments: str, marks=()):
    """One catalogue row."""
    return pytest.param(args, files or {}, fragments, id=cid, marks=marks)


AS_ROOT = pytest.mark.skipif(os.geteuid() == 0,
                             reason="root reads a chmod 000 file; 'path-is-a-directory' covers it")

CASES = [
    # --- YAML itself
    case("malformed-yaml", ["run", "{tmp}/sc.yaml", *RUN[1:]], {"sc.yaml": "fleet: [unclosed\n"},
         "{tmp}/sc.yaml", "line 2", "malformed YAML"),
    case("yaml-python-tag", ["run", "{tmp}/sc.yaml", *RUN[1:]],
         {"sc.yaml": "hardware: !!python/object/apply:os.system ['touch {tmp}/pwned']\n"},
         "{tmp}/sc.yaml", "line 1", "YAML tag not allowed", "only plain YAML"),
    case("yaml-not-a-mapping", ["run", "{tmp}/sc.yaml", *RUN[1:]], {"sc.yaml": "- spr\n- web\n"},
         "{tmp}/sc.yaml", "expected a mapping with hardware, fleet, policies, run"),
    case("not-utf8", ["run", "{tmp}/sc.yaml", *RUN[1:]], {"sc.yaml": b"name: \xff\xfe\n"},
         "{tmp}/sc.yaml", "cannot read scenario", "utf-8"),
    # --- unknown keys and names (typos suggest the closest)
    case("scenario-key-typo", ["run", "{tmp}/sc.yaml", *RUN[1:]], {"sc.yaml": "hardwre: spr\n"},
         "{tmp}/sc.yaml", "unknown scenario key 'hardwre'", "did you mean 'hardware'", "allowed:"),
    case("hardware-file-key-typo", [*RUN, "--set", "hardware={tmp}/hw.yaml"],
         {"hw.yaml": "name: mine\nvalues: {rdmsr_xfd_cycle: 90}\n"},
         "{tmp}/hw.yaml", "'rdmsr_xfd_cycle'", "did you mean 'rdmsr_xfd_cycles'", "allowed:"),
    case("override-field-typo", [*RUN, "--set", "fleet.hostz=3"], None,
         "--set fleet.hostz", "did you mean 'hosts'", "allowed:"),
    case("workload-field-typo", [*RUN, "--set", "workloads.web.exits_per_vcpu_ss=3"], None,
         "workloads.web.exits_per_vcpu_ss", "did you mean 'exits_per_vcpu_s'", "allowed:"),
    case("unknown-policy", [*RUN, "--set", "policies=upstreem"], None,
         "policies", "did you mean 'upstream'", "sync-always"),
    case("unknown-workload", [*RUN, "--set", "workload=webb"], None,
         "unknown workload 'webb'", "did you mean 'web'", "database"),
    case("unknown-hardware", [*RUN, "--set", "hardware=spr-fast"], None,
         "unknown hardware 'spr-fast'", "spr-pessimistic"),
    case("unknown-scenario", ["run", "nosuch", *RUN[1:]], None,
         "unknown scenario 'nosuch'", "allowed: default"),
    case("override-without-equals", [*RUN, "--set", "fleet.hosts"], None,
         "--set 'fleet.hosts'", "expected key=value"),
    # --- types and ranges
    case("wrong-type-override", [*RUN, "--set", "fleet.hosts=many"], None,
         "--set fleet.hosts", "must be a number, got 'many'", "allowed: 1 to"),
    case("wrong-type-in-file", [*RUN, "--set", "hardware={tmp}/hw.yaml"],
         {"hw.yaml": "name: mine\nvalues: {rdmsr_xfd_cycles: fast}\n"},
         "{tmp}/hw.yaml", "'rdmsr_xfd_cycles' must be a number", "allowed: 0 to"),
    case("nan", [*RUN, "--set", "hardware.rdmsr_xfd_cycles=.nan"], None,
         "hardware.rdmsr_xfd_cycles", "must be finite", "allowed: 0 to"),
    case("inf", [*RUN, "--set", "fleet.hosts=.inf"], None,
         "fleet.hosts", "must be finite", "allowed: 1 to"),
    case("negative-rate", [*RUN, "--set", "workloads.web.exits_per_vcpu_s=-5"], None,
         "--set workloads.web.exits_per_vcpu_s", "out of range", "allowed: 0 to"),
    case("probability-above-1", [*RUN, "--set", "workloads.web.p_uses_amx=1.5"], None,
         "--set workloads.web.p_uses_amx", "out of range", "allowed: 0 to 1 probability"),
    case("probability-below-0", [*RUN, "--set", "fleet.realloc_fail_prob=-0.1"], None,
         "fleet.realloc_fail_prob", "out of range", "allowed: 0 to 1 probability"),
    case("negative-mix-share", [*RUN, "--set", "mix.web=-1"], None,
         "mix.web = -1", "allowed: a finite share >= 0"),
    case("zero-steps", [*RUN, "--set", "run.steps=0"], None,
         "run.steps", "= 0 is out of range", "allowed: 1 to"),
    case("negative-seed", [*RUN, "--seed", "-1"], None, "--seed -1", "allowed: 0 to 2**64-1"),
    # --- distributions with impossible parameters
    case("lognormal-negative-sigma", [*RUN, "--set", LOGNORMAL], None,
         "--set workloads.web.exits_per_vcpu_s", "sigma", "greater than or equal to 0"),
    case("uniform-high-below-low", [*RUN, "--set", UNIFORM], None,
         "--set workloads.web.exits_per_vcpu_s", "high (100.0) must be >= low (900.0)"),
    case("choice-weights-all-zero", [*RUN, "--set", CHOICE_ZERO], None,
         "--set workloads.web.vcpus_per_vm", "weights must be finite, >= 0 and not all 0"),
    case("choice-weights-length", [*RUN, "--set", CHOICE_LEN], None,
         "--set workloads.web.vcpus_per_vm", "weights has 2 entries but values has 3"),
    case("unknown-dist", [*RUN, "--set", "workloads.web.exits_per_vcpu_s={dist: normal}"], None,
         "exits_per_vcpu_s", "unknown dist 'normal'", "allowed: fixed, lognormal, uniform, choice"),
    # --- memory
    case("fleet-too-large", [*RUN, "--set", "fleet.hosts=10000000"], None,
         "fleet.hosts=10000000", "would need about", "GiB", "allowed: a smaller fleet.hosts"),
    # --- sweeps
    case("empty-grid", *sweep(GRID_HEAD + "grid: {}\n"), "{tmp}/grid.yaml", "grid: no points"),
    case("grid-empty-list", *sweep(GRID_HEAD + "grid: {workload: []}\n"),
         "{tmp}/grid.yaml", "grid.workload: empty list"),
    case("grid-duplicate-values", *sweep(GRID_HEAD + "grid: {workload: [web, web]}\n"),
         "{tmp}/grid.yaml", "grid.workload", "duplicate points", "'web' is listed twice"),
    case("grid-duplicate-resolved", *sweep(
        GRID_HEAD + "points: [{rdmsr_xfd_cycles: 90}, {hardware.rdmsr_xfd_cycles: 90}]\n"),
         "{tmp}/grid.yaml", "point 2", "duplicate point", "as point 1"),
    case("grid-key-typo", *sweep(GRID_HEAD + "grids: {workload: [web]}\n"),
         "{tmp}/grid.yaml", "'grids'", "did you mean 'grid'"),
    case("grid-bad-value", *sweep(GRID_HEAD + "grid: {hardware.rdmsr_xfd_cycles: [20, -5]}\n"),
         "{tmp}/grid.yaml", "point 2", "out of range", "allowed: 0 to"),
    case("grid-unknown-mode", *sweep("mode: exact\npoints: [{}]\n"),
         "{tmp}/grid.yaml", "'exact'", "mean-field"),
    # --- traces
    case("trace-unknown-event", *replay("{event: create_vcpu}", "{event: guest_amxx}"),
         "{tmp}/trace.yaml", "events[1]", "unknown event 'guest_amxx'", "did you mean 'guest_amx'"),
    case("trace-vcpu-never-created", *replay("{event: create_vcpu}", "{event: run_enter, vcpu: 3}"),
         "{tmp}/trace.yaml", "events[1] (run_enter): vcpu 3 was never created",
         "vCPUs that exist here: 0"),
    case("trace-event-after-destroy", *replay("{event: create_vcpu}", "{event: destroy_vcpu}",
                                              "{event: set_cpuid, amx: true}"),
         "{tmp}/trace.yaml", "events[2] (set_cpuid): vcpu 0 was destroyed at events[1]"),
    case("trace-bad-argument", *replay("{event: create_vcpu}", "{event: set_cpuid, amx: 1}"),
         "{tmp}/trace.yaml", "events[1] (set_cpuid)", "'amx' must be true or false"),
    # --- files that are not there or not readable
    case("missing-file", ["replay", "{tmp}/nosuch.yaml"], None,
         "{tmp}/nosuch.yaml", "no such trace file"),
    case("path-is-a-directory", ["sweep", "{tmp}/adir", "--out", "{tmp}/out"], {"adir/x": ""},
         "{tmp}/adir", "is a directory, expected a YAML grid file"),
    case("unreadable-file", ["replay", "{tmp}/trace.yaml"], {"trace.yaml": None},
         "{tmp}/trace.yaml", "cannot read trace file", "Permission denied", marks=AS_ROOT),
    case("missing-results-dir", ["export", "{tmp}/nores", "--to", "{tmp}/out"], None,
         "{tmp}/nores", "no such"),
    case("from-missing-folder", ["run", "--from", "{tmp}/nope", "--out", "{tmp}/out"], None,
         "--from {tmp}/nope: no such folder", "'amxmodel run --out'"),
    case("from-other-mode", ["run", "--from", "{results}", "--mode", "sample", "--out", "{tmp}/out"],
         None, "--mode sample", "used --mode mean-field", "drop --mode"),
    # --- where results go
    case("run-out-in-package", [*RUN[:-1], "{pkg}/results"], None,
         "--out {pkg}/results", "inside the package source", "allowed: a folder outside"),
    case("run-out-dotdot-into-package", [*RUN[:-1], "{tmp}/{up_to_pkg}/results"], None,
         "resolves to {pkg}/results", "inside the package source"),
    case("sweep-out-in-data", ["sweep", "{tmp}/grid.yaml", "--out", "{data}/sweeps/mine"],
         {"grid.yaml": GRID_HEAD + "grid: {workload: [web]}\n"},
         "--out {data}/sweeps/mine", "inside the shipped data", "allowed:"),
    case("export-to-package", ["export", "{results}", "--to", "{pkg}/charts"], None,
         "--to {pkg}/charts", "inside the package source"),
    case("export-chart-name-dotdot", ["export", "{results}", "--to", "{tmp}/out",
                                      "--charts", "../overhead"], None,
         "chart file name '../overhead'", "no '..'"),
    # --- notebooks
    case("notebook-without-parameters-cell", *sweep(NB_GRID), "{tmp}/nb.ipynb",
         "no cell tagged 'parameters'"),
    case("notebook-undeclared-parameter", *sweep(NB_GRID), "{tmp}/nb.ipynb",
         "parameter 'seed' is not declared", "it must declare scenario, sets"),
    # --- issue 15 (1, 2): an output folder is new, empty or amxmodel's; never the project
    case("run-out-holds-a-user-file", RUN, {"out/thesis.tex": "hi"},
         "--out {tmp}/out: holds files amxmodel did not write (e.g. thesis.tex)",
         "allowed: a new or empty folder", "--force"),
    case("run-out-is-a-file", RUN, {"out": "hi"}, "--out {tmp}/out: exists and is a file, not a folder"),
    case("run-out-under-a-file", [*RUN[:-1], "{tmp}/afile/sub"], {"afile": "hi"},
         "{tmp}/afile is a file, not a folder"),
    case("run-out-checkout-root", [*RUN[:-1], "{top}"], None, "the checkout itself"),
    case("run-out-above-the-checkout", [*RUN[:-1], "{top}/.."], None,
         "contains the package source"),
    case("run-out-project-folder", RUN, {"out/.git/HEAD": "ref"}, "holds .git",
         "not an output folder"),
    case("run-force-never-replaces-a-user-file", [*RUN, "--force"],
         {"out/summary.parquet": "mine"}, "would replace summary.parquet",
         "not even --force"),
    case("sweep-out-holds-a-user-file", *_with(sweep(GRID_HEAD + "grid: {workload: [web]}\n"),
                                               {"out/notes.txt": "mine"}),
         "--out {tmp}/out: holds files amxmodel did not write (e.g. notes.txt)"),
    case("export-to-holds-a-user-file", ["export", "{results}", "--to", "{tmp}/out"],
         {"out/notes.txt": "mine"}, "--to {tmp}/out: holds files amxmodel did not write"),
    case("main-out-notebooks", ["main", "--out", "{nb}"], None, "--out {nb}",
         "inside the shipped notebooks"),
    case("calibrate-out-in-package", calibrate("--out", "{pkg}/evil.yaml"), None,
         "--out {pkg}/evil.yaml", "inside the package source"),
    case("calibrate-force-over-a-user-file", calibrate("--out", "{tmp}/w.yaml", "--force"),
         {"w.yaml": "keep me\n"}, "amxmodel did not write it", "not even --force"),
    case("calibrate-force-over-a-folder", calibrate("--out", "{tmp}/d.yaml", "--force"),
         {"d.yaml/x": ""}, "--out {tmp}/d.yaml: exists and is not a regular file"),
    # --- (3) damaged or foreign results
    case("export-garbage-point", ["export", "{tmp}/sw", "--to", "{tmp}/out"],
         {"sw/points/abc.parquet": "garbage", "sw/sweep.yaml": "grid: {}\n"},
         "{tmp}/sw/points/abc.parquet: does not read back as parquet"),
    case("export-foreign-point", ["export", "{tmp}/sw", "--to", "{tmp}/out"],
         {"sw/points/abc.parquet": parquet(point_id=["abc"]), "sw/sweep.yaml": "grid: {}\n"},
         "abc.parquet: has no point record"),
    case("export-string-values", ["export", "{tmp}/res", "--to", "{tmp}/out"],
         {"res/summary.parquet": parquet(value=["lots"])},
         "{tmp}/res/summary.parquet: column 'value' holds", "allowed: numbers"),
    # --- (6, 7) hostile YAML
    case("yaml-alias-bomb", ["run", "{tmp}/sc.yaml", *RUN[1:]], {"sc.yaml": ALIAS_BOMB},
         "{tmp}/sc.yaml: more than 2,000,000 values once aliases", "allowed: fewer"),
    case("yaml-deep-nesting", ["run", "{tmp}/sc.yaml", *RUN[1:]],
         {"sc.yaml": "run: " + "[" * 1000 + "]" * 1000 + "\n"}, "{tmp}/sc.yaml", "nest"),
    case("yaml-deep-nesting-in-export", ["export", "{tmp}/res", "--to", "{tmp}/out"],
         {"res/summary.parquet": parquet(), "res/scenario.yaml": "a: " + "[" * 200 + "]" * 200},
         "{tmp}/res/scenario.yaml", "nested more than 64 levels deep"),
    case("yaml-huge-int-override", [*RUN, "--set", f"run.seed={HUGE}"], None,
         "--set run.seed", "an integer of 5000 digits", "allowed: at most 40 digits"),
    case("yaml-huge-int-grid-seeds", *sweep(GRID_HEAD + f"seeds: [{HUGE}]\npoints: [{{}}]\n"),
         "{tmp}/grid.yaml", "an integer of 5000 digits"),
    case("perf-huge-total-samples", ["calibrate", "{tmp}/perf.txt", "--out", "{tmp}/w.yaml",
                                     "--tool", "perf-kvm-stat", "--duration", "10",
                                     "--vcpus", "2"],
         {"perf.txt": "Analyze events for all VMs, all VCPUs:\n\n"
                      "VM-EXIT Samples Samples% Time% Min Time Max Time Avg time\n\n"
                      "HLT 10 100.00% 1.00% 1.00us 2.00us 1.50us ( +- 1.00% )\n\n"
                      f"Total Samples:{HUGE}, Total events handled time:1.00us.\n"},
         "{tmp}/perf.txt", "Total Samples has 5000 digits", "allowed: at most 19"),
    case("list-where-a-policy-name", [*RUN, "--set", "policies=[[upstream]]"], None,
         "--set policies", "a policy is a name, got a list", "allowed: upstream"),
    case("mapping-where-an-event-name", *replay("{event: [create_vcpu]}"),
         "{tmp}/trace.yaml: events[0]", "'event' must be a name", "allowed: perm_request"),
    case("yaml-duplicate-key", ["run", "{tmp}/sc.yaml", *RUN[1:]],
         {"sc.yaml": "fleet: small\nrun: {steps: 2}\nfleet: large\n"},
         "{tmp}/sc.yaml", "duplicate key 'fleet' at line 1 and line 3"),
    case("yaml-duplicate-key-in-override", [*RUN, "--set", "mix={web: 1, web: 2}"], None,
         "--set mix", "duplicate key 'web'"),
    case("yaml-list-as-key", ["run", "{tmp}/sc.yaml", *RUN[1:]], {"sc.yaml": "? [a]\n: 1\n"},
         "{tmp}/sc.yaml: line 1: a mapping key is a list", "allowed: a plain name"),
    # --- (8) unbounded reads
    case("replay-dev-zero", ["replay", "/dev/zero"], None, "/dev/zero: is a device",
         "allowed: a regular file"),
    case("calibrate-dev-zero", calibrate()[:1] + ["/dev/zero", "--out", "{tmp}/w.yaml"], None,
         "/dev/zero: is a device"),
    case("sweep-fifo", ["sweep", "{tmp}/fifo", "--out", "{tmp}/out"], {"fifo": "FIFO"},
         "{tmp}/fifo: is a FIFO (named pipe)", "allowed: a regular file"),
    case("input-over-the-size-limit", ["run", "{tmp}/sc.yaml", *RUN[1:]],
         {"sc.yaml": "# " + "x" * 3000 + "\n"}, "{tmp}/sc.yaml: 0 MiB; allowed: at most 0 MiB",
         "AMXMODEL_MAX_INPUT_MB"),
    # --- (9) size of work
    case("replay-over-the-step-limit", *replay(*["{event: perm_request}"] * 6),
         "{tmp}/trace.yaml: 6 events x 10 policies = 60 replay steps", "allowed: at most 50",
         "AMXMODEL_MAX_REPLAY_STEPS"),
    case("grid-hundred-million-seeds", *sweep(GRID_HEAD + "seeds: 100000000\npoints: [{}]\n"),
         "{tmp}/grid.yaml: seeds: 100,000,000 points", "allowed: at most 100,000",
         "AMXMODEL_MAX_POINTS"),
    case("grid-product-too-large", *sweep(GRID_HEAD + f"grid: {{fleet.hosts: [{RANGE_399}], "
                                          f"run.steps: [{RANGE_399}]}}\n"),
         "{tmp}/grid.yaml: grid: 159,201 points", "allowed: at most 100,000"),
    # --- (10) output that cannot be written, checked before computing
    case("sweep-yaml-is-a-folder", *_with(sweep(GRID_HEAD + "grid: {workload: [web]}\n"),
                                          {"out/sweep.yaml/x": "", **{f"out/{k}": v
                                                                     for k, v in MARKER.items()}}),
         "--out {tmp}/out: sweep.yaml is not a regular file"),
    case("sweep-points-is-a-file", *_with(sweep(GRID_HEAD + "grid: {workload: [web]}\n"),
                                          {"out/points": "x", **{f"out/{k}": v
                                                                 for k, v in MARKER.items()}}),
         "--out {tmp}/out: points is not a folder"),
    # --- (13) the small ones
    case("seed-2-to-the-64", [*RUN, "--seed", str(2**64)], None,
         f"--seed {2**64}", "allowed: 0 to 2**64-1"),
    case("grid-seed-2-to-the-64", *sweep(GRID_HEAD + f"seeds: [{2**64}]\npoints: [{{}}]\n"),
         "{tmp}/grid.yaml: seeds", f"= {2**64} is out of range", f"allowed: 0 to {2**64 - 1}"),
    case("set-seed-2-to-the-64-plus-1", [*RUN, "--set", f"run.seed={2**64 + 1}"], None,
         "--set run.seed", "is out of range", f"allowed: 0 to {2**64 - 1}"),
    case("argparse-one-line", ["run", "--nosuch"], None, "unrecognized arguments: --nosuch"),
    case("argparse-bad-int", ["run", "--jobs", "many"], None, "--jobs: invalid int value",
         "amxmodel run --help"),
    case("set-policies-element", [*RUN, "--set", "policies.0=x"], None,
         "--set policies.0", "set as a whole list", "allowed: e.g. --set policies="),
    case("set-mix-unknown-class", [*RUN, "--set", "mix.nosuch=1"], None,
         "--set mix.nosuch", "unknown workload 'nosuch'", "allowed: ai-inference"),
    case("nul-bytes", ["run", "{tmp}/sc.yaml", *RUN[1:]], {"sc.yaml": b"\0" * 1_000_000},
         "{tmp}/sc.yaml", "control characters are not allowed"),
    case("non-utf8-file-name", ["run", "{tmp}/\udcff.yaml", *RUN[1:]], {"\udcff.yaml": "a: 1\n"},
         "unknown scenario key 'a'"),
    case("kvm-stat-timestamps-backwards", ["calibrate", "{tmp}/log.txt", "--out", "{tmp}/w.yaml",
                                           "--vcpus", "2"], {"log.txt": KVM_LOG_BACKWARDS},
         "{tmp}/log.txt", "line 4", "the timestamps go backwards"),
]
NOTEBOOKS = {"notebook-without-parameters-cell": {"tagged": False},
             "notebook-undeclared-parameter": {"params": NO_SEED_CELL}}
ENVS = {"input-over-the-size-limit": {"AMXMODEL_MAX_INPUT_MB": "0.001"},
        "replay-over-the-step-limit": {"AMXMODEL_MAX_REPLAY_STEPS": "50"}}


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """A finished mean-field run to export."""
    out = tmp_path_factory.mktemp("results") / "run"
    assert main(["run", "--mode", "mean-field", *SMALL, "--out", str(out)]) == 0
    return out


def snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``roots`` with its size and modification time."""
    out = {}
    for root in roots:
        for p in [root, *root.rglob("*")] if root.exists() else []:
            st = p.lstat()
            out[str(p)] = (st.st_size if p.is_file() else 0, st.st_mtime_ns)
    return out


def write_files(tmp: Path, files: dict, fill, notebook: dict | None) -> None:
    """The case's input files (``None``: an existing file nobody may read)."""
    for name, content in files.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content == "FIFO":
            os.mkfifo(path)
        else:
            path.write_text(fill(content or ""))
        if content is None:
            path.chmod(0)
    if notebook is not None:
        make_notebook(tmp / "nb.ipynb", **notebook)


@pytest.mark.parametrize("args, files, fragments", CASES)
def test_bad_input_one_line_exit_2_nothing_written(request, tmp_path, results, capsys,
                                                  monkeypatch, args, files, fragments):
    tmp = tmp_path / "case"
    tmp.mkdir()
    pkg, data = PACKAGE_DIR, data_dir().resolve()
    for key, value in ENVS.get(request.node.callspec.id, {}).items():
        monkeypatch.setenv(key, value)

    def fill(text: str) -> str:
        up = os.path.relpath(pkg, tmp)
        return (text.replace("{up_to_pkg}", up).replace("{tmp}", str(tmp)).replace("{pkg}", str(pkg))
                .replace("{data}", str(data)).replace("{results}", str(results))
                .replace("{top}", str(checkout_dir())).replace("{nb}", str(notebooks_dir()))
                .replace("{cal}", str(CALIBRATION_SAMPLES)))

    write_files(tmp, files, fill, NOTEBOOKS.get(request.node.callspec.id))
    argv = [fill(a) for a in args]
    watched = [tmp, results]
    protected = [Path(a) for a in argv if Path(a).resolve().is_relative_to(pkg)
                 or Path(a).resolve().is_relative_to(data)]
    assert not any(p.exists() for p in protected)
    before = snapshot(*watched)
    status = main(argv)
    out, err = capsys.readouterr()
    assert status == 2, err
    assert err.startswith("amxmodel: error: ") and err.count("\n") == 1, err
    assert len(err) < 1000, err[:300]  # an excerpt, never the whole input
    assert "Traceback" not in err and not out
    for fragment in fragments:
        assert fill(fragment) in err, (fill(fragment), err)
    assert snapshot(*watched) == before
    assert not any(p.exists() for p in protected)


# ----------------------------------------------------------------------------- issue 15, cases
# that need more than files: a simulated disk, a lock held, a link, a service that answers.

MF = ["run", "--mode", "mean-field", *SMALL]


def one_error_line(capsys) -> str:
    """The command's stderr, checked to be one ``amxmodel: error:`` line without a traceback."""
    err = capsys.readouterr().err
    assert err.startswith("amxmodel: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_full_disk_while_writing_a_run_is_one_line_and_leaves_nothing(tmp_path, capsys,
                                                                     monkeypatch):
    import errno

    def full(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PAR1 half")  # the disk fills up mid-file
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    assert main([*MF, "--out", str(tmp_path / "res")]) == 2
    assert "No space left on device" in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []  # no folder, no staging folder


def test_full_disk_while_resuming_a_run_folder_keeps_the_old_run(tmp_path, capsys, monkeypatch):
    import errno

    out = tmp_path / "res"
    assert main([*MF, "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()

    def full(self, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    assert main([*MF, "--set", "run.seed=7", "--out", str(out)]) == 2
    one_error_line(capsys)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_read_only_filesystem_is_refused_before_computing(tmp_path, capsys, monkeypatch):
    from amxmodel.common import outdirs

    monkeypatch.setattr(outdirs.os, "access", lambda *a, **k: False)  # as on a ro mount
    monkeypatch.setattr("amxmodel.runs.run.build_cost_table",
                        lambda *a: pytest.fail("computed before checking --out"))
    assert main([*MF, "--out", str(tmp_path / "res")]) == 2
    assert "cannot write in" in one_error_line(capsys)
    assert main(["calibrate", str(CALIBRATION_SAMPLES / "bcc-kvmexit-all.txt"),
                 "--out", str(tmp_path / "w.yaml")]) == 2
    assert "read-only filesystem" in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_out_dot_in_a_folder_of_user_files_is_refused(tmp_path, capsys, monkeypatch):
    (tmp_path / "thesis.tex").write_text("hi")
    monkeypatch.chdir(tmp_path)
    for where in (".", "sub/.."):
        assert main([*MF, "--out", where]) == 2
        assert "holds files amxmodel did not write" in one_error_line(capsys)
    assert [p.name for p in tmp_path.iterdir()] == ["thesis.tex"]


@pytest.mark.parametrize("target_root", ["same", "shm"])
def test_symlinked_out_writes_into_the_target_and_nothing_beside_the_link(tmp_path, capsys,
                                                                         target_root):
    import tempfile

    if target_root == "shm" and not Path("/dev/shm").is_dir():
        pytest.skip("no /dev/shm for a second filesystem")
    base = tmp_path if target_root == "same" else Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        real = base / "real"
        real.mkdir()
        link = tmp_path / "link"
        link.symlink_to(real)
        assert main([*MF, "--out", str(link)]) == 0
        assert main([*MF, "--out", str(link)]) == 0  # again: the folder is amxmodel's now
        assert link.is_symlink() and (real / "summary.parquet").is_file()
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            ["link", "real"] if target_root == "same" else ["link"])
        if base != tmp_path:  # nothing beside the link's target on the other filesystem
            assert [p.name for p in base.iterdir()] == ["real"]
        assert not [p for p in real.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
    finally:
        if base != tmp_path:
            shutil.rmtree(base)


def test_two_writers_of_one_folder_the_second_is_refused(tmp_path, capsys):
    import fcntl

    out = tmp_path / "res"
    assert main([*MF, "--out", str(out)]) == 0
    capsys.readouterr()
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a running 'run --out' holds
        assert main([*MF, "--out", str(out)]) == 2
        assert "another amxmodel process is writing this folder" in one_error_line(capsys)
    finally:
        os.close(fd)
    assert main([*MF, "--out", str(out)]) == 0


@pytest.fixture
def fake_service():
    """A TCP service on localhost that sends ``greeting`` (or nothing) on each connection."""
    import socket
    import threading

    servers = []

    def start(greeting: bytes) -> str:
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        servers.append(srv)

        def serve():
            conns = []
            while True:
                try:
                    conn, _ = srv.accept()
                except OSError:
                    break
                conns.append(conn)
                if greeting:
                    conn.sendall(greeting)

        threading.Thread(target=serve, daemon=True).start()
        return f"tcp://127.0.0.1:{srv.getsockname()[1]}"

    yield start
    for srv in servers:
        srv.close()


@pytest.mark.parametrize("greeting, fragment", [
    (b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n", "it answered 'SSH-2.0-OpenSSH_9.6p1"),
    (b"", "accepted the connection but sent nothing in 0.5 s"),
], ids=["ssh-banner", "silent-http-like"])
def test_scheduler_that_is_not_dask_is_named_within_the_timeout(fake_service, capsys, tmp_path,
                                                                monkeypatch, greeting, fragment):
    pytest.importorskip("distributed")
    from amxmodel.runs import daskexec

    monkeypatch.setattr(daskexec, "PROBE_S", 0.5)
    address = fake_service(greeting)
    assert main(["run", *SMALL, "--scheduler", address, "--out", str(tmp_path / "res")]) == 2
    err = one_error_line(capsys)
    assert f"--scheduler {address}" in err and fragment in err
    assert list(tmp_path.iterdir()) == []


def test_jobs_beyond_the_cores_are_capped_and_said(monkeypatch, capsys):
    from amxmodel.runs import executors

    monkeypatch.setattr(executors, "default_jobs", lambda: 2)
    monkeypatch.delenv("AMXMODEL_OVERSUBSCRIBE", raising=False)
    assert executors.pool_size(48, 100) == 2
    assert "--jobs 48: using 2 processes, one per core" in capsys.readouterr().err
    assert executors.pool_size(48, 3) == 2 and executors.pool_size(2, 100) == 2
    monkeypatch.setenv("AMXMODEL_OVERSUBSCRIBE", "1")
    assert executors.pool_size(48, 100) == 48


def test_the_largest_seed_runs_in_a_sweep(tmp_path, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text(GRID_HEAD + f"seeds: [{2**64 - 1}]\npoints: [{{}}]\n")
    assert main(["sweep", str(grid), "--out", str(tmp_path / "out")]) == 0, capsys.readouterr().err
    from amxmodel.runs.sweep import read_points

    assert set(read_points(tmp_path / "out")["seed"]) == {2**64 - 1}


def test_non_ascii_file_name_on_an_ascii_terminal_is_one_line(tmp_path):
    import subprocess
    import sys

    env = {**os.environ, "PYTHONIOENCODING": "ascii", "LC_ALL": "C"}
    proc = subprocess.run([sys.executable, "-m", "amxmodel", "run", str(tmp_path / "é.yaml")],
                          capture_output=True, text=True, encoding="ascii", errors="replace",
                          env=env, timeout=120, check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("amxmodel: error: ") and "\\xe9.yaml" in proc.stderr


def test_full_disk_at_a_sweep_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    import errno

    from amxmodel.common import atomicio

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", kwargs.get("dir"))

    grid = tmp_path / "grid.yaml"
    grid.write_text(GRID_HEAD + "grid: {workload: [web, hpc]}\n")
    monkeypatch.setattr(atomicio.tempfile, "mkstemp", full)
    assert main(["sweep", str(grid), "--out", str(tmp_path / "out"), "--jobs", "1"]) == 2
    assert "No space left on device" in one_error_line(capsys)
    assert [p.name for p in tmp_path.iterdir()] == ["grid.yaml"]


def test_folders_written_before_the_marker_are_still_amxmodels(tmp_path, capsys):
    from amxmodel.common.outdirs import MARKER, owned_names

    run_dir = tmp_path / "run"
    assert main([*MF, "--out", str(run_dir)]) == 0
    (run_dir / MARKER).unlink()  # as an older amxmodel left it
    (run_dir / "notes.txt").write_text("mine")
    assert main([*MF, "--out", str(run_dir)]) == 0
    assert "notes.txt" not in owned_names(run_dir) and (run_dir / "notes.txt").read_text() == "mine"
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "01_sync_overhead.ipynb").write_text(json.dumps({"metadata": {"papermill": {}}}))
    (reports / "01_overhead.png").write_bytes(b"png")
    (reports / "thesis.tex").write_text("mine")
    assert owned_names(reports) == {"01_sync_overhead.ipynb", "01_overhead.png"}
    (reports / "01_sync_overhead.ipynb").write_text("{}")  # not papermill's: not recognized
    assert owned_names(reports) is None
