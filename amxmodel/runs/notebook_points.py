"""Sweep points that execute a research notebook with papermill instead of calling the model.

The notebook's ``parameters`` cell declares what the sweep passes (:data:`PARAMETERS`):
``scenario``, ``sets`` (a list of ``key=value`` overrides), ``mode``, ``seed``,
``results_path`` and ``out_dir``. The sweep passes them as a dict, so papermill does not
guess types from how values look, names the kernel (``python3``) instead of trusting the
notebook's metadata, and gives kernels a longer start timeout than papermill's 60 s
because many start at once. Kernels talk over IPC sockets rather than local TCP ports
(no open ports, no "running over TCP without encryption" warning per point). The notebook hands its summary back with
:func:`amxmodel.save_summary`; the executed notebook is kept, failed or not.
"""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from amxmodel.common.atomicio import TMP_MARK
from amxmodel.common.errors import InputError

if TYPE_CHECKING:
    from amxmodel.runs.grid import PointTask

PARAMETERS = ("scenario", "sets", "mode", "seed", "results_path", "out_dir")
KERNEL_NAME = "python3"
START_TIMEOUT_S = 180


def _papermill(where: str):
    try:
        import papermill
    except ImportError:
        raise InputError(f"{where}: notebook sweeps need papermill: "
                         "pip install 'amxmodel[notebooks]'") from None
    return papermill


def check_notebook(path: Path, names: tuple[str, ...], where: str) -> None:
    """Raise InputError unless ``path`` is a notebook whose ``parameters`` cell declares ``names``."""
    pm = _papermill(where)
    from papermill.utils import find_first_tagged_cell_index, nb_language

    where = f"{where} {path}"
    if not path.is_file():
        raise InputError(f"{where}: no such notebook")
    try:
        from papermill.iorw import load_notebook_node  # fills in the cells' tags

        nb = load_notebook_node(str(path))
    except Exception as exc:  # noqa: BLE001 -- nbformat raises many unrelated types
        raise InputError(f"{where}: not a readable notebook ({exc})") from None
    if find_first_tagged_cell_index(nb, "parameters") < 0:
        raise InputError(f"{where}: no cell tagged 'parameters'; tag the cell that declares "
                         f"{', '.join(names)}")
    try:
        nb_language(nb)
    except ValueError:
        raise InputError(f"{where}: no language in the notebook metadata; keep kernelspec "
                         "(name python3) and language_info when stripping outputs") from None
    declared = pm.inspect_notebook(str(path))
    for name in names:
        if name not in declared:
            raise InputError(f"{where}: parameter '{name}' is not declared in the parameters "
                             f"cell; it must declare {', '.join(names)}")


@functools.cache
def ipc_kernel_manager() -> type:
    """A jupyter kernel manager class whose kernels use IPC sockets instead of TCP."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import CaselessStrEnum, default

    class IPCKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

        @default("ip")
        def _ip_default(self) -> str:  # jupyter's default is ./kernel-ipc: shared by all kernels
            return os.path.join(tempfile.gettempdir(), f"amxmodel-kernel-{uuid.uuid4().hex[:16]}")

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            # The kernel's own log lines ("Parent appears to have exited" after a Ctrl-C of
            # amxmodel) are not the user's: cell errors reach the executed notebook anyway.
            kw.setdefault("stderr", subprocess.DEVNULL)
            return await super()._async_launch_kernel(kernel_cmd, **kw)

    return IPCKernelManager


def execute_notebook(notebook: str | Path, output: str | Path, parameters: dict[str, Any],
                     start_timeout: float = START_TIMEOUT_S) -> None:
    """Run ``notebook`` with papermill into ``output``: kernel ``python3`` over IPC, run in the
    notebook's folder, parameters injected as plain data (raises papermill's errors)."""
    pm = _papermill(str(notebook))
    pm.execute_notebook(str(notebook), str(output), parameters=parameters,
                        kernel_name=KERNEL_NAME, cwd=str(Path(notebook).parent),
                        progress_bar=False, start_timeout=start_timeout,
                        kernel_manager_class=ipc_kernel_manager())


def notebook_parameters(task: PointTask, results_path: Path) -> dict[str, Any]:
    """What papermill injects for one point (plain data, passed as a dict)."""
    return {"scenario": task.scenario, "sets": list(task.sets), "mode": task.mode,
            "seed": int(task.point.seed), "results_path": str(results_path.resolve()),
            "out_dir": ""}


def run_notebook_point(task: PointTask) -> pd.DataFrame:
    """Execute the notebook for one point; return the summary it saved to ``results_path``."""
    pid = task.point.point_id
    nb_dir, pts_dir = task.out_dir / "notebooks", task.out_dir / "points"
    nb_dir.mkdir(parents=True, exist_ok=True)
    tmp_nb = nb_dir / f".{pid}{TMP_MARK}{os.getpid()}.ipynb"
    results = pts_dir / f".{pid}{TMP_MARK}{os.getpid()}-nb.parquet"
    results.unlink(missing_ok=True)
    try:
        execute_notebook(task.notebook, tmp_nb, notebook_parameters(task, results))
        if not results.exists():
            raise RuntimeError(f"{task.notebook.name} did not write its summary to results_path; "
                               "it should call amxmodel.save_summary(res, results_path)")
        return pd.read_parquet(results)
    finally:
        if tmp_nb.exists():  # kept whole, failed or not, for inspection
            os.replace(tmp_nb, nb_dir / f"{pid}.ipynb")
        results.unlink(missing_ok=True)
