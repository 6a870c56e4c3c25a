"""Research notebooks: committed clean, one parameters cell each, run under papermill; the main job.

Every notebook runs on small parameters (seconds of model time; the kernel start dominates).
Parameters reach the model: the summary a notebook saves equals a direct ``model.run`` with
the same overrides, and repricing RDMSR moves exactly the RDMSR share of the overhead.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import papermill as pm
import pytest
from papermill.exceptions import PapermillExecutionError

from amxmodel.cli import main
from amxmodel.cli import mainjob as maincli
from amxmodel.common.outdirs import MARKER, owned_names
from amxmodel.plot.files import png_text
from amxmodel.runs.notebook_params import check_parameters
from amxmodel.runs.notebook_points import PARAMETERS, execute_notebook
from amxmodel.runs.run import run

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))
START_TIMEOUT_S = 300  # kernels start slowly on a loaded machine
SMALL = ["fleet.hosts=8", "run.steps=6"]
FAST = {  # small, fast parameters per notebook (beyond out_dir and results_path)
    "00_index": {},
    "01_sync_overhead": {"hosts": 8, "steps": 6},
    "02_memory_and_realloc": {"hosts": 8, "steps": 6, "lifetimes_s": [600, 86400],
                              "fail_probs": [0.001, 0.01]},
    "03_sensitivity": {},
    "04_fleet_sweep": {"rdmsr_prices": [20, 200], "workloads": ["web", "idle"]},
}


def execute(nb: Path, out: Path, **parameters) -> nbformat.NotebookNode:
    execute_notebook(nb, out, parameters, start_timeout=START_TIMEOUT_S)
    return nbformat.read(out, as_version=4)


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


# ----------------------------------------------------------------------------- committed form


def test_the_notebooks_are_there():
    assert [p.stem for p in NOTEBOOKS] == sorted(FAST)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs_with_kernelspec_and_language(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in code_cells(nb):
        assert cell.outputs == [] and cell.execution_count is None
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata["language_info"]["name"] == "python"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_import_only_the_public_api(path):
    """``import amxmodel as amx`` and ``from amxmodel import plot``: no module reaching inside."""
    seen = set()
    for cell in code_cells(nbformat.read(path, as_version=4)):
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Import):
                seen |= {a.name for a in node.names if a.name.startswith("amxmodel")}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("amxmodel"):
                seen |= {f"{node.module}:{a.name}" for a in node.names}
    assert seen <= {"amxmodel", "amxmodel:plot"}, seen
    assert "amxmodel" in seen


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_parameters_cell_then_validation(path):
    cells = code_cells(nbformat.read(path, as_version=4))
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    assert tagged == [0]
    declared = pm.inspect_notebook(str(path))
    assert set(PARAMETERS) <= set(declared)
    assert set(FAST[path.stem]) <= set(declared)
    lines = [ln for ln in cells[0].source.splitlines() if ln.strip()]
    assert len(lines) == len(declared)  # one parameter per line
    assert all(declared[name]["help"] for name in declared)  # each with a '# help' comment
    assert "check_parameters(" in cells[1].source


# ----------------------------------------------------------------------------- execution


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_with_small_parameters_and_exports(path, tmp_path):
    charts, summary = tmp_path / "charts", tmp_path / "summary.parquet"
    nb = execute(path, tmp_path / path.name, out_dir=str(charts), results_path=str(summary),
                 **FAST[path.stem])
    errors = [o for c in code_cells(nb) for o in c.outputs if o.output_type == "error"]
    assert errors == []
    frame = pd.read_parquet(summary)
    assert {"policy", "metric", "value"} <= set(frame.columns) and len(frame)
    files = [p for p in charts.iterdir() if p.name != MARKER]  # the marker lists what was written
    assert {p.suffix for p in files} == {".png", ".svg", ".txt"}
    assert owned_names(charts) == {p.name for p in files}
    prefix = path.stem.split("_")[0] + "_"
    assert all(p.name.startswith(prefix) or p.name in ("reply.txt", MARKER)
               for p in charts.iterdir())
    for text in charts.glob("*.txt"):
        assert max(len(line) for line in text.read_text().splitlines()) <= 72


@pytest.mark.slow
def test_overrides_reach_the_model(tmp_path):
    """The saved summary is model.run's; RDMSR at 200 cycles moves exactly the RDMSR share."""
    nb = NB_DIR / "01_sync_overhead.ipynb"
    saved = {}
    for price in (50, 200):
        path = tmp_path / f"{price}.parquet"
        execute(nb, tmp_path / f"{price}.ipynb", hosts=8, steps=6, out_dir="",
                results_path=str(path), sets=[f"hardware.rdmsr_xfd_cycles={price}"])
        saved[price] = pd.read_parquet(path).set_index(["policy", "metric"])["value"]
    direct = run(check_parameters("default", [f"hardware.rdmsr_xfd_cycles={200}"], "sample",
                                  20211116, fixed=SMALL), progress=False)
    assert np.allclose(saved[200], direct.summary.set_index(["policy", "metric"])["value"],
                       equal_nan=True)
    share = ("upstream", "overhead_fraction_rdmsr_xfd")
    assert saved[200][share] == pytest.approx(4 * saved[50][share], rel=1e-12)
    same = ("upstream", "rdmsr_xfd_per_vcpu_s")  # same events (common random numbers)
    assert saved[200][same] == saved[50][same]
    assert saved[200][("upstream", "overhead_fraction")] > saved[50][("upstream", "overhead_fraction")]


@pytest.mark.slow
def test_a_bad_parameter_stops_at_the_validation_cell(tmp_path):
    with pytest.raises(PapermillExecutionError) as info:
        execute(NB_DIR / "00_index.ipynb", tmp_path / "bad.ipynb", mode="samples")
    assert info.value.ename == "InputError"
    assert "unknown mode 'samples'" in info.value.evalue and "allowed" in info.value.evalue
    nb = nbformat.read(tmp_path / "bad.ipynb", as_version=4)
    failed = [c for c in code_cells(nb) if any(o.output_type == "error" for o in c.outputs)]
    assert "check_parameters(" in failed[0].source


# ----------------------------------------------------------------------------- the main job


_REMOTE = re.compile(r"<script\b[^>]*\bsrc=[\"']?https?:|<link\b[^>]*\bhref=[\"']?https?:"
                     r"|import\(\s*[\"'`]https?:|@import\s+url\(\s*[\"']?https?:", re.IGNORECASE)


@pytest.mark.slow
def test_main_with_a_set_shows_it_everywhere_and_drafts_the_reply(tmp_path, capsys):
    reports = tmp_path / "reports"
    assert main(["main", "--out", str(reports), "--set", "hardware.rdmsr_xfd_cycles=173"]) == 0
    files = sorted(p for p in reports.iterdir() if p.name != MARKER)
    assert {p.suffix for p in files} == {".ipynb", ".html", ".png", ".svg", ".txt"}
    assert owned_names(tmp_path / "reports") == {p.name for p in files}  # main's and export's
    printed = capsys.readouterr().out
    assert all(str(p) in printed for p in files)
    nb = nbformat.read(reports / "01_sync_overhead.ipynb", as_version=4)
    assert not [o for c in code_cells(nb) for o in c.outputs if o.output_type == "error"]
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert str(reports.resolve()) in injected[0].source
    html = (reports / "01_sync_overhead.html").read_text()
    charts = html.count("data:image/svg+xml") + html.count("<svg")
    assert charts >= 5  # charts drawn into the page: no kernel or network needed
    assert "01_breakeven.txt" in {p.name for p in files}
    assert re.search(r"main: \d+ files in .*, [\d.]+ s", printed)
    # the changed value is in every chart file, the HTML and the reply
    for path in files:
        if path.suffix in (".txt", ".svg", ".html"):
            assert "173" in path.read_text(), path.name
        if path.suffix == ".png":
            caption = png_text(path.read_bytes())["Description"]
            assert "hardware.rdmsr_xfd_cycles=173" in caption, path.name
    assert not _REMOTE.search(html)
    reply = (reports / "reply.txt").read_text()
    assert max(len(line) for line in reply.splitlines()) <= 72 and reply.isascii()
    assert "87k0h85m65.ffs@tglx" in reply and "> I'd rather start simple" in reply
    assert "--set hardware.rdmsr_xfd_cycles=173" in reply and "RDMSR(XFD) 173 cycles" in reply
    assert "Assumptions that move" in reply and "Memory:" in reply


@pytest.mark.slow
def test_main_all_writes_an_index_of_every_notebook(tmp_path, monkeypatch, capsys):
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    for name in ("00_index.ipynb", "04_fleet_sweep.ipynb"):  # two quick ones stand for all
        (shipped / name).write_bytes((NB_DIR / name).read_bytes())
    monkeypatch.setattr(maincli, "notebooks_dir", lambda: shipped)
    reports = tmp_path / "reports"
    assert main(["main", "--all", "--out", str(reports), "--set", "fleet.hosts=8"]) == 0
    index = (reports / "index.html").read_text()
    for stem in ("00_index", "04_fleet_sweep"):
        assert f'href="{stem}.html"' in index and (reports / f"{stem}.html").is_file()
    assert 'href="04_sweep.png"' in index
    for page in reports.glob("*.html"):
        assert not _REMOTE.search(page.read_text()), page.name
    assert "changed: fleet.hosts=8" in " ".join((reports / "04_sweep.txt").read_text().split())


def test_offline_html_drops_remote_scripts_and_stylesheets():
    page = ('<script src="https://cdn/x.js"></script><link rel="stylesheet" href="http://a/b.css">'
            '<script type="module">const m = await import("https://cdn/mermaid.mjs");</script>'
            '<script>var local = 1;</script><p>kept</p>')
    out = maincli.offline_html(page)
    assert not _REMOTE.search(out) and "var local = 1" in out and "<p>kept</p>" in out


def test_main_refuses_a_file_as_out(tmp_path, capsys):
    target = tmp_path / "reports"
    target.write_text("not a folder")
    assert main(["main", "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("amxmodel: error: --out") and "not a folder" in err
    assert target.read_text() == "not a folder"


def test_a_missing_kernelspec_is_installed_for_this_interpreter(monkeypatch, tmp_path):
    from ipykernel import kernelspec
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    def missing(self, name):
        raise NoSuchKernel(name)

    calls = []
    monkeypatch.setattr(KernelSpecManager, "get_kernel_spec", missing)
    monkeypatch.setattr(kernelspec, "install",
                        lambda **kw: calls.append(kw) or str(tmp_path / kw["kernel_name"]))
    assert maincli.ensure_kernel("python3") == str(tmp_path / "python3")
    assert calls == [{"user": True, "kernel_name": "python3"}]


def test_the_installed_kernel_is_found():
    spec = Path(maincli.ensure_kernel("python3"))
    argv = json.loads((spec / "kernel.json").read_text())["argv"]
    assert "ipykernel_launcher" in " ".join(argv)


# ----------------------------------------------------------------------------- computed prose

# A number with a unit, or a comparison word, typed into markdown would not follow --set.
_CLAIM = re.compile(r"\d[\d,.]*\s*(?:%|cycles?|KiB|MiB|GiB|bytes|exits|x\b|times)"
                    r"|\b(?:nine in ten|a few (?:thousandths|percent)|order of|highest|barely)\b",
                    re.IGNORECASE)
_FIXED = ("0.1 %", "1 %", "8 KiB")  # the analysis thresholds; XTILEDATA's architectural size


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_markdown_states_no_number_that_depends_on_parameters(path):
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "markdown":
            continue
        text = cell.source
        for fixed in _FIXED:
            text = text.replace(fixed, "")
        assert not _CLAIM.findall(text), (path.stem, _CLAIM.findall(text), cell.source[:200])
        assert "$$" not in text and not re.search(r"\$[^$\s]+\$", text), \
            "formulas as text: the HTML renders offline"
