"""Charts and export: files that decode, text that fits a mail, numbers that match the frames.

A fake results directory (the layout ``amxmodel run --out`` writes) with every policy,
skewed overheads spanning five decades and 4,000 hosts per policy (40,000 rows, beyond
altair's 5,000-row limit unless aggregated) stands in for a real run.
"""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from amxmodel.cli import main
from amxmodel.common.errors import InputError
from amxmodel.common.outdirs import MARKER, owned_names
from amxmodel.common.units import format_value
from amxmodel.inputs.designs import POLICY_NAMES
from amxmodel.plot import charts, textchart
from amxmodel.plot import files as export
from amxmodel.plot import frames as chartdata
from amxmodel.plot.textfmt import WIDTH, text_bars, text_sweep, text_table
from amxmodel.plot.theme import POLICY_COLORS, policy_scale, register_theme, use_theme
from amxmodel.runs.caption import scenario_header
from amxmodel.runs.grid import Point
from amxmodel.runs.sweep import write_point

RUN_KINDS = ("overhead", "mechanisms", "hosts", "host_histogram", "memory", "by_class")
HEADER = "scenario default, seed 20211116, rdmsr_xfd=50 cyc, wrmsr_xfd=200 cyc"
CLASSES = ("web", "database", "ai-inference", "hpc", "idle")


def fake_frames(hosts_per_policy: int = 4000) -> dict:
    """Summary, hosts and by_class frames shaped like a run's, plus a sweep and a tornado."""
    rng = np.random.default_rng(7)
    total = {p: 0.0 if p == "no-amx" else 10 ** rng.uniform(-6, -1.3) for p in POLICY_NAMES}
    rows = []
    for p, tot in total.items():
        share = rng.dirichlet(np.ones(len(chartdata.MECHANISMS)))
        rows.append((p, "overhead_fraction", tot, tot * 0.04, "fraction of host CPU"))
        rows += [
            (p, f"overhead_fraction_{m}", tot * s, np.nan, "fraction of host CPU")
            for m, s in zip(chartdata.MECHANISMS, share)
        ]
        amx = 0 if p == "no-amx" else 8192
        rows += [
            (p, "fpstate_bytes_per_vcpu", 4096 + amx * 0.4, np.nan, "bytes"),
            (p, "fpstate_va_bytes_per_vcpu", 8192 + amx, np.nan, "bytes"),
            (p, "fpstate_peak_bytes_per_vcpu", 4096 + amx * 1.5, np.nan, "bytes"),
            (p, "unused_amx_bytes_per_vcpu", amx * 0.3, np.nan, "bytes"),
            (p, "extra_exits_per_vcpu_s", 12.5, 0.3, "exits per vCPU-second"),
        ]
    summary = pd.DataFrame(rows, columns=["policy", "metric", "value", "stderr", "unit"])
    summary.insert(0, "scenario", "default")
    hosts = pd.DataFrame(
        {
            "policy": np.repeat(POLICY_NAMES, hosts_per_policy),
            "host": np.tile(np.arange(hosts_per_policy), len(POLICY_NAMES)),
            "overhead_fraction": np.repeat([total[p] for p in POLICY_NAMES], hosts_per_policy)
            * rng.lognormal(0, 0.6, hosts_per_policy * len(POLICY_NAMES)),
        }
    )
    by_class = pd.DataFrame(
        [
            (p, c, "overhead_fraction_of_vcpu", total[p] * rng.uniform(0.2, 3),
             "fraction of vCPU time")
            for p in POLICY_NAMES
            for c in CLASSES
        ],
        columns=["policy", "workload", "metric", "value", "unit"],
    )
    sweep = pd.DataFrame(
        [
            (
                "default",
                p,
                "overhead_fraction",
                total[p] * x / 50 * (1 + 0.01 * s),
                np.nan,
                "fraction of host CPU",
                x,
                i,
                s,
            )
            for i, x in enumerate((20, 50, 100, 200))
            for s in (1, 2)
            for p in POLICY_NAMES
        ],
        columns=[*chartdata.SUMMARY_COLUMNS, "hardware.rdmsr_xfd_cycles", "point_id", "seed"],
    )
    tornado = pd.DataFrame(
        {
            "parameter": [
                "hardware.rdmsr_xfd_cycles",
                "hardware.exit_kernel_cycles",
                "workloads.web.exits_per_vcpu_s",
            ],
            "low_value": [20, 2000, 100],
            "high_value": [200, 6000, 5000],
            "metric_low": [4e-4, 9e-4, 1e-4],
            "metric_high": [4e-3, 1.1e-3, 8e-3],
            "baseline": [1e-3] * 3,
        }
    )
    meta = {  # the record 'amxmodel run --out' writes as scenario.yaml
        "name": "default",
        "mode": "sample",
        "seed": 20211116,
        "package_version": "0.1.0",
        "scenario": {"hardware": {"name": "spr", "values": {"rdmsr_xfd_cycles": 50.0,
                                                             "wrmsr_xfd_cycles": 200.0}}},
    }
    return {
        "summary": summary,
        "hosts": hosts,
        "by_class": by_class,
        "sweep": sweep,
        "tornado": tornado,
        "scenario": meta,
    }


def write_results_dir(path: Path, frames: dict) -> Path:
    """The files ``amxmodel run --out`` writes."""
    path.mkdir(parents=True)
    for key in ("summary", "hosts", "by_class"):
        frames[key].to_parquet(path / f"{key}.parquet", index=False)
    (path / "scenario.yaml").write_text(yaml.safe_dump(frames["scenario"]))
    return path


@pytest.fixture(scope="module")
def frames() -> dict:
    return fake_frames()


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory, frames) -> Path:
    return write_results_dir(tmp_path_factory.mktemp("run") / "default", frames)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, results_dir) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("export") / "charts"
    return out, export.export_results(results_dir, out)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG after checking every chunk's CRC and inflating the pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, bpp = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            bpp = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color] * depth // 8
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    assert len(zlib.decompress(idat)) == height * (1 + width * bpp)
    return width, height


# ----------------------------------------------------------------------------- export


def test_export_writes_one_file_per_chart_and_format(exported):
    out, paths = exported
    expected = {f"{k}.{ext}" for k in RUN_KINDS for ext in export.FORMATS}
    assert {p.name for p in paths} == expected
    # no staging directory left behind; the marker lists what export wrote
    assert {p.name for p in out.iterdir()} == expected | {MARKER}
    assert owned_names(out) == expected


def test_png_files_decode(exported):
    out, _ = exported
    for kind in RUN_KINDS:
        width, height = png_size((out / f"{kind}.png").read_bytes())
        assert width > 100 and height > 100


def test_svg_files_parse_with_svg_root(exported):
    out, _ = exported
    for kind in RUN_KINDS:
        root = ET.fromstring((out / f"{kind}.svg").read_text())
        assert root.tag.rsplit("}", 1)[-1] == "svg"


def test_text_files_fit_72_ascii_columns_with_header(exported, frames):
    out, _ = exported
    caption = scenario_header(frames["scenario"])
    for kind in RUN_KINDS:
        text = (out / f"{kind}.txt").read_text(encoding="ascii")
        assert all(len(line) <= WIDTH for line in text.splitlines()), kind
        assert " ".join(caption.split()) in " ".join(text.split()), kind  # wrapped, not cut


def _number_after(text: str, label: str) -> float:
    """The first number on the line that starts with ``label`` followed by spaces."""
    line = next(ln for ln in text.splitlines() if re.match(rf"{re.escape(label)}\s", ln))
    return float(re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]\d+)?", line[len(label) :])[0])


def test_text_numbers_match_the_frames(exported, frames):
    out, _ = exported
    s = frames["summary"]
    overhead = (out / "overhead.txt").read_text()
    assert "metric overhead_fraction, % of host CPU" in overhead
    for row in s[s["metric"] == "overhead_fraction"].itertuples():
        assert _number_after(overhead, row.policy) == pytest.approx(row.value * 100, rel=5e-3)
    hosts = (out / "hosts.txt").read_text()
    p50 = frames["hosts"].groupby("policy")["overhead_fraction"].median()
    for policy, value in p50.items():
        assert _number_after(hosts, policy) == pytest.approx(value * 100, rel=5e-3)
    memory = (out / "memory.txt").read_text()
    resident = s[s["metric"] == "fpstate_bytes_per_vcpu"].set_index("policy")["value"]
    for policy, value in resident.items():
        assert f"{policy} " in memory and format_value(value, "bytes") in memory
        assert _number_after(memory, policy) == pytest.approx(value / 1024, rel=0.05)


def test_by_class_text_uses_the_per_vcpu_metric(exported):
    text = (exported[0] / "by_class.txt").read_text()
    assert "metric overhead_fraction_of_vcpu, % of vCPU time" in text


def test_caption_names_every_change_mode_size_seed_version_and_commit():
    record = {"name": "default", "mode": "sample", "seed": 7, "package_version": "0.1.0",
              "git_commit": "0123456789abcdef", "changes": [
                  "fleet.hosts=8", "hardware.rdmsr_xfd_cycles=173", "workloads.*.p_uses_amx=0.05"],
              "scenario": {"fleet": {"values": {"hosts": 8}}, "run": {"steps": 6}}}
    assert scenario_header(record) == (
        "scenario default, sample, 8 hosts x 6 steps, seed 7; changed: "
        "hardware.rdmsr_xfd_cycles=173, workloads.*.p_uses_amx=0.05; "
        "amxmodel 0.1.0, commit 0123456789")
    assert scenario_header({**record, "changes": []}).endswith(
        "seed 7; catalogue defaults; amxmodel 0.1.0, commit 0123456789")


def test_caption_of_a_bare_mapping_lists_its_dotted_keys():
    meta = {"name": "s", "seed": 5, "hardware.rdmsr_xfd_cycles": 80, "swept": ["workload"]}
    assert scenario_header(meta) == ("scenario s, seed 5; swept: workload; "
                                     "changed: hardware.rdmsr_xfd_cycles=80")


def test_catalogue_changes_of_real_scenarios():
    from amxmodel.inputs.scenario import load_scenario
    from amxmodel.runs.caption import catalogue_changes

    assert catalogue_changes(load_scenario(None).raw()) == []
    changed = load_scenario(None, ["hardware.rdmsr_xfd_cycles=173", "workloads.*.p_uses_amx=0.05",
                                   "workloads.web.exits_per_vcpu_s.median=800", "mix.web=0.7"])
    found = catalogue_changes(changed.raw())
    assert "hardware.rdmsr_xfd_cycles=173" in found and "workloads.*.p_uses_amx=0.05" in found
    assert "workloads.web.exits_per_vcpu_s.median=800" in found
    assert any(c.startswith("mix.web=") for c in found)
    assert catalogue_changes(load_scenario(None, ["workload=web"]).raw()) == ["workload=web"]
    # every change is accepted back by --set and reproduces the scenario
    again = load_scenario(None, [c for c in found])
    assert catalogue_changes(again.raw()) == found


def test_scenario_header_tolerates_missing_keys():
    assert scenario_header(None) == "scenario unnamed"
    meta = {"name": "x", "mode": "mean-field"}
    assert scenario_header(meta) == "scenario x, mean-field"


def test_export_from_frames_includes_sweep_and_tornado(tmp_path, frames):
    paths = export.export_results(
        frames, tmp_path / "out", formats="txt,svg", charts=["sweep", "tornado"]
    )
    assert sorted(p.name for p in paths) == ["sweep.svg", "sweep.txt", "tornado.svg", "tornado.txt"]
    sweep = (tmp_path / "out" / "sweep.txt").read_text()
    assert "columns: RDMSR(IA32_XFD) price (cycles)" in sweep
    assert "at 20" in sweep and "at 200" in sweep
    assert all(len(line) <= WIDTH for line in sweep.splitlines())


def test_export_names_files_and_passes_options_to_chart_and_text(tmp_path, frames):
    tornado = {"tornado": frames["tornado"]}
    label = "sync-always minus upstream"
    paths = export.export_results(tornado, tmp_path, formats="txt,svg",
                                  charts={"tornado": "tornado_difference"},
                                  options={"tornado": {"metric": label}})
    assert sorted(p.name for p in paths) == ["tornado_difference.svg", "tornado_difference.txt"]
    assert f"Sensitivity: {label}" in (tmp_path / "tornado_difference.txt").read_text()
    assert label in (tmp_path / "tornado_difference.svg").read_text()
    with pytest.raises(InputError, match="plain name"):
        export.export_results(tornado, tmp_path, formats="txt", charts={"tornado": "../x"})
    paths = export.export_results(tornado, tmp_path, formats="txt", prefix="03_")
    assert [p.name for p in paths] == ["03_tornado.txt"]


def test_mean_field_summary_has_no_host_chart(frames):
    mean_field = frames["summary"][~frames["summary"]["metric"].str.match(r".*_(p50|p99|max)$")]
    kinds = chartdata.available_kinds({"summary": mean_field})
    assert "hosts" not in kinds and "overhead" in kinds
    with_stats = {"summary": pd.concat([mean_field, mean_field.assign(
        metric="overhead_fraction_p50")])}
    assert "hosts" in chartdata.available_kinds(with_stats)


def test_sweep_x_axis_turns_log_when_values_span_two_decades(frames):
    sweep = frames["sweep"]
    key = "hardware.rdmsr_xfd_cycles"
    linear = charts.sweep_chart(sweep).to_dict()
    wide = charts.sweep_chart(sweep.assign(**{key: sweep[key] * sweep[key]})).to_dict()

    def x_scale(spec):
        return spec["layer"][0]["encoding"]["x"]["scale"]

    assert x_scale(linear).get("type") != "log"
    assert x_scale(wide)["type"] == "log"


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda d: None, "no such results directory"),
        (lambda d: d.mkdir(), "no summary.parquet"),
        (lambda d: d.write_text("x"), "not a directory"),
        (
            lambda d: (d.mkdir(), (d / "summary.parquet").write_bytes(b"PAR1 not parquet")),
            "cannot read parquet",
        ),
        (
            lambda d: (
                d.mkdir(),
                pd.DataFrame({"policy": ["upstream"]}).to_parquet(d / "summary.parquet"),
            ),
            "missing column(s) scenario, metric, value",
        ),
    ],
)
def test_bad_results_dir_is_an_input_error_and_writes_nothing(tmp_path, setup, message):
    results, out = tmp_path / "run", tmp_path / "out"
    setup(results)
    with pytest.raises(InputError, match=re.escape(message)) as err:
        export.export_results(results, out)
    assert str(results) in str(err.value)
    assert not out.exists()


@pytest.mark.parametrize("formats", ["pdf", "png,jpeg", ""])
def test_unknown_format_names_the_allowed_ones(tmp_path, results_dir, formats):
    with pytest.raises(InputError, match="allowed: png, svg, txt"):
        export.export_results(results_dir, tmp_path / "out", formats=formats)
    assert not (tmp_path / "out").exists()


def test_unknown_or_impossible_chart_is_an_input_error(tmp_path, results_dir):
    with pytest.raises(InputError, match="unknown chart 'pie'"):
        export.export_results(results_dir, tmp_path / "out", charts=["pie"])
    with pytest.raises(InputError, match="chart 'sweep' needs frame sweep"):
        export.export_results(results_dir, tmp_path / "out", charts=["sweep"])
    assert not (tmp_path / "out").exists()


def test_failed_rendering_leaves_target_as_it_was(tmp_path, results_dir, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    calls = []

    def broken_svg(spec):
        calls.append(spec)
        if len(calls) == 3:
            raise RuntimeError("renderer crashed")
        return "<svg xmlns='http://www.w3.org/2000/svg'/>"

    monkeypatch.setattr(export.vl_convert, "vegalite_to_svg", broken_svg)
    with pytest.raises(RuntimeError, match="renderer crashed"):
        export.export_results(results_dir, out, formats=["svg", "txt"], force=True)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_cli_export_prints_paths(tmp_path, results_dir, capsys):
    out = tmp_path / "out"
    assert (
        main(
            [
                "export",
                str(results_dir),
                "--to",
                str(out),
                "--formats",
                "txt",
                "--charts",
                "overhead,memory",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "overhead.txt"), str(out / "memory.txt")]


@pytest.mark.parametrize(
    "argv", [["{missing}", "--to", "{out}"], ["{results}", "--to", "{out}", "--formats", "gif"]]
)
def test_cli_bad_input_exits_2_with_one_line_and_no_files(tmp_path, results_dir, capsys, argv):
    names = {"missing": tmp_path / "nope", "out": tmp_path / "out", "results": results_dir}
    assert main(["export", *(a.format(**names) for a in argv)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("amxmodel: error: ") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- charts


@pytest.mark.parametrize("kind", list(chartdata.CHART_KINDS))
def test_every_chart_has_title_subtitle_and_small_data(frames, kind):
    spec = charts.build_chart(kind, frames, HEADER).to_dict()
    assert spec["title"]["text"]
    assert spec["title"]["subtitle"][-1] == HEADER and len(spec["title"]["subtitle"]) >= 2
    assert all(len(rows) <= 5000 for rows in spec.get("datasets", {}).values())


def test_log_overhead_chart_drops_zero_and_starts_bars_below_the_smallest(frames):
    spec = charts.overhead_chart(frames["summary"], log=True).to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert "no-amx" not in {r["policy"] for r in rows}
    assert all(0 < r["base"] <= r["shown"] for r in rows)


def _two_key_sweep(sweep: pd.DataFrame) -> pd.DataFrame:
    """The sweep repeated for two workload classes (a second swept key, like the shipped grid)."""
    return pd.concat([sweep.assign(workload="web"),
                      sweep.assign(workload="hpc", value=sweep["value"] * 10)], ignore_index=True)


def test_sweep_averages_seeds_facets_a_second_key_refuses_a_third(frames):
    table, param, facet = chartdata.sweep_table(frames["sweep"])
    assert (param, facet) == ("hardware.rdmsr_xfd_cycles", None)
    assert len(table) == 4 * len(POLICY_NAMES)  # two seeds averaged per point and policy
    two = _two_key_sweep(frames["sweep"])
    table, param, facet = chartdata.sweep_table(two)
    assert (param, facet) == ("hardware.rdmsr_xfd_cycles", "workload")
    three = two.assign(**{"hardware.wrmsr_xfd_cycles": two["seed"] * 100})
    with pytest.raises(InputError, match="also varies hardware.wrmsr_xfd_cycles"):
        chartdata.sweep_table(three, "hardware.rdmsr_xfd_cycles", facet="workload")


def test_text_sweep_marks_where_policies_cross_thresholds(frames):
    text = textchart.chart_text("sweep", frames, HEADER)
    assert "reaches 0.1 %" in text and "reaches 1 %" in text
    assert all(len(line) <= WIDTH for line in text.splitlines())


def test_two_key_sweep_draws_one_panel_per_value(frames):
    two = {"sweep": _two_key_sweep(frames["sweep"])}
    spec = charts.build_chart("sweep", two, HEADER).to_dict()
    assert spec["facet"]["field"] == "panel" and spec["facet"]["title"] == "workload class"
    text = textchart.chart_text("sweep", two, HEADER)
    assert "workload class: web" in text and "workload class: hpc" in text
    assert all(len(line) <= WIDTH for line in text.splitlines())


def test_export_reads_a_sweep_directory(tmp_path, frames):
    points = tmp_path / "sweep" / "points"
    points.mkdir(parents=True)
    for pid, grp in frames["sweep"].groupby("point_id"):
        grp = grp.assign(point_id=f"p{pid}")
        write_point(points / f"p{pid}.parquet", grp, Point(f"p{pid}", {}, 5))
    (tmp_path / "sweep" / "sweep.yaml").write_text(yaml.safe_dump(
        {"grid_file": "data/sweeps/rdmsr.yaml", "grid": {"scenario": "default", "seed": 5}}))
    paths = export.export_results(tmp_path / "sweep", tmp_path / "out", formats="txt")
    assert [p.name for p in paths] == ["sweep.txt"]
    assert "scenario default (sweep rdmsr), seed 5" in paths[0].read_text()


# ----------------------------------------------------------------------------- theme


def test_theme_colors_are_fixed_per_policy():
    assert list(POLICY_COLORS) == list(POLICY_NAMES)
    assert len(set(POLICY_COLORS.values())) == len(POLICY_NAMES)
    assert POLICY_COLORS["upstream"] == "#0072B2" and POLICY_COLORS["sync-always"] == "#D55E00"
    assert POLICY_COLORS["no-amx"] == "#9E9E9E"
    subset = policy_scale(["no-amx", "upstream"]).to_dict()
    assert subset == {"domain": ["upstream", "no-amx"], "range": ["#0072B2", "#9E9E9E"]}


def test_chart_colors_do_not_depend_on_which_policies_are_shown(frames):
    s = frames["summary"]
    few = s[s["policy"].isin(["rfc-switch", "sync-always"])]
    spec = charts.overhead_chart(few).to_dict()
    scale = spec["layer"][0]["encoding"]["color"]["scale"]
    assert scale == {
        "domain": ["sync-always", "rfc-switch"],
        "range": [POLICY_COLORS["sync-always"], POLICY_COLORS["rfc-switch"]],
    }


def test_theme_registers_and_restores_the_previous_one():
    before = alt.theme.active
    with use_theme() as name:
        assert alt.theme.active == name == register_theme()
        assert alt.Chart().mark_point().to_dict()["background"] == "white"
    assert alt.theme.active == before


# ----------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    "value, unit, text",
    [
        (0.00012, "fraction of host CPU", "0.012 %"),
        (0.0, "fraction", "0 %"),
        (3174, "bytes", "3.1 KiB"),
        (0.5, "GiB", "512 MiB"),
        (12.5, "exits per vCPU-second", "12.5 exits/vCPU-s"),
        (float("nan"), "bytes", "-"),
        (2.5e-9, "fraction", "2.5e-07 %"),
    ],
)
def test_format_value(value, unit, text):
    assert format_value(value, unit) == text


labels = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=0, max_size=90)
values = st.floats(min_value=0, max_value=1e12, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(labels, values), min_size=1, max_size=12), st.booleans())
def test_text_outputs_never_exceed_72_columns(rows, log):
    names, nums = [r[0] for r in rows], [r[1] for r in rows]
    table = pd.DataFrame(
        {
            "name": names,
            "a": nums,
            "b": nums,
            "c": nums,
            "d": nums,
            "e": nums,
            "a very long column name indeed": nums,
        }
    )
    sweep = text_sweep(
        list(range(len(nums))), {n: nums for n in names}, param=names[0], unit="fraction", log=log
    )
    for text in (
        text_table(table, {"a": "fraction", "b": "bytes"}),
        text_bars(names, nums, unit="bytes", log=log),
        sweep,
    ):
        assert all(len(line) <= WIDTH for line in text.splitlines())


# ----------------------------------------------------------------------------- one caption


def test_a_changed_parameter_is_in_every_exported_file(tmp_path, capsys):
    """Run with one value changed, export: the table, the parquet metadata and every chart
    file (text, SVG, PNG metadata) name the new value; none claims the catalogue defaults."""
    run_dir, charts_dir = tmp_path / "run", tmp_path / "charts"
    changed = "workloads.*.p_uses_amx=0.35"
    assert main(["run", "--set", "fleet.hosts=8", "--set", "run.steps=6", "--set", changed,
                 "--out", str(run_dir)]) == 0
    assert changed in " ".join(capsys.readouterr().out.split())
    for name in ("summary", "hosts", "by_class"):
        assert changed in pd.read_parquet(run_dir / f"{name}.parquet").attrs["caption"]
    assert main(["export", str(run_dir), "--to", str(charts_dir)]) == 0
    files = sorted(p for p in charts_dir.iterdir() if p.name != MARKER)
    assert {p.suffix for p in files} == {".png", ".svg", ".txt"} and len(files) >= 18
    for path in files:
        text = export.png_text(path.read_bytes()).get("Description", "") \
            if path.suffix == ".png" else path.read_text()
        flat = " ".join(text.split())
        assert changed in flat and "catalogue defaults" not in flat, path.name


def test_export_help_documents_two_parameter_sweeps(capsys):
    assert main(["export", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--param" in help_text and "--facet" in help_text and "two parameters" in help_text


def test_export_charts_a_sweep_of_two_numeric_parameters(tmp_path, frames):
    from amxmodel.runs.sweep import read_points, run_sweep

    grid = {"scenario": "default", "mode": "mean-field", "set": ["fleet.hosts=4"],
            "grid": {"hardware.rdmsr_xfd_cycles": [20, 200],
                     "hardware.wrmsr_xfd_cycles": [100, 1000]}}
    assert run_sweep(grid, tmp_path / "sweep", progress=False).exit_status == 0
    sweep = read_points(tmp_path / "sweep")
    assert main(["export", str(tmp_path / "sweep"), "--to", str(tmp_path / "out"),
                 "--formats", "txt,svg", "--facet", "hardware.wrmsr_xfd_cycles"]) == 0
    text = (tmp_path / "out" / "sweep.txt").read_text()
    assert "WRMSR(IA32_XFD) price (cycles): 100" in text and "price (cycles): 1000" in text
    spec = charts.build_chart("sweep", {"sweep": sweep}, HEADER).to_dict()  # no --facet needed
    assert spec["facet"]["field"] == "panel"


def test_a_sweep_folder_has_an_index_by_parameter_values(tmp_path):
    from amxmodel.runs.sweep import run_sweep

    grid = {"scenario": "default", "mode": "mean-field", "seeds": [1],
            "set": ["fleet.hosts=8"], "grid": {"hardware.rdmsr_xfd_cycles": [20, 200]}}
    run_sweep(grid, tmp_path / "sw", jobs=1, progress=False)
    index = pd.read_csv(tmp_path / "sw" / "index.csv")
    assert list(index["hardware.rdmsr_xfd_cycles"]) == [20, 200]
    assert all((tmp_path / "sw" / f).is_file() for f in index["file"])


def test_a_sweep_never_replaces_a_users_index_file(tmp_path, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text("mode: mean-field\nset: [fleet.hosts=4]\n"
                    "grid: {hardware.rdmsr_xfd_cycles: [20]}\n")
    out = tmp_path / "sw"
    out.mkdir()
    (out / "index.csv").write_text("mine\n")
    assert main(["sweep", str(grid), "--out", str(out), "--force", "--jobs", "1"]) == 2
    assert "index.csv" in capsys.readouterr().err
    assert (out / "index.csv").read_text() == "mine\n"
