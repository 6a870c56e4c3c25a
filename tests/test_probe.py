"""``amxmodel probe``: the parts that need no /dev/kvm always run; the probe itself runs with
--quick where /dev/kvm exists and may be opened, and is skipped with the reason elsewhere.
Nothing here asserts on a duration: prices are checked for shape and consistency only."""

from __future__ import annotations

import contextlib
import io
import json
import os

import numpy as np
import pytest

from amxmodel.probe import checks, predict, stats
from amxmodel.probe.profile import profile_dict

KVM = "/dev/kvm"


def _kvm_unusable() -> str:
    if not os.path.exists(KVM):
        return f"{KVM} does not exist on this machine"
    try:
        os.close(os.open(KVM, os.O_RDWR))
    except OSError as exc:
        return f"{KVM} cannot be opened here: {exc.strerror}"
    return ""


needs_kvm = pytest.mark.skipif(bool(_kvm_unusable()), reason=_kvm_unusable() or "ok")


# ----------------------------------------------------------------------------- no /dev/kvm


def _probe_in_process(monkeypatch, capsys, dev, *args):
    from amxmodel.cli import main
    from amxmodel.probe import kvm

    monkeypatch.setattr(kvm, "KVM_PATH", str(dev))
    status = main(["probe", *args])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_missing_device_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    dev = tmp_path / "kvm"
    status, out, err = _probe_in_process(monkeypatch, capsys, dev, "--quick")
    assert status == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"amxmodel: error: {dev}: no such device")


def test_unopenable_device_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    dev = tmp_path / "kvm"
    dev.mkdir()  # a directory cannot be opened read-write, root or not
    status, out, err = _probe_in_process(monkeypatch, capsys, dev, "--format", "json")
    assert status == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"amxmodel: error: {dev}: cannot open")


# ----------------------------------------------------------------------------- statistics


def test_median_interval_holds_the_median_and_narrows_with_more_batches():
    rng = np.random.default_rng(1)
    x = 1000 + rng.standard_normal(400) * 50
    e = stats.median_ci(x, calls=4000)
    assert e.ci95_low <= e.value <= e.ci95_high
    assert e.value == pytest.approx(np.median(x))
    small = stats.median_ci(x[:20], calls=200)
    assert (e.ci95_high - e.ci95_low) < (small.ci95_high - small.ci95_low)


def test_paired_difference_recovers_a_shift_under_a_common_drift():
    rng = np.random.default_rng(2)
    drift = np.cumsum(rng.standard_normal(300)) * 100  # the machine gets busier and calmer
    a = 5000 + drift + rng.standard_normal(300) * 10 + 300
    b = 5000 + drift + rng.standard_normal(300) * 10
    e = stats.paired_diff(a, b, calls=600)
    assert e.ci95_low < 300 < e.ci95_high
    assert e.ci95_high - e.ci95_low < 10


def test_combined_estimate_takes_the_interval_of_its_replicates():
    boots = np.linspace(0, 100, 2001)
    e = stats.combine(50.0, boots, n=10, calls=100)
    assert (e.ci95_low, e.ci95_high) == pytest.approx((2.5, 97.5))


# ----------------------------------------------------------------------------- model side


def test_model_predicts_the_kernel_sequence(spr):
    m = predict.model_predictions(spr, kvm_offers_amx=True)
    assert m["late_request"] == "-EBUSY"
    assert m["set_cpuid_amx_noperm"] == "-EPERM"
    assert m["set_cpuid_amx_perm"] == "0"
    assert m["set_msrs_xfd_armed_no_amx_cpuid"] == "refused"
    assert m["xfd_after_set_msrs"] == "0x40000"
    assert m["xsave2_after"] == 11008
    assert predict.model_predictions(spr, kvm_offers_amx=False)["xsave2_after"] == 4096
    runs = checks.TRACE_RUNS
    assert m["trace"]["armed"] == {"load": runs, "unload": runs, "xfd_writes": 2 * runs}
    assert m["trace"]["xfd0"] == {"load": runs, "unload": runs, "xfd_writes": 0}


def test_compare_marks_agreement_per_row(spr):
    m = predict.model_predictions(spr, kvm_offers_amx=False)
    rows = predict.compare(m, {"perm_late": {"late_request": "0"},
                              "cpuid_noperm": {"set_cpuid_amx": "-EPERM",
                                               "set_msrs_xfd_armed_no_amx_cpuid": 0}})
    by = {r["name"]: r for r in rows}
    assert by["ARCH_REQ_XCOMP_GUEST_PERM after the first vCPU"]["agree"] is False
    assert by["KVM_SET_CPUID2 with XTILEDATA, no permission"]["agree"] is True
    assert all(set(r) >= {"name", "model", "kernel", "agree"} for r in rows)


def test_offered_reads_leaf_0xd_and_7():
    from amxmodel.probe import kvm

    d, l7 = kvm.CpuidEntry(), kvm.CpuidEntry()
    d.function, d.eax = 0xD, 0x600E7
    l7.function, l7.edx = 0x7, 1 << 24
    assert checks.offered([d, l7])["offered"] is True
    d.eax = 0xE7
    assert checks.offered([d, l7])["offered"] is False


# ----------------------------------------------------------------------------- profile


def _report(wrmsr=150.0):
    price = {"value": wrmsr, "ci95_low": wrmsr - 50, "ci95_high": wrmsr + 50, "unit": "cycles",
             "n": 10, "calls": 1000}
    return {"probe": {"date": "2026-12-02T00:00:00Z", "quick": True},
            "host": {"cpu_model": "Test CPU", "cpus": 2, "kernel": "6.18", "tsc_hz": 2.6e9,
                     "tsc_hz_source": "test", "hypervisor": {"present": False},
                     "kvm": {"module": "kvm_intel"}},
            "caveats": ["test"],
            "prices": {"wrmsr_xfd_cycles": price, "kvm_run_cycles": dict(price, value=20000.0)}}


def test_profile_loads_and_uses_measured_values(tmp_path):
    from amxmodel.inputs.scenario import load_hardware
    from amxmodel.probe.profile import write_profile

    path = write_profile(_report(), tmp_path / "measured.yaml")
    hw = load_hardware(str(path))
    assert hw.wrmsr_xfd_cycles == 150.0 and hw.cpu_hz == 2.6e9
    data = profile_dict(_report(), "x")
    assert "kvm_run_cycles" in data["probe"]["reported_only"]
    assert "rdmsr_xfd_cycles" in data["probe"]["unmeasured"]
    assert data["probe"]["measured"]["wrmsr_xfd_cycles"]["ci95"] == [100.0, 200.0]


def test_measured_frame_sets_each_price_against_its_plausible_range(tmp_path):
    from amxmodel.probe.profile import measured_frame, write_profile

    path = write_profile(_report(wrmsr=2000.0), tmp_path / "m.yaml")
    df = measured_frame(path)
    row = df.loc["wrmsr_xfd_cycles"]
    assert row["measured"] == 2000.0 and row["plausible_high"] == 1000.0
    assert not row["inside_plausible"] and row["used"]
    assert not df.loc["kvm_run_cycles", "used"]
    shipped = measured_frame("probe-pvm-nested")  # the profile docs/probe.md describes
    assert "wrmsr_xfd_cycles" in shipped.index


def test_profile_keeps_the_default_for_an_out_of_range_estimate():
    data = profile_dict(_report(wrmsr=-40.0), "x")
    assert "wrmsr_xfd_cycles" not in data["values"]
    assert "outside the allowed range" in data["probe"]["measured"]["wrmsr_xfd_cycles"]["note"]
    assert "wrmsr_xfd_cycles" in data["probe"]["unmeasured"]


# ----------------------------------------------------------------------------- on /dev/kvm


def _main(*args) -> tuple[int, str]:
    """The CLI in this process (its imports are paid once); status and stdout."""
    from amxmodel.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        status = main(list(args))
    return status, buf.getvalue()


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    if _kvm_unusable():
        pytest.skip(_kvm_unusable())
    out = tmp_path_factory.mktemp("probe") / "measured.yaml"
    status, text = _main("probe", "--quick", "--format", "json", "--out", str(out))
    assert status == 0
    return json.loads(text), out


@needs_kvm
def test_quick_probe_reports_host_parts_checks_and_prices(quick):
    rep, _ = quick
    assert {"host", "ran", "skipped", "checks", "prices"} <= set(rep)
    assert rep["host"]["cpu_model"] and rep["host"]["kernel"]
    assert "hypervisor" in rep["host"]
    assert all(s["reason"] for s in rep["skipped"])
    for c in rep["checks"]:
        assert c["agree"] == (c["model"] == c["kernel"])
    names = {c["name"]: c for c in rep["checks"]}
    if rep["host"]["host_dynamic_xtiledata"]:
        assert names["ARCH_REQ_XCOMP_GUEST_PERM after the first vCPU"]["kernel"] == "-EBUSY"
        for key in ("wrmsr_xfd_cycles", "kvm_run_cycles", "exit_user_cycles"):
            p = rep["prices"][key]
            assert set(p) >= {"value", "ci95_low", "ci95_high", "unit", "n"}
            assert p["ci95_low"] <= p["value"] <= p["ci95_high"] and p["n"] >= 3
        assert rep["prices"]["kvm_run_cycles"]["value"] > 0
    fpu = [c for c in rep["checks"] if c["name"].startswith("kvm_fpu")]
    if fpu:  # the tracepoints were readable: one load and one put per KVM_RUN, as modelled
        assert all(c["kernel"] == checks.TRACE_RUNS and c["agree"] for c in fpu)
        armed = names["write_msr(IA32_XFD) per 10 KVM_RUN (immediate_exit), VMM thread "
                      "XFD armed"]
        assert armed["kernel"] >= 2 * checks.TRACE_RUNS  # the differential's premise


@needs_kvm
def test_quick_profile_is_accepted_by_run(quick):
    rep, path = quick
    if not rep["prices"]:
        pytest.skip("nothing measured on this host: " + "; ".join(
            s["reason"] for s in rep["skipped"]))
    status, text = _main("run", "--set", f"hardware={path}", "--set", "run.steps=2", "--set",
                         "fleet.hosts=2", "--format", "json")
    assert status == 0 and "upstream" in text
    from amxmodel.inputs.scenario import load_hardware

    hw = load_hardware(str(path))
    assert hw.cpu_hz == float(rep["host"]["tsc_hz"])
    assert hw.exit_user_cycles == rep["prices"]["exit_user_cycles"]["value"]


@needs_kvm
def test_64_bit_guest_runs_its_cpuid_loop():
    """The long-mode guest (page tables, GDT, IDT) takes its CPUID exits and reports by OUT."""
    from amxmodel.probe import guest64, guestcode, kvm

    k = kvm.Kvm()
    vm = k.create_vm()
    try:
        guest64.load(vm, xcr0=0x7)
        v = vm.create_vcpu()
        v.set_cpuid(k.supported_cpuid())
        guest64.start(v, guest64.CPUID64_ADDR)
        guestcode.set_count(vm, 3)
        assert v.run() == kvm.KVM_EXIT_IO and v.io_port() == guestcode.PORT
        assert v.get_sregs().efer & 0x400  # LMA: it ran in long mode
        assert v.get_regs().rip == guest64.CPUID64_ADDR + len(guest64.CPUID64) - 2  # after OUT
    finally:
        vm.close()
        k.close()


@needs_kvm
def test_guest_part_runs_or_says_why_not():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "amxmodel.probe.worker", "guest", "--quick"],
                         check=True, capture_output=True, text=True, timeout=120)
    res = json.loads(out.stdout)
    if "skipped" in res:
        assert "KVM" in res["skipped"]
    else:
        for key in ("rdmsr_xfd_cycles", "wrmsr_xfd_cycles"):
            p = res["prices"][key]
            assert p["ci95_low"] <= p["value"] <= p["ci95_high"]


def test_trace_counts_only_between_the_marks(tmp_path):
    from amxmodel.probe.tracefs import Instance

    inst = Instance(str(tmp_path))
    inst.path.mkdir(parents=True)
    (inst.path / "trace").write_text(
        "x-1 write_msr: 1c4, value 0\n"  # before the start mark: a return after a sleep
        "x-1 tracing_mark_write: amxprobe-start\n"
        "x-1 write_msr: 1c4, value 0\nx-1 kvm_fpu: load\nx-1 write_msr: 1c4, value 40000\n"
        "x-1 kvm_fpu: unload\nx-1 write_msr: 1c5, value 0\n"
        "x-1 tracing_mark_write: amxprobe-end\n"
        "x-1 kvm_fpu: load\n")
    assert inst.counts() == {"load": 1, "unload": 1, "xfd_writes": 2}


PLUMBING = """
import json
from amxmodel.probe import checks, guest64, guestamx, guestcode, kvm
real = checks.offered
checks.offered = lambda e: dict(real(e), offered=True)
try:  # the real path first: here it must stop at a step the kernel refuses, and say which
    guestamx.measure_guest(quick=True)
    print(json.dumps({"ran": True}))
    raise SystemExit
except RuntimeError as exc:
    refused = str(exc)
# then the plumbing with the AMX steps left out (not a measurement)
guestamx.kvm = type("K", (), {k: getattr(kvm, k) for k in dir(kvm) if not k.startswith("__")})
guestamx.kvm.XTILEDATA = guestamx.kvm.XTILECFG = 0
guestcode.WRMSR_XFD_LOOP = guestcode.CPUID_LOOP
guest64.TILE_NM = bytes.fromhex("31c98b04250805000031d20f01d1e610") + guest64.CPUID64
print(json.dumps({"refused": refused, "res": guestamx.measure_guest(quick=True)}))
"""


@needs_kvm
def test_guest_side_plumbing_runs_without_amx():
    """Where KVM does not offer AMX, the guest-side code still runs end to end with its AMX
    steps left out (XFD writes, XCR0 bits, tile instructions): loops, the 64-bit guest, the
    summaries. Its numbers are not prices; on an AMX-offering KVM this test only checks
    that the real path runs."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", PLUMBING], check=True, capture_output=True,
                         text=True, timeout=120)
    res = json.loads(out.stdout)
    if res.get("ran"):
        return
    assert "KVM_SET_MSRS(IA32_XFD=0x40000)" in res["refused"]
    keys = set(res["res"]["prices"]) | set(res["res"]["components"])
    assert {"rdmsr_xfd_cycles", "wrmsr_xfd_cycles", "guest_nm_round_xfd_armed",
            "guest_wrmsr_xfd_exit_intercepted"} <= keys
