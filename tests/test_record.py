"""The reproducibility record: ``run --from A`` repeats the run recorded in A bit for bit."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from amxmodel.cli import main
from amxmodel.runs.record import load_record

FRAMES = ("summary.parquet", "hosts.parquet", "by_class.parquet")


@pytest.mark.parametrize("mode", ["sample", "mean-field"])
def test_run_from_a_record_is_bit_identical(tmp_path, capsys, mode):
    a, b = tmp_path / "A", tmp_path / "B"
    assert main(["run", "--set", "fleet.hosts=6", "--set", "run.steps=3", "--set", "workload=web",
                 "--set", "hardware.rdmsr_xfd_cycles=77", "--seed", "11", "--mode", mode,
                 "--out", str(a)]) == 0
    assert main(["run", "--from", str(a), "--out", str(b)]) == 0
    capsys.readouterr()
    for name in FRAMES:
        pd.testing.assert_frame_equal(pd.read_parquet(b / name), pd.read_parquet(a / name),
                                      check_exact=True)
    assert (a / "scenario.yaml").read_text() == (b / "scenario.yaml").read_text()


def test_the_record_holds_everything_needed(tmp_path, capsys):
    assert main(["run", "--mode", "mean-field", "--set", "fleet.hosts=2", "--seed", "5",
                 "--out", str(tmp_path / "A")]) == 0
    rec = yaml.safe_load((tmp_path / "A" / "scenario.yaml").read_text())
    assert {"scenario", "mode", "seed", "package_version", "git_commit"} <= set(rec)
    loaded = load_record(tmp_path / "A")
    assert (loaded.mode, loaded.seed, loaded.scenario.fleet["hosts"]) == ("mean-field", 5, 2)


@pytest.mark.parametrize("edit, words", [
    (lambda r: {**r, "mode": "exact"}, ["scenario.yaml", "mode 'exact'", "allowed: sample"]),
    (lambda r: {**r, "seed": -3}, ["scenario.yaml", "seed -3", "allowed"]),
    (lambda r: {**r, "scenario": {"hardware": "spr"}}, ["scenario.yaml", "resolved scenario"]),
    (lambda r: {**r, "scenario": {**r["scenario"], "run": {"steps": 0}}},
     ["scenario.yaml", "'steps' = 0 is out of range", "allowed: 1 to"]),
    (lambda r: {**r, "scenario": {**r["scenario"], "fleet": {"values": {}}}},
     ["scenario.yaml", "mix"]),
])
def test_a_bad_record_is_one_clear_error(tmp_path, capsys, edit, words):
    a = tmp_path / "A"
    assert main(["run", "--mode", "mean-field", "--set", "fleet.hosts=2", "--out", str(a)]) == 0
    rec = yaml.safe_load((a / "scenario.yaml").read_text())
    (a / "scenario.yaml").write_text(yaml.safe_dump(edit(rec)))
    capsys.readouterr()
    assert main(["run", "--from", str(a), "--out", str(tmp_path / "B")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    for word in words:
        assert word in err, err
    assert not (tmp_path / "B").exists()
