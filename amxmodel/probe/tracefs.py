"""Counting kernel tracepoints (kvm:kvm_fpu, msr:write_msr) for one thread.

Uses a private tracing instance (``instances/amxprobe-<pid>``), removed afterwards, so the
global trace buffer is left alone. When tracefs is not mounted and the probe is root,
:func:`mount_private` mounts it in the worker's own mount namespace (unshare), so nothing
changes for the rest of the machine.
"""

from __future__ import annotations

import ctypes
import os
from contextlib import contextmanager
from pathlib import Path

ROOTS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
EVENTS = ("kvm/kvm_fpu", "msr/write_msr")
CLONE_NEWNS = 0x00020000
MS_REC, MS_PRIVATE = 0x4000, 0x40000


def find_root() -> tuple[str | None, str]:
    """A readable tracefs with both events, or None and why not."""
    for root in ROOTS:
        if Path(root, "instances").is_dir():
            missing = [e for e in EVENTS if not Path(root, "events", e).is_dir()]
            if missing:
                return None, f"{root}: no tracepoint {', '.join(missing)} in this kernel"
            if not os.access(Path(root, "instances"), os.W_OK):
                return None, f"{root}: no permission to create a tracing instance"
            return root, ""
    return None, "tracefs is not mounted (/sys/kernel/tracing)"


def mount_private() -> str:
    """Mount tracefs at /sys/kernel/tracing in a new mount namespace of this process only.

    Returns "" on success, else the reason (not root, no tracefs in the kernel, ...).
    """
    if "tracefs" not in Path("/proc/filesystems").read_text():
        return "this kernel has no tracefs"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        return f"unshare(CLONE_NEWNS): {os.strerror(ctypes.get_errno())}"
    if libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return f"mount --make-rprivate /: {os.strerror(ctypes.get_errno())}"
    if libc.mount(b"nodev", ROOTS[0].encode(), b"tracefs", 0, None) != 0:
        return f"mount tracefs: {os.strerror(ctypes.get_errno())}"
    return ""


class Instance:
    """A private tracing instance with the two events, filtered to one thread at a time.

    Enabling an event can sleep, and a thread that slept writes IA32_XFD on its way back
    to user space when the task in between had another XFD: callers count between marks
    written after the events are on and before they go off."""

    def __init__(self, root: str):
        self.path = Path(root, "instances", f"amxprobe-{os.getpid()}")

    def __enter__(self):  # -> this instance
        self.path.mkdir()
        return self

    def __exit__(self, *exc) -> None:
        for e in EVENTS:
            self._write(f"events/{e}/enable", "0")
        self.path.rmdir()

    def _write(self, rel: str, text: str) -> None:
        (self.path / rel).write_text(text)

    @contextmanager
    def counting(self, tid: int):
        """Record the events of thread ``tid`` inside the block (buffer cleared first)."""
        self._write("trace", "")
        self._write("events/kvm/kvm_fpu/filter", f"common_pid == {tid}")
        self._write("events/msr/write_msr/filter", f"msr == 0x1c4 && common_pid == {tid}")
        for e in EVENTS:
            self._write(f"events/{e}/enable", "1")
        try:
            yield
        finally:
            for e in EVENTS:
                self._write(f"events/{e}/enable", "0")

    def mark(self, text: str) -> None:
        """A line in the trace (trace_marker), to count only what lies between two marks."""
        self._write("trace_marker", text)

    def counts(self, start: str = "amxprobe-start", end: str = "amxprobe-end") -> dict[str, int]:
        """Events between the marks ``start`` and ``end`` (the whole trace without them)."""
        text = (self.path / "trace").read_text()
        if start in text and end in text:
            text = text.split(start, 1)[1].split(end, 1)[0]
        return {"load": text.count("kvm_fpu: load"), "unload": text.count("kvm_fpu: unload"),
                "xfd_writes": text.count("write_msr: 1c4,")}
