"""Event traces: what a VMM, a guest and the host do to vCPUs, one event at a time.

A trace is a YAML file with ``name``, ``source`` (where the sequence comes from: a
selftest, a boot log, a hand-written scenario), an optional ``hardware`` profile name and
``events:``, a list of mappings such as ``{event: guest_wrmsr_xfd, value: 0x40000}``.
``vcpu`` defaults to 0. The vocabulary follows the kernel: ``perm_request`` is
arch_prctl(ARCH_REQ_XCOMP_GUEST_PERM), ``set_cpuid`` is KVM_SET_CPUID2, ``run_enter`` is
KVM_RUN, ``exit`` is a VM exit for a reason other than XFD, ``host_set_msr`` is
KVM_SET_MSRS as on a migration restore.

This module checks a trace before any policy sees it: names, argument types and ranges,
and the order rules that hold under every design:

- a vCPU exists between ``create_vcpu`` and ``destroy_vcpu`` (an id may be created again);
- guest events and ``exit`` need the vCPU inside KVM_RUN: after ``run_enter`` and before an
  ``exit`` with ``kind: user``. The replay never inserts a ``run_enter`` by itself: the
  VMM's re-entry is part of the trace, as in the kernel selftests;
- vCPU ioctls (``set_cpuid``, ``host_set_*``, ``destroy_vcpu``, ``run_enter``) wait for
  KVM_RUN to return, so they need the vCPU outside KVM_RUN;
- ``host_preempt`` happens in the host after a VM exit: it must follow ``run_enter``, an
  ``exit`` with ``kind: kernel`` or another ``host_preempt`` of the same vCPU; so do
  ``vcpu_switch`` (overcommit: another vCPU thread ran on the CPU, its guest fpstate XFD
  is ``from_xfd``) and ``vcpu_halt`` (a blocking HLT: only the idle task ran);
- ``migrate`` is the VMM's live-migration sequence for a stopped vCPU (outside KVM_RUN);
  ``guest_nested`` marks the vCPU's following guest events as an L2 guest's.

Every problem is an :class:`~amxmodel.common.errors.InputError` naming the file, the event
index (0-based, as ``events[i]``) and the allowed values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amxmodel.common.errors import InputError, unknown
from amxmodel.common.yamlio import excerpt, load_yaml
from amxmodel.kernel.xfeatures import XTILEDATA

U64_MAX = (1 << 64) - 1
MAX_VCPU_ID = 4095  # KVM_MAX_VCPU_IDS - 1 on x86


@dataclass(frozen=True)
class Arg:
    """One argument of an event: its type, whether it is required, its allowed values."""

    kind: str  # "bool", "int", "xfd" (0 or 0x40000) or "choice"
    required: bool = False
    default: Any = None
    lo: int = 0
    hi: int = U64_MAX
    choices: tuple[str, ...] = ()

    def rule(self) -> str:
        """The allowed values, as shown in error messages."""
        if self.kind == "bool":
            return "true or false"
        if self.kind == "xfd":
            return "0 or 0x40000 (XFEATURE_MASK_XTILEDATA)"
        if self.kind == "choice":
            return ", ".join(self.choices)
        return f"an integer from {self.lo} to {self.hi:#x}" if self.hi > 1 << 32 else \
            f"an integer from {self.lo} to {self.hi}"


_VALUE64 = Arg("int", required=True)
_XFD = Arg("xfd", required=True)
_FAIL = Arg("bool", default=False)
_VCPU_EVENT = {"vcpu": Arg("int", default=0, hi=MAX_VCPU_ID)}

# Event name -> its arguments. Process-wide events take no vcpu.
EVENTS: dict[str, dict[str, Arg]] = {
    "perm_request": {},
    "create_vcpu": {},
    "destroy_vcpu": {},
    "set_cpuid": {"amx": Arg("bool", required=True), "fail_alloc": _FAIL},
    "run_enter": {"immediate_exit": Arg("bool", default=False)},
    "exit": {"kind": Arg("choice", required=True, choices=("fastpath", "kernel", "user")),
             "count": Arg("int", default=1, lo=1, hi=10**9)},
    "guest_wrmsr_xfd": {"value": _XFD, "fail_alloc": _FAIL},
    "guest_wrmsr_xfd_err": {"value": _XFD},
    "guest_rdmsr_xfd": {},
    "guest_rdmsr_xfd_err": {},
    "guest_xsetbv": {"value": _VALUE64, "fail_alloc": _FAIL},
    "guest_amx": {"fail_alloc": _FAIL},
    "guest_tile_release": {},
    "host_set_msr": {"msr": Arg("choice", required=True, choices=("xfd", "xfd_err")), "value": _XFD},
    "host_set_xcr0": {"value": _VALUE64, "fail_alloc": _FAIL,
                      "osxsave": Arg("bool", default=True)},  # CR4.OSXSAVE of the KVM_SET_SREGS
    "host_set_xsave": {"tiles_live": Arg("bool", default=False), "fail_alloc": _FAIL},
    # what runs on the CPU while the guest fpstate is loaded: another user task, a kernel
    # thread or idle (HLT blocking included), or a kernel_fpu_begin_mask() user
    "host_preempt": {"by": Arg("choice", default="user", choices=("user", "kthread", "kernel_fpu"))},
    "host_switch": {"count": Arg("int", required=True, lo=1, hi=10**9)},
    # fleet events (issue 17): another vCPU thread on the same CPU, a blocking HLT, a live
    # migration of the vCPU (the VMM's ioctl sequence), L2 guest mode under an L1 hypervisor
    "vcpu_switch": {"from_xfd": _XFD},
    "vcpu_halt": {},
    "migrate": {"fail_alloc": _FAIL},
    "guest_nested": {"l2": Arg("bool", required=True)},
}
PROCESS_EVENTS = frozenset({"perm_request", "host_switch"})
GUEST_EVENTS = frozenset(n for n in EVENTS if n.startswith("guest_")) | {"exit"}
IOCTL_EVENTS = frozenset({"set_cpuid", "host_set_msr", "host_set_xcr0", "host_set_xsave",
                          "destroy_vcpu", "run_enter", "migrate"})
# the host saves the guest fpstate after a VM exit: the same order rule as host_preempt
HOST_SAVE_EVENTS = frozenset({"host_preempt", "vcpu_switch", "vcpu_halt"})
TRACE_KEYS = ("name", "source", "hardware", "description", "events")


@dataclass(frozen=True)
class Event:
    """One checked event: its position in the trace, name, vCPU id and arguments."""

    index: int
    name: str
    vcpu: int | None
    args: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.args[key]


@dataclass(frozen=True)
class Trace:
    """A checked trace."""

    name: str
    source: str
    hardware: str | None
    events: tuple[Event, ...]
    where: str = "trace"


def _arg_names(name: str) -> dict[str, Arg]:
    specs = dict(EVENTS[name])
    if name not in PROCESS_EVENTS:
        specs.update(_VCPU_EVENT)
    return specs


def _check_value(arg: Arg, key: str, value: Any, at: str) -> Any:
    bad_type = (arg.kind == "bool") != isinstance(value, bool)
    if arg.kind == "choice":
        if value not in arg.choices:
            raise InputError(f"{at}: {key} = {value!r} is not allowed; allowed: {arg.rule()}")
        return value
    if bad_type or (arg.kind != "bool" and not isinstance(value, int)):
        what = "true or false" if arg.kind == "bool" else "an integer"
        raise InputError(f"{at}: '{key}' must be {what}, got {value!r}; allowed: {arg.rule()}")
    if arg.kind == "xfd" and value not in (0, XTILEDATA):
        raise InputError(f"{at}: {key} = {value:#x} is out of range; allowed: {arg.rule()}")
    if arg.kind == "int" and not arg.lo <= value <= arg.hi:
        raise InputError(f"{at}: {key} = {value} is out of range; allowed: {arg.rule()}")
    return value


def parse_event(raw: Any, index: int, where: str) -> Event:
    """Check one raw event mapping and fill in defaults."""
    at = f"{where}: events[{index}]"
    if not isinstance(raw, dict) or "event" not in raw:
        raise InputError(f"{at}: expected a mapping with 'event:' and its arguments, got "
                         f"{excerpt(raw)}")
    name = raw["event"]
    if not isinstance(name, str):
        raise InputError(f"{at}: 'event' must be a name, got {excerpt(name)}; allowed: "
                         f"{', '.join(EVENTS)}")
    if name not in EVENTS:
        raise unknown("event", str(name), EVENTS, at)
    at = f"{at} ({name})"
    specs = _arg_names(name)
    args: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "event":
            continue
        if key not in specs:
            if key == "vcpu":
                raise InputError(f"{at}: {name} is process-wide and takes no vcpu")
            raise unknown(f"argument of {name}", str(key), specs, at)
        args[key] = _check_value(specs[key], key, value, at)
    for key, arg in specs.items():
        if key in args:
            continue
        if arg.required:
            raise InputError(f"{at}: missing required argument '{key}'; allowed: {arg.rule()}")
        args[key] = arg.default
    vcpu = args.pop("vcpu", None)
    return Event(index, name, vcpu, args)


@dataclass
class _Flow:
    """Per-vCPU bookkeeping for the order rules (independent of any policy)."""

    live: dict[int, int] = field(default_factory=dict)  # vcpu -> index of create_vcpu
    destroyed: dict[int, int] = field(default_factory=dict)  # vcpu -> index of destroy_vcpu
    running: dict[int, bool] = field(default_factory=dict)
    last_user_exit: dict[int, int] = field(default_factory=dict)
    last: dict[int, Event] = field(default_factory=dict)


def _preempt_allowed(prev: Event | None) -> bool:
    if prev is None:
        return False
    if prev.name == "run_enter":
        return not prev["immediate_exit"]
    return prev.name in HOST_SAVE_EVENTS or (prev.name == "exit" and prev["kind"] == "kernel")


def _check_order(ev: Event, flow: _Flow, where: str) -> None:
    at = f"{where}: events[{ev.index}] ({ev.name})"
    v = ev.vcpu
    if v is None:
        return
    if ev.name == "create_vcpu":
        if v in flow.live:
            raise InputError(f"{at}: vcpu {v} already exists (created at events[{flow.live[v]}])")
        flow.live[v] = ev.index
        flow.destroyed.pop(v, None)
        flow.running[v] = False
        flow.last.pop(v, None)
        return
    if v not in flow.live:
        if v in flow.destroyed:
            raise InputError(f"{at}: vcpu {v} was destroyed at events[{flow.destroyed[v]}]; "
                             "create it again with create_vcpu first")
        known = ", ".join(str(k) for k in sorted(flow.live)) or "none"
        raise InputError(f"{at}: vcpu {v} was never created (add create_vcpu first); "
                         f"vCPUs that exist here: {known}")
    running = flow.running[v]
    if ev.name in IOCTL_EVENTS and running:
        raise InputError(f"{at}: vcpu {v} is inside KVM_RUN; vCPU ioctls wait for KVM_RUN to "
                         "return, add an exit with kind: user first")
    if (ev.name in GUEST_EVENTS or ev.name in HOST_SAVE_EVENTS) and not running:
        since = (f" (KVM_RUN returned to the VMM at events[{flow.last_user_exit[v]}])"
                 if v in flow.last_user_exit else "")
        raise InputError(f"{at}: vcpu {v} is not inside KVM_RUN{since}; add run_enter first")
    if ev.name in HOST_SAVE_EVENTS and not _preempt_allowed(flow.last.get(v)):
        raise InputError(f"{at}: {ev.name} happens in the host after a VM exit: it must follow "
                         f"run_enter, an exit with kind: kernel or another host_preempt, "
                         f"vcpu_switch or vcpu_halt of vcpu {v}")
    if ev.name == "destroy_vcpu":
        del flow.live[v]
        flow.destroyed[v] = ev.index
    elif ev.name == "run_enter":
        flow.running[v] = not ev["immediate_exit"]
    elif ev.name == "exit" and ev["kind"] == "user":
        flow.running[v] = False
        flow.last_user_exit[v] = ev.index
    flow.last[v] = ev


def parse_events(raw_events: Any, where: str = "events") -> tuple[Event, ...]:
    """Check a list of raw event mappings (types, ranges, order) into :class:`Event` objects."""
    if not isinstance(raw_events, list):
        raise InputError(f"{where}: 'events' must be a list of mappings like "
                         "{event: create_vcpu}, got " + type(raw_events).__name__)
    events = tuple(parse_event(raw, i, where) for i, raw in enumerate(raw_events))
    flow = _Flow()
    for ev in events:
        _check_order(ev, flow, where)
    return events


def parse_trace(raw: Any, where: str = "trace") -> Trace:
    """Check a raw trace mapping (as read from YAML) into a :class:`Trace`."""
    if not isinstance(raw, dict):
        raise InputError(f"{where}: expected a mapping with {', '.join(TRACE_KEYS)}")
    for key in raw:
        if key not in TRACE_KEYS:
            raise unknown("trace key", str(key), TRACE_KEYS, where)
    for key in ("name", "source"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise InputError(f"{where}: '{key}' is required and must be a non-empty string")
    hardware = raw.get("hardware")
    if hardware is not None and not isinstance(hardware, str):
        raise InputError(f"{where}: 'hardware' must be a profile name such as spr, got {hardware!r}")
    if "events" not in raw:
        raise InputError(f"{where}: 'events' is required: a list of mappings like {{event: create_vcpu}}")
    return Trace(raw["name"], raw["source"], hardware, parse_events(raw["events"], where), where)


def load_trace(path: str | Path) -> Trace:
    """Read and check a trace file."""
    return parse_trace(load_yaml(path, "trace file"), str(path))
