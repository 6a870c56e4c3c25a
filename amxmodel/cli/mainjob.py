"""``amxmodel main [--out reports]``: the main job, the seed question answered end to end.

Executes ``notebooks/01_sync_overhead.ipynb`` with papermill on its defaults ("read XFD
after every VM exit: how much overhead does it create?", 87k0h85m65.ffs@tglx), with
``out_dir`` set to the reports folder, so the notebook exports its charts there as PNG,
SVG and 72-column text. The executed notebook is kept beside them and rendered to HTML
(charts are static SVG inside it: the page needs no kernel and no network). Prints every
file it wrote. On a fresh machine without a ``python3`` kernelspec it installs one for
this interpreter first.

Exit status 0 on success, 1 when the notebook fails (the executed notebook, with the
error, is kept in the reports folder), 2 on bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from amxmodel.cli.options import add_force_arg
from amxmodel.common.atomicio import TMP_MARK, write_text
from amxmodel.common.datafiles import notebooks_dir
from amxmodel.common.errors import InputError
from amxmodel.common.outdirs import HELD_ENV, check_out_dir, output_folder

MAIN_NOTEBOOK = "01_sync_overhead.ipynb"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``amxmodel main``."""
    p.add_argument("--out", default="reports", metavar="DIR",
                   help="reports folder (default: reports): a new or empty one, or one amxmodel "
                        "wrote before")
    add_force_arg(p, "--out")


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


def render_html(notebook: Path, html: Path) -> Path:
    """The executed notebook as a standalone HTML page (written whole)."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    return write_text(html, body)


def run_main(out: str | Path, notebook: Path | None = None, force: bool = False) -> list[Path]:
    """Execute ``notebook`` (the shipped main notebook) into ``out`` and render it; return the
    files now in ``out``. ``out`` follows the output-folder rule
    (:mod:`amxmodel.common.outdirs`)."""
    notebook = notebook or notebooks_dir() / MAIN_NOTEBOOK
    from amxmodel.runs.notebook_points import KERNEL_NAME, execute_notebook

    check_out_dir(out, "--out")
    if not notebook.is_file():
        raise InputError(f"{notebook}: no such notebook (the package was installed without its notebooks)")
    with output_folder(out, "--out", force) as folder:
        executed = folder.path / notebook.name
        html = executed.with_suffix(".html")
        folder.claim([executed.name, html.name])
        ensure_kernel(KERNEL_NAME)
        folder.ensure()  # created and locked now: the notebook writes into it
        before = {p: p.stat().st_mtime_ns for p in folder.path.iterdir()}
        tmp = folder.path / f".{notebook.stem}{TMP_MARK}{os.getpid()}.ipynb"
        held = os.environ.get(HELD_ENV)
        os.environ[HELD_ENV] = str(folder.path.resolve())  # the notebook's export: no 2nd lock
        try:
            execute_notebook(notebook, tmp, {"out_dir": str(folder.path)})
        finally:
            if held is None:
                os.environ.pop(HELD_ENV, None)
            else:
                os.environ[HELD_ENV] = held
            if tmp.exists():  # kept whole, failed or not
                folder.own([executed.name])
                os.replace(tmp, executed)
        folder.own([html.name])
        render_html(executed, html)
        return sorted(p for p in folder.path.iterdir() if not p.name.startswith(".")
                      and before.get(p) != p.stat().st_mtime_ns)


def run(args: argparse.Namespace) -> int:
    from amxmodel.runs.notebook_points import _papermill

    failed = _papermill("amxmodel main").exceptions.PapermillExecutionError
    t0 = time.perf_counter()
    try:
        written = run_main(args.out, force=args.force)
    except failed as exc:
        print(f"amxmodel: {MAIN_NOTEBOOK} failed in cell {exc.exec_count}: {exc.ename}: "
              f"{exc.evalue}; executed notebook kept in {Path(args.out).resolve()}",
              file=sys.stderr)
        return 1
    for path in written:
        print(path)
    print(f"main: {len(written)} files in {Path(args.out).resolve()}, "
          f"{time.perf_counter() - t0:.1f} s")
    return 0
