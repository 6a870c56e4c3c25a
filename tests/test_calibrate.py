"""amxmodel calibrate: each tool's format -> hand-checked numbers -> a workload the model loads.

The sample inputs in tests/data/calibrate/ follow each tool's printing code (perf
builtin-kvm.c print_result, kvm_stat batch()/log()/CSVFormat, bcc kvmexit.py). Expected
values are worked out by hand in the comments from the counts in those files and the
shares of data/calibrate/exit_reasons.yaml (MSR_WRITE 0.7 fastpath, HLT 0.05 fastpath,
PREEMPTION_TIMER 1.0 fastpath, EPT_MISCONFIG 0.5 user, IO_INSTRUCTION 0.9 user,
UNATTRIBUTED 0.5 fastpath, debugfs mmio_exits 1.0 user).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from amxmodel.calibrate import bcc_kvmexit, calibrate, kvm_stat, perf_kvm_stat
from amxmodel.calibrate.detect import detect
from amxmodel.calibrate.mapping import default_mapping_path, load_mapping
from amxmodel.calibrate.measure import read_lines
from amxmodel.cli import main
from amxmodel.common.errors import InputError
from amxmodel.inputs.scenario import load_scenario

DATA = Path(__file__).parent / "data" / "calibrate"


def sample(name: str) -> str:
    return str(DATA / name)


def parse(module, name: str):
    return module.parse(read_lines(sample(name)), sample(name))


# (file, flags, exits per vCPU-s, fastpath share, user share, vCPUs, interval s)
ROUND_TRIPS = [
    # 160000 exits / (10 s x 4 vCPUs) = 4000; fastpath (0.7*80000 + 0.05*40000 + 12000) / 160000
    # = 0.4375; user (0.5*4000 + 0.9*2000) / 160000 = 0.02375
    ("perf-kvm-stat-report.txt", {"duration": 10, "vcpus": 4}, 4000, 0.4375, 0.02375, 4, 10),
    # (40000 + 10000) / (20 s x 2) = 1250; fastpath (0.7*38000 + 0.05*7600) / 50000 = 0.5396
    ("perf-kvm-stat-report-vcpu.txt", {"duration": 20}, 1250, 0.5396, 0.0, 2, 20),
    # 1000 / 10 s = 100; fastpath (350 + 15) / 1000; user 0.9*150 / 1000
    ("perf-kvm-stat-report-old.txt", {"duration": 10, "vcpus": 1}, 100, 0.365, 0.135, 1, 10),
    # delta column over 1 s: 10000 / 2 vCPUs; fastpath (4200 + 100 + 500) / 10000;
    # user measured: kvm_userspace_exit 300 / kvm_exit 10000
    ("kvm_stat-1.txt", {"vcpus": 2}, 5000, 0.48, 0.03, 2, 1),
    # exits 8000 / 4 vCPUs; parts 2850, UNATTRIBUTED 5150: fastpath (0.05*1500 + 0.5*5150) / 8000
    # = 0.33125; user (0.9*200 + 100) / 8000 = 0.035
    ("kvm_stat-1-debugfs.txt", {"vcpus": 4}, 2000, 0.33125, 0.035, 4, 1),
    # 5 rows, timestamps 2 s apart: 8 s * 5/4 = 10 s; 10000 / (10 x 2) = 500;
    # fastpath (0.7*5020 + 0.05*2000 + 980) / 10000 = 0.4594; user measured 250 / 10000
    ("kvm_stat-log.txt", {"vcpus": 2}, 500, 0.4594, 0.025, 2, 10),
    ("kvm_stat-log.csv", {"vcpus": 2}, 500, 0.4594, 0.025, 2, 10),
    # no timestamps: 3 rows of 3000 kvm_exit over --duration 3; all UNATTRIBUTED (0.5 fastpath);
    # user measured 90 / 9000
    ("kvm_stat-log-old.txt", {"duration": 3, "vcpus": 1}, 3000, 0.5, 0.01, 1, 3),
    # two snapshots: exits +480000 / (60 s x 8) = 1000; parts 148080, UNATTRIBUTED 331920:
    # fastpath (0.05*96000 + 0.5*331920) / 480000 = 0.35575; user (0.9*2400 + 1200) / 480000
    ("debugfs-counters.txt", {"duration": 60, "vcpus": 8}, 1000, 0.35575, 0.007, 8, 60),
    # 14000 / (5 s x 3 threads); fastpath (0.7*8750 + 0.05*3500 + 700) / 14000 = 0.5;
    # user 0.5*175 / 14000 = 0.00625
    ("bcc-kvmexit-all.txt", {}, 14000 / 15, 0.5, 0.00625, 3, 5),
    ("bcc-kvmexit-pid.txt", {"vcpus": 2}, 1200, 0.5, 0.00625, 2, 5),
    ("bcc-kvmexit-alltids.txt", {}, 1200, 0.5, 0.00625, 2, 5),
    ("bcc-kvmexit-vcpu.txt", {}, 1200, 0.5, 0.00625, 2, 5),
    # 7000 / (5 s x 2 threads); fastpath (0.7*4970 + 0.05*2000) / 7000; N/A priced as kernel
    ("bcc-kvmexit-ctrlc.txt", {"duration": 5}, 700, (0.7 * 4970 + 100) / 7000, 0.0, 2, 5),
]


@pytest.mark.parametrize("name, flags, rate, fastpath, user, vcpus, interval", ROUND_TRIPS)
def test_round_trip(tmp_path, name, flags, rate, fastpath, user, vcpus, interval):
    out = tmp_path / "host.yaml"
    res = calibrate(sample(name), out, **flags)
    assert res.rates.total == pytest.approx(rate, rel=1e-5)
    assert res.rates.vcpus == vcpus
    assert res.rates.interval_s == pytest.approx(interval)
    assert res.shares["fastpath"] == pytest.approx(fastpath, rel=1e-5)
    assert res.shares["user"] == pytest.approx(user, rel=1e-5, abs=1e-12)
    sc = load_scenario(None, [f"workload={out}"])
    cls = sc.workloads["host"]
    assert cls.dist("exits_per_vcpu_s").center() == pytest.approx(rate, rel=1e-5)
    assert cls.mean("exit_share_fastpath") == pytest.approx(fastpath, rel=1e-5)
    assert cls.fields["p_cpuid_amx"].source == load_scenario(None, ["workload=web"]).workloads[
        "web"].fields["p_cpuid_amx"].source
    saved = yaml.safe_load(out.read_text())["calibration"]
    assert saved["vcpus"] == vcpus and saved["file"] == sample(name)


@pytest.mark.parametrize("name, tool", [
    ("perf-kvm-stat-report.txt", "perf-kvm-stat"), ("perf-kvm-stat-report-old.txt", "perf-kvm-stat"),
    ("kvm_stat-1.txt", "kvm_stat"), ("kvm_stat-log.csv", "kvm_stat"),
    ("kvm_stat-log-old.txt", "kvm_stat"), ("debugfs-counters.txt", "kvm_stat"),
    ("bcc-kvmexit-all.txt", "bcc-kvmexit"), ("bcc-kvmexit-ctrlc.txt", "bcc-kvmexit"),
])
def test_detect(name, tool):
    assert detect(read_lines(sample(name)), name) == tool


def test_perf_counts_and_per_vcpu():
    m = parse(perf_kvm_stat, "perf-kvm-stat-report.txt")
    assert m.counts["MSR_WRITE"] == 80000 and m.counts["MSR_READ"] == 80
    assert sum(m.counts.values()) == 160000
    assert m.per_vcpu is None and m.interval_s is None and m.vcpus is None
    m = parse(perf_kvm_stat, "perf-kvm-stat-report-vcpu.txt")
    assert m.vcpus == 2
    assert m.per_vcpu == {"0": {"MSR_WRITE": 30000, "HLT": 6000, "EXTERNAL_INTERRUPT": 3960,
                                "UNKNOWN": 40},
                          "1": {"MSR_WRITE": 8000, "HLT": 1600, "EXTERNAL_INTERRUPT": 400}}
    assert "3.7-3.13" in parse(perf_kvm_stat, "perf-kvm-stat-report-old.txt").variant


def test_perf_sigma_from_per_vcpu_spread(tmp_path):
    # vCPU 0: 40000 / 20 s = 2000/s, vCPU 1: 500/s; sample stdev of the logs = ln(4) / sqrt(2)
    res = calibrate(sample("perf-kvm-stat-report-vcpu.txt"), tmp_path / "v.yaml", duration=20)
    assert res.rates.sigma == pytest.approx(math.log(4) / math.sqrt(2))
    # 1600, 800, 400 per s: the logs are ln 2 apart, stdev ln 2
    res = calibrate(sample("bcc-kvmexit-all.txt"), tmp_path / "b.yaml")
    assert res.rates.sigma == pytest.approx(math.log(2))
    assert res.rates.vcpu_rates == {"3001/3010": 1600, "3001/3011": 800, "3002/3020": 400}


def test_default_sigma_and_override(tmp_path):
    res = calibrate(sample("kvm_stat-1.txt"), tmp_path / "a.yaml", vcpus=2)
    assert res.rates.sigma == load_mapping().sigma_default
    res = calibrate(sample("kvm_stat-1.txt"), tmp_path / "b.yaml", vcpus=2, sigma=0.3)
    assert res.rates.sigma == 0.3


def test_kvm_stat_fields():
    m = parse(kvm_stat, "kvm_stat-1.txt")
    assert m.interval_s == 1.0 and m.user_exits == 300
    assert m.counts == {"CPUID": 0, "EPT_VIOLATION": 200, "EXCEPTION_NMI": 0,
                        "EXTERNAL_INTERRUPT": 1000, "HLT": 2000, "IO_INSTRUCTION": 300,
                        "MSR_WRITE": 6000, "PREEMPTION_TIMER": 500, "XSETBV": 0}
    assert {"kvm_entry", "kvm_msr", "kvm_fpu"} <= set(m.ignored)
    std, csv = parse(kvm_stat, "kvm_stat-log.txt"), parse(kvm_stat, "kvm_stat-log.csv")
    assert std.counts == csv.counts and std.interval_s == csv.interval_s == 10
    assert std.counts["MSR_WRITE"] == 5020 and std.user_exits == 250
    old = parse(kvm_stat, "kvm_stat-log-old.txt")
    assert old.interval_s is None and old.counts == {"UNATTRIBUTED": 9000}


def test_kvm_stat_batch_child_with_parent_key(tmp_path):
    f = tmp_path / "batch.txt"
    f.write_text("kvm_exit                 30   20\nkvm_exit(HLT) kvm_exit   15   10\n")
    m = kvm_stat.parse(read_lines(f), str(f))
    assert m.counts == {"HLT": 10, "UNATTRIBUTED": 10}


def test_perf_stderr_line_for_unknown_code_is_noted(tmp_path):
    lines = read_lines(sample("perf-kvm-stat-report-vcpu.txt"))
    at = next(i for i, x in enumerate(lines) if x.strip().startswith("UNKNOWN"))
    lines.insert(at, "unknown kvm exit code:69 on vmx")
    m = perf_kvm_stat.parse(lines, "mixed.txt")
    assert m.counts["UNKNOWN"] == 40
    assert any("unknown kvm exit code:69" in n for n in m.notes)


def test_debugfs_snapshots_are_differenced():
    m = parse(kvm_stat, "debugfs-counters.txt")
    assert m.counters["exits"] == 480000 and m.counters["halt_exits"] == 96000
    assert "2 snapshots" in m.variant and m.interval_s is None


def test_bcc_runs_agree():
    alltids, vcpu = parse(bcc_kvmexit, "bcc-kvmexit-alltids.txt"), parse(bcc_kvmexit, "bcc-kvmexit-vcpu.txt")
    assert alltids.counts == vcpu.counts == parse(bcc_kvmexit, "bcc-kvmexit-pid.txt").counts
    assert sorted(vcpu.per_vcpu) == ["3001 vCPU 0", "3001 vCPU 1"]
    ctrlc = parse(bcc_kvmexit, "bcc-kvmexit-ctrlc.txt")
    assert ctrlc.interval_s is None and ctrlc.counts["N/A"] == 30 and ctrlc.counts["HLT"] == 2000


def test_alias_resolved(tmp_path):
    res = calibrate(sample("perf-kvm-stat-report-old.txt"), tmp_path / "o.yaml", duration=10, vcpus=1)
    assert res.counts["INTERRUPT_WINDOW"] == 50 and "PENDING_INTERRUPT" not in res.counts
    assert res.unknown == []


@pytest.mark.parametrize("name, flags, reason, count", [
    ("perf-kvm-stat-report-vcpu.txt", {"duration": 20}, "UNKNOWN", 40),
    ("bcc-kvmexit-ctrlc.txt", {"duration": 5}, "N/A", 30),
])
def test_unknown_reasons_kept_and_reported(tmp_path, capsys, name, flags, reason, count):
    out = tmp_path / "u.yaml"
    res = calibrate(sample(name), out, **flags)
    assert res.unknown == [reason] and res.counts[reason] == count
    saved = yaml.safe_load(out.read_text())["calibration"]
    assert saved["unknown_reasons"] == [reason]
    assert saved["reasons"][reason]["count"] == count and saved["reasons"][reason]["known"] is False
    args = [sample(name), "--out", str(tmp_path / "cli.yaml")]
    args += [f"--{k}={v}" for k, v in flags.items()]
    assert main(["calibrate", *args]) == 0
    captured = capsys.readouterr()
    assert f"{reason}?" in captured.out
    assert "unknown exit reason(s) kept" in captured.err and reason in captured.err


def test_unknown_debugfs_counter_is_kept(tmp_path):
    f = tmp_path / "counters.txt"
    f.write_text("exits: 1000\nhalt_exits: 400\nfoo_exits: 100\nhalt_wakeup: 7\n")
    res = calibrate(f, tmp_path / "c.yaml", duration=1, vcpus=1)
    assert res.counts == {"HLT": 400, "foo_exits": 100, "UNATTRIBUTED": 500}
    assert res.unknown == ["foo_exits"]
    assert "halt_wakeup" in res.data["calibration"]["ignored"]


@pytest.mark.parametrize("name, where", [
    ("perf-bad-row.txt", "line 7: Samples '8O000'"),
    ("perf-no-total.txt", "line 3: the table has no 'Total Samples:'"),
    ("perf-total-mismatch.txt", "line 18: Total Samples 160000 but the rows above add up to 159000"),
    ("perf-new-columns.txt", "line 5: unknown VM-EXIT columns"),
    ("perf-mmio-event.txt", "line 5: a 'MMIO Access' table"),
    ("kvm_stat-log-short-row.txt", "line 4: 6 values for the 7 fields of the banner on line 1"),
    ("kvm_stat-batch-bad.txt", "line 5: expected 'NAME TOTAL DELTA'"),
    ("bcc-bad-count.txt", "line 4: COUNT '-300'"),
    ("bcc-traceback.txt", "line 2: expected kvmexit's columns"),
    ("debugfs-two-dirs.txt", "line 13: counters of a second directory"),
    ("unknown-format.txt", "cannot tell which tool wrote this"),
    ("empty.txt", "the file is empty"),
])
def test_malformed_input_names_the_line(tmp_path, name, where):
    out = tmp_path / "bad.yaml"
    with pytest.raises(InputError) as exc:
        calibrate(sample(f"bad/{name}"), out, duration=5, vcpus=2)
    assert where in str(exc.value) and name in str(exc.value)
    assert not out.exists()


@pytest.mark.parametrize("name, flags, flag, why", [
    ("perf-kvm-stat-report.txt", {"vcpus": 4}, "--duration", "does not print how long"),
    ("perf-kvm-stat-report.txt", {"duration": 10}, "--vcpus", "does not say how many vCPUs"),
    ("kvm_stat-1.txt", {}, "--vcpus", "kvm_stat does not report how many vCPUs"),
    ("kvm_stat-log-old.txt", {"vcpus": 1}, "--duration", "has no timestamps"),
    ("debugfs-counters.txt", {"vcpus": 8}, "--duration", "between the first and the last snapshot"),
    ("bcc-kvmexit-ctrlc.txt", {}, "--duration", "ran until Ctrl-C"),
    ("bcc-kvmexit-pid.txt", {}, "--vcpus", "sums all threads"),
])
def test_missing_interval_or_vcpus_asks_for_the_flag(tmp_path, name, flags, flag, why):
    with pytest.raises(InputError) as exc:
        calibrate(sample(name), tmp_path / "m.yaml", **flags)
    assert flag in str(exc.value) and why in str(exc.value)


def test_flags_override_the_file(tmp_path):
    res = calibrate(sample("bcc-kvmexit-all.txt"), tmp_path / "f.yaml", duration=10, vcpus=4)
    assert res.rates.interval_from == "--duration" and res.rates.total == pytest.approx(14000 / 40)
    assert any("replaces the file's 5 s" in n for n in res.measurement.notes)
    with pytest.raises(InputError, match="the file has counts for 3 vCPUs"):
        calibrate(sample("bcc-kvmexit-all.txt"), tmp_path / "g.yaml", vcpus=2)


def test_cli_success_prints_table(tmp_path, capsys):
    out = tmp_path / "myhost.yaml"
    assert main(["calibrate", sample("perf-kvm-stat-report.txt"), "--duration", "10",
                 "--vcpus", "4", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "MSR_WRITE" in text and "exit_share_fastpath  0.4375" in text and f"wrote {out}" in text
    assert max(len(line) for line in text.splitlines() if str(tmp_path) not in line) <= 72
    assert "myhost" in load_scenario(None, [f"workload={out}"]).workloads


@pytest.mark.parametrize("argv", [
    [sample("bad/perf-bad-row.txt"), "--duration", "5", "--vcpus", "2"],
    [sample("perf-kvm-stat-report.txt"), "--vcpus", "4"],
    [sample("perf-kvm-stat-report.txt"), "--duration", "-1", "--vcpus", "4"],
    [sample("perf-kvm-stat-report.txt"), "--duration", "10", "--vcpus", "4", "--base", "nosuch"],
])
def test_cli_bad_input_exit_2_and_no_file(tmp_path, capsys, argv):
    out = tmp_path / "x.yaml"
    assert main(["calibrate", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("amxmodel: error: ") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_force(tmp_path, capsys):
    out = tmp_path / "web.yaml"
    args = ["calibrate", sample("bcc-kvmexit-all.txt"), "--out", str(out)]
    assert main(args) == 0
    written = out.read_text()
    assert main(args) == 2 and out.read_text() == written
    assert "--force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0
    assert "web" in load_scenario(None, [f"workload={out}"]).workloads


def test_force_never_replaces_a_file_calibrate_did_not_write(tmp_path, capsys):
    out = tmp_path / "web.yaml"
    out.write_text("keep me\n")
    args = ["calibrate", sample("bcc-kvmexit-all.txt"), "--out", str(out), "--force"]
    assert main(args) == 2 and out.read_text() == "keep me\n"
    assert "amxmodel did not write it" in capsys.readouterr().err


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    from amxmodel.common import atomicio

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(atomicio.os, "replace", boom)
    with pytest.raises(OSError):
        calibrate(sample("bcc-kvmexit-all.txt"), tmp_path / "w.yaml")
    assert list(tmp_path.iterdir()) == []


def test_mapping_override(tmp_path):
    raw = yaml.safe_load(default_mapping_path().read_text())
    raw["reasons"]["MSR_WRITE"] = {"fastpath": 1.0, "kernel": 0.0, "user": 0.0, "source": "test"}
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump(raw))
    res = calibrate(sample("bcc-kvmexit-all.txt"), tmp_path / "m.yaml", mapping=mine)
    # (8750 + 0.05*3500 + 700) / 14000
    assert res.shares["fastpath"] == pytest.approx((8750 + 175 + 700) / 14000)
    raw["reasons"]["MSR_WRITE"]["kernel"] = 0.5
    mine.write_text(yaml.safe_dump(raw))
    with pytest.raises(InputError, match="reasons.MSR_WRITE: fastpath \\+ kernel \\+ user = 1.5"):
        calibrate(sample("bcc-kvmexit-all.txt"), tmp_path / "n.yaml", mapping=mine)


def test_shipped_mapping_is_complete():
    mp = load_mapping()
    for reason in ("MSR_WRITE", "PREEMPTION_TIMER", "HLT", "IO_INSTRUCTION", "EPT_MISCONFIG",
                   "EXTERNAL_INTERRUPT", "XSETBV", "EXCEPTION_NMI", "UNATTRIBUTED"):
        assert mp.known(reason), reason
    assert mp.shares("PREEMPTION_TIMER").fastpath == 1.0
    assert all(s.source for s in mp.reasons.values())
    assert set(mp.debugfs_parts.values()) <= set(mp.reasons)
