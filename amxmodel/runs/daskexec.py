"""Where the units of work run, part 2: a ``dask.distributed`` cluster.

:class:`Dask` runs the same ``map_ordered(fn, items)`` as the local executors of
:mod:`amxmodel.runs.executors` on a cluster given as a client, a scheduler address
(``--scheduler tcp://host:8786``) or a number of local worker processes (``--dask-local
N``, a ``LocalCluster``). Every item is submitted under its own key, so dask's cache of
pure calls never hands one item's result to another; the seed travels inside the item. A
worker that dies mid-task has its tasks rescheduled by dask (a nanny restarts it); a task
that raised runs again up to ``retries`` times. dask is optional: nothing here imports it
until a cluster is asked for, and then a missing install is an InputError that names
``pip install 'amxmodel[cluster]'``.

Before dask connects to ``--scheduler``, :func:`probe_scheduler` opens the address itself
and reads what answers: a dask scheduler greets a new connection at once with a
length-prefixed handshake. Anything else (an SSH banner, which dask would read as a
2.8 EiB frame length; an HTTP server, which waits for a request and made dask hang) ends
with one line saying what answered, within :data:`PROBE_S` seconds.
"""

from __future__ import annotations

import logging
import socket
import struct
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from amxmodel.common.errors import InputError
from amxmodel.runs.executors import CLUSTER_EXTRA, RETRIES, BaseExecutor

if TYPE_CHECKING:
    from tqdm import tqdm
    from typing_extensions import Self

CONNECT_TIMEOUT_S = 10.0
PROBE_S = 5.0
MAX_HANDSHAKE = 2**20  # a dask handshake's first frame lengths are a few hundred bytes


def _host_port(address: str) -> tuple[str, int] | None:
    """Host and port of a ``tcp://host:port`` (or ``host:port``) address; None for others."""
    rest = address.removeprefix("tcp://")
    if "://" in rest:
        return None
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]") or "127.0.0.1", int(port)


def probe_scheduler(address: str, timeout: float | None = None) -> None:
    """InputError unless something at ``address`` greets like a dask scheduler."""
    hp = _host_port(address)
    if hp is None:
        return  # tls://, inproc:// ...: left to dask
    timeout = PROBE_S if timeout is None else timeout
    flag = f"--scheduler {address}"
    try:
        with socket.create_connection(hp, timeout=timeout) as sock:
            sock.settimeout(timeout)
            data = b""
            while len(data) < 16:
                chunk = sock.recv(64)
                if not chunk:
                    break
                data += chunk
    except TimeoutError:
        if not data:
            raise InputError(f"{flag}: a service there accepted the connection but sent nothing "
                             f"in {timeout:g} s (an HTTP server? a dask scheduler greets at "
                             "once); allowed: the address of a dask scheduler") from None
    except OSError as exc:
        raise InputError(f"{flag}: cannot reach a dask scheduler there "
                         f"({exc.strerror or exc})") from None
    if len(data) >= 16:
        first, second = struct.unpack("<QQ", data[:16])
        if first < MAX_HANDSHAKE and second < MAX_HANDSHAKE:
            return
    shown = data[:60].decode("ascii", "backslashreplace").strip()
    raise InputError(f"{flag}: not a dask scheduler; it answered {shown!r}; allowed: the address "
                     "of a dask scheduler, e.g. tcp://host:8786")


@dataclass
class Dask(BaseExecutor):
    """Tasks on a dask.distributed cluster: ``client``, or ``scheduler`` address, or a
    ``LocalCluster`` of ``local_workers`` processes started on entry."""

    client: Any = None
    scheduler: str | None = None
    local_workers: int | None = None
    retries: int = RETRIES
    _opened: list = field(default_factory=list, repr=False)

    def __enter__(self) -> Self:
        if self.client is None:
            self.client = self._open()
            self._opened.append(self.client)
            link = _dashboard_link(self.client)
            print(f"amxmodel: dask scheduler {self.client.scheduler.address}, "
                  f"dashboard {link or 'not served'}", file=sys.stderr)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._opened:  # close only what __enter__ opened: the client, then its cluster
            while self._opened:
                self._opened.pop().close()
            self.client = None

    def _open(self) -> Any:
        distributed = require_distributed()
        if self.local_workers:
            cluster = distributed.LocalCluster(
                n_workers=self.local_workers, threads_per_worker=1, processes=True,
                dashboard_address=":0", silence_logs=logging.CRITICAL)
            self._opened.append(cluster)
            return distributed.Client(cluster)
        probe_scheduler(self.scheduler)
        try:
            return distributed.Client(self.scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, ValueError, TypeError, MemoryError) as exc:
            raise InputError(f"--scheduler {self.scheduler}: cannot reach a dask scheduler "
                             f"there ({exc})") from None

    def _map(self, fn: Callable[[Any], Any], items: list[Any], desc: str, bar: tqdm) -> list[Any]:
        """Submit every item under its own key, wait for all, gather them in item order."""
        if self.client is None:
            raise RuntimeError("enter the Dask executor (with ...) before mapping over it")
        from distributed import as_completed

        batch = uuid.uuid4().hex[:12]
        futures = [self.client.submit(fn, x, key=f"{desc or 'item'}-{batch}-{i}", pure=False,
                                      retries=self.retries) for i, x in enumerate(items)]
        try:
            for _ in as_completed(futures):
                bar.update()
            return self.client.gather(futures)
        finally:
            self.client.cancel(futures)


def _dashboard_link(client: Any) -> str | None:
    """The dashboard URL, when the scheduler serves one."""
    services = client.scheduler_info().get("services", {})
    return client.dashboard_link if "dashboard" in services else None


def require_distributed() -> Any:
    """The ``distributed`` module, or an InputError saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise InputError(f"--scheduler/--dask-local: dask.distributed is not installed; "
                         f"{CLUSTER_EXTRA}") from None
    return distributed
