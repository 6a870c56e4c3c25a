"""``amxmodel main [--out reports] [--set K=V] [--scenario S] [--all]``: the main job.

Executes ``notebooks/01_sync_overhead.ipynb`` with papermill ("read XFD after every VM
exit: how much overhead does it create?", 87k0h85m65.ffs@tglx), with ``out_dir`` set to
the reports folder and ``scenario``/``sets`` from ``--scenario``/``--set``, so the
notebook exports its charts there as PNG, SVG and 72-column text and drafts
``reply.txt``, a plain-text reply to the seed mail. The executed notebook is kept beside
them and rendered to HTML that loads nothing from the network (charts are static SVG,
formulas are Unicode text, no script or stylesheet from a CDN). ``--all`` runs every
notebook and writes ``index.html`` linking each executed notebook's HTML and its charts.
Prints every file it wrote; on a terminal, one progress line per step. On a fresh machine
without a ``python3`` kernelspec it installs one for this interpreter first.

Exit status 0 on success, 1 when the notebook fails (the executed notebook, with the
error, is kept in the reports folder), 2 on bad input.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from amxmodel.cli.options import add_force_arg, add_scenario_args
from amxmodel.common.atomicio import TMP_MARK, write_text
from amxmodel.common.datafiles import notebooks_dir
from amxmodel.common.errors import InputError
from amxmodel.common.outdirs import HELD_ENV, check_out_dir, output_folder

MAIN_NOTEBOOK = "01_sync_overhead.ipynb"
# <script src="http..."> and <link href="http..."> (nbconvert's require.js, MathJax, fonts)
_EXTERNAL = re.compile(r"<script\b[^>]*\bsrc=[\"']?(?:https?://[^>]*|[\"'])>\s*</script>"
                       r"|<link\b[^>]*\bhref=[\"']?https?://[^>]*>", re.IGNORECASE)
# inline scripts that load code from a URL (nbconvert's mermaid loader: import("https://..."))
_LOADER = re.compile(r"<script\b[^>]*>(?:(?!</script>).)*?\bimport\(\s*[\"'`]https?://.*?</script>",
                     re.IGNORECASE | re.DOTALL)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``amxmodel main``."""
    p.add_argument("--out", default="reports", metavar="DIR",
                   help="reports folder (default: reports): a new or empty one, or one amxmodel "
                        "wrote before")
    add_force_arg(p, "--out")
    p.add_argument("--scenario", default="default", metavar="NAME",
                   help="scenario file or name under data/scenarios (default: default)")
    add_scenario_args(p)
    p.add_argument("--all", action="store_true",
                   help="run every notebook (00 to 04), not only 01, and write index.html "
                        "linking each one's HTML and charts")


def ensure_kernel(name: str = "python3") -> str:
    """The kernelspec ``name``'s folder; installed for this interpreter when missing."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        return KernelSpecManager().get_kernel_spec(name).resource_dir
    except NoSuchKernel:
        from ipykernel.kernelspec import install

        path = install(user=True, kernel_name=name)
        print(f"installed kernelspec {name} for {sys.executable} in {path}")
        return path


def offline_html(body: str) -> str:
    """``body`` without any script or stylesheet loaded from an http(s) URL."""
    return _LOADER.sub("", _EXTERNAL.sub("", body))


def render_html(notebook: Path, html: Path) -> Path:
    """The executed notebook as a standalone HTML page that needs no network (written whole)."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter()
    exporter.mathjax_url = ""  # the notebooks write formulas as Unicode text
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4))
    return write_text(html, offline_html(body))


def _progress(message: str) -> None:
    """One line on stderr when it is a terminal (quiet in pipes, logs and tests)."""
    if sys.stderr.isatty():
        print(message, file=sys.stderr, flush=True)


def run_main(out: str | Path, notebook: Path | None = None, scenario: str = "default",
             sets: Sequence[str] = (), force: bool = False) -> list[Path]:
    """Execute ``notebook`` (the shipped main notebook) into ``out`` with ``scenario`` and
    ``sets``, and render it; return the files now in ``out``. ``out`` follows the
    output-folder rule (:mod:`amxmodel.common.outdirs`)."""
    notebook = notebook or notebooks_dir() / MAIN_NOTEBOOK
    from amxmodel.inputs.scenario import load_scenario
    from amxmodel.runs.notebook_points import KERNEL_NAME, execute_notebook

    check_out_dir(out, "--out")
    if not notebook.is_file():
        raise InputError(f"{notebook}: no such notebook (the package was installed without its notebooks)")
    load_scenario(scenario, list(sets))  # a bad --set or --scenario stops here, nothing run
    scenario_ref = str(Path(scenario).resolve()) if Path(scenario).suffix in (".yaml", ".yml") \
        else scenario
    with output_folder(out, "--out", force) as folder:
        executed = folder.path / notebook.name
        html_path = executed.with_suffix(".html")
        folder.claim([executed.name, html_path.name])
        ensure_kernel(KERNEL_NAME)
        folder.ensure()  # created and locked now: the notebook writes into it
        before = {p: p.stat().st_mtime_ns for p in folder.path.iterdir()}
        tmp = folder.path / f".{notebook.stem}{TMP_MARK}{os.getpid()}.ipynb"
        held = os.environ.get(HELD_ENV)
        os.environ[HELD_ENV] = str(folder.path.resolve())  # the notebook's export: no 2nd lock
        _progress(f"main: running {notebook.name} ...")
        try:
            execute_notebook(notebook, tmp, {"out_dir": str(folder.path), "scenario": scenario_ref,
                                             "sets": list(sets)})
        finally:
            if held is None:
                os.environ.pop(HELD_ENV, None)
            else:
                os.environ[HELD_ENV] = held
            if tmp.exists():  # kept whole, failed or not
                folder.own([executed.name])
                os.replace(tmp, executed)
        _progress(f"main: rendering {html_path.name}")
        folder.own([html_path.name])
        render_html(executed, html_path)
        return sorted(p for p in folder.path.iterdir() if not p.name.startswith(".")
                      and before.get(p) != p.stat().st_mtime_ns)


def index_page(out: Path, notebooks: Sequence[Path], how: str = "") -> str:
    """``out/index.html``: each executed notebook's HTML and its charts, linked relatively;
    ``how`` says what the notebooks were run with."""
    items = []
    for nb in notebooks:
        prefix = nb.stem.split("_")[0] + "_"
        charts = sorted(p.name for p in out.iterdir() if p.name.startswith(prefix)
                        and p.suffix in (".png", ".svg", ".txt"))
        links = " ".join(f'<a href="{html.escape(c)}">{html.escape(c)}</a>' for c in charts)
        extra = ' <a href="reply.txt">reply.txt</a>' if nb.name == MAIN_NOTEBOOK \
            and (out / "reply.txt").exists() else ""
        items.append(f'<li><a href="{html.escape(nb.stem)}.html">{html.escape(nb.stem)}</a>'
                     f"{extra}<br><small>{links or 'no charts'}</small></li>")
    page = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>amxmodel reports"
            "</title></head>\n<body><h1>amxmodel reports</h1>\n<p>Each notebook executed and "
            "rendered to HTML (no network needed), with the charts it exported.</p>\n"
            f"<p>Run with: <code>{html.escape(how or 'amxmodel main --all')}</code></p>\n<ul>\n"
            + "\n".join(items) + "\n</ul></body></html>\n")
    return page


def run_all(out: str | Path, scenario: str = "default", sets: Sequence[str] = (),
            force: bool = False) -> list[Path]:
    """Every shipped notebook executed into ``out`` and rendered, then ``index.html``."""
    out = Path(out)
    notebooks = sorted(notebooks_dir().glob("*.ipynb"))
    written: list[Path] = []
    for i, nb in enumerate(notebooks, 1):
        _progress(f"main --all: notebook {i} of {len(notebooks)}")
        written += run_main(out, nb, scenario, sets, force)
    how = " ".join(["amxmodel main --all", *([f"--scenario {scenario}"] if scenario != "default"
                                             else []), *(f"--set {s}" for s in sets)])
    with output_folder(out, "--out", force) as folder:
        page = index_page(folder.path, [folder.path / nb.name for nb in notebooks], how)
        written.append(folder.write_text("index.html", page))
    return sorted(set(written))


def run(args: argparse.Namespace) -> int:
    from amxmodel.runs.notebook_points import _papermill

    failed = _papermill("amxmodel main").exceptions.PapermillExecutionError
    t0 = time.perf_counter()
    try:
        if args.all:
            written = run_all(args.out, args.scenario, args.sets, force=args.force)
        else:
            written = run_main(args.out, scenario=args.scenario, sets=args.sets,
                               force=args.force)
    except failed as exc:
        print(f"amxmodel: notebook failed in cell {exc.exec_count}: {exc.ename}: "
              f"{exc.evalue}; executed notebook kept in {Path(args.out).resolve()}",
              file=sys.stderr)
        return 1
    for path in written:
        print(path)
    print(f"main: {len(written)} files in {Path(args.out).resolve()}, "
          f"{time.perf_counter() - t0:.1f} s")
    return 0
