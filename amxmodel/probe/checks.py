"""Semantics checks: what the running kernel does, next to what the reference model says.

Each check is a short sequence of KVM API calls. The permission state of a process
(ARCH_REQ_XCOMP_GUEST_PERM, locked by the first vCPU) cannot be undone, so every
``kernel_*`` function runs in a fresh worker process (:mod:`.worker`) and returns plain
observations. :func:`model_predictions` replays the same steps as events through
:class:`amxmodel.reference.ReferenceModel` (policy ``upstream``, the host with dynamic
features that ``ARCH_GET_XCOMP_SUPP`` reports), and :func:`compare` pairs them up.
"""

from __future__ import annotations

import ctypes
import errno
import threading

from ..reference import HOST_XFD, Pcpu, ReferenceModel
from ..trace import parse_events
from . import hostcode, kvm, tracefs

# KVM_GET_XSAVE2 / KVM_CAP_XSAVE2 sizes on Sapphire Rapids (domain page, section 4): the
# standard-format xstate with AMX; without it the kernel answers sizeof(struct kvm_xsave).
XSAVE2_WITH_AMX = 11008
XSAVE2_DEFAULT = 4096
TRACE_RUNS = 10  # KVM_RUNs counted per thread in the tracepoint check


def _err(exc: Exception | None) -> str:
    if exc is None:
        return "0"
    return f"-{errno.errorcode.get(exc.errno, exc.errno)}"


def _try(fn) -> str:
    try:
        fn()
    except kvm.KvmError as exc:
        return _err(exc)
    return "0"


def amx_cpuid(entries) -> list:
    """The supported CPUID with XTILECFG and XTILEDATA added to leaf 0xD.0 (what a VMM
    that lists AMX writes), whether or not KVM offers them."""
    out = []
    for e in entries:
        c = kvm.CpuidEntry()
        ctypes.memmove(ctypes.byref(c), ctypes.byref(e), ctypes.sizeof(c))
        if c.function == 0xD and c.index == 0:
            c.eax |= kvm.XTILECFG | kvm.XTILEDATA
        out.append(c)
    return out


def offered(entries) -> dict:
    """Whether KVM offers AMX to guests: KVM_GET_SUPPORTED_CPUID leaves 0xD.0 and 7.0."""
    d = kvm.find_leaf(entries, 0xD, 0)
    l7 = kvm.find_leaf(entries, 0x7, 0)
    xcr0 = d.eax if d else 0
    amx_tile = bool(l7 and l7.edx >> 24 & 1)
    return {"supported_xcr0": hex(xcr0), "xtiledata": bool(xcr0 & kvm.XTILEDATA),
            "amx_tile": amx_tile, "offered": bool(xcr0 & kvm.XTILEDATA) and amx_tile}


# ----------------------------------------------------------------------------- kernel side


def kernel_perm_late() -> dict:
    """A vCPU first, then ARCH_REQ_XCOMP_GUEST_PERM (the model: -EBUSY)."""
    k = kvm.Kvm()
    vm = k.create_vm()
    vm.create_vcpu()
    return {"late_request": _try(lambda: kvm.arch_prctl(kvm.ARCH_REQ_XCOMP_GUEST_PERM,
                                                        kvm.XFEATURE_XTILEDATA))}


def kernel_cpuid_noperm() -> dict:
    """KVM_SET_CPUID2 listing XTILEDATA without the permission; KVM_SET_MSRS(XFD) on a
    vCPU whose CPUID does not list it."""
    k = kvm.Kvm()
    entries = k.supported_cpuid()
    vm = k.create_vm()
    v = vm.create_vcpu()
    res = {"set_cpuid_amx": _try(lambda: v.set_cpuid(amx_cpuid(entries)))}
    v2 = vm.create_vcpu()
    v2.set_cpuid(entries)
    res["set_msrs_xfd_armed_no_amx_cpuid"] = v2.set_msr(kvm.MSR_IA32_XFD, kvm.XTILEDATA)
    res["set_msrs_xfd_zero_no_amx_cpuid"] = v2.set_msr(kvm.MSR_IA32_XFD, 0)
    return res


def kernel_perm_early() -> dict:
    """The permission before the first vCPU, KVM_CAP_XSAVE2 before and after it, a second
    request after the vCPU, KVM_SET_CPUID2 with XTILEDATA, KVM_GET_XSAVE2, KVM_SET_MSRS(XFD)."""
    k = kvm.Kvm()
    entries = k.supported_cpuid()
    vm = k.create_vm()
    res: dict = {"xsave2_before": vm.check_extension(kvm.KVM_CAP_XSAVE2)}
    res["request"] = _try(lambda: kvm.arch_prctl(kvm.ARCH_REQ_XCOMP_GUEST_PERM,
                                                 kvm.XFEATURE_XTILEDATA))
    res["guest_perm"] = hex(kvm.get_mask(kvm.ARCH_GET_XCOMP_GUEST_PERM))
    res["xsave2_after"] = vm.check_extension(kvm.KVM_CAP_XSAVE2)
    v = vm.create_vcpu()
    res["second_request"] = _try(lambda: kvm.arch_prctl(kvm.ARCH_REQ_XCOMP_GUEST_PERM,
                                                        kvm.XFEATURE_XTILEDATA))
    res["set_cpuid_amx"] = _try(lambda: v.set_cpuid(amx_cpuid(entries)))
    res["xsave2_after_cpuid"] = vm.check_extension(kvm.KVM_CAP_XSAVE2)
    try:
        res["get_xsave2_bytes"] = v.get_xsave2()
    except kvm.KvmError as exc:
        res["get_xsave2_bytes"] = _err(exc)
    res["set_msrs_xfd_armed"] = v.set_msr(kvm.MSR_IA32_XFD, kvm.XTILEDATA)
    res["xfd_after_set_msrs"] = v.get_msr(kvm.MSR_IA32_XFD)
    return res


def kernel_trace(root: str) -> dict:
    """kvm:kvm_fpu and msr:write_msr(IA32_XFD) per KVM_RUN with immediate_exit, from a VMM
    thread whose XFD is armed (never used AMX) and one whose XFD is 0 (used AMX)."""
    k = kvm.Kvm()
    kvm.arch_prctl(kvm.ARCH_REQ_XCOMP_PERM, kvm.XFEATURE_XTILEDATA)
    vm = k.create_vm()
    out: dict = {"runs": TRACE_RUNS}
    with tracefs.Instance(root) as inst:
        for name, touch in (("armed", False), ("xfd0", True)):
            v = vm.create_vcpu()
            v.immediate_exit = 1
            box: dict = {}

            def body(v=v, touch=touch, box=box):
                if touch:
                    hostcode.touch_tiles()
                tid = threading.get_native_id()
                v.run()  # the first KVM_RUN of a thread sets vcpu->pid: not counted
                with inst.counting(tid):
                    for _ in range(TRACE_RUNS):
                        v.run()
                box.update(inst.counts())

            t = threading.Thread(target=body)
            t.start()
            t.join()
            out[name] = box
    return out


# ----------------------------------------------------------------------------- model side


def _model(events: list[dict], hardware, host_xfd: int = HOST_XFD) -> ReferenceModel:
    m = _CountingModel(hardware, host_xfd)
    for ev in parse_events(events):
        m.apply(ev)
    return m


class _CountingModel(ReferenceModel):
    """The upstream model, counting guest-FPU loads and puts (the kvm_fpu tracepoint), with
    the VMM thread's own XFD as a parameter (0 once the thread has used AMX)."""

    def __init__(self, hardware, host_xfd: int):
        super().__init__(hardware)
        self.host_xfd = host_xfd
        self.loads = self.puts = 0

    def pcpu(self, v):
        return self.pcpus.setdefault(v.vid, Pcpu(msr=self.host_xfd, cache=self.host_xfd))

    def swap_in(self, v):
        self.loads += 1
        super().swap_in(v)

    def swap_out(self, v):
        """As upstream, but back to this thread's XFD (the base class restores HOST_XFD)."""
        self.puts += 1
        self.before_host_save(v)
        self.host_save(v)
        v.running = False
        self.xfd_update_state(v, self.host_xfd)


def _first_error(m: ReferenceModel) -> str:
    return m.errors[0]["errno"] if m.errors else "0"


def model_predictions(hardware, kvm_offers_amx: bool) -> dict:
    """What the reference model says for each step the kernel functions take."""
    perm, vcpu = {"event": "perm_request"}, {"event": "create_vcpu"}
    cpuid_amx = {"event": "set_cpuid", "amx": True}
    set_armed = {"event": "host_set_msr", "msr": "xfd", "value": kvm.XTILEDATA}
    runs = [{"event": "run_enter", "immediate_exit": True}] * (TRACE_RUNS + 1)
    late = _model([vcpu, perm], hardware)
    early = _model([perm, vcpu, perm, cpuid_amx, set_armed], hardware)
    noperm = _model([vcpu, cpuid_amx], hardware)
    no_amx = _model([vcpu, {"event": "set_cpuid", "amx": False}, set_armed], hardware)
    armed = _model([vcpu, runs[0]], hardware)
    xfd0 = _model([vcpu, runs[0]], hardware, host_xfd=0)
    counts = {}
    for name, m in (("armed", armed), ("xfd0", xfd0)):
        w0, l0, p0 = m.c.wrmsr_xfd, m.loads, m.puts
        for ev in parse_events([vcpu] + runs[1:])[1:]:
            m.apply(ev)
        counts[name] = {"load": m.loads - l0, "unload": m.puts - p0,
                        "xfd_writes": m.c.wrmsr_xfd - w0}
    return {
        "late_request": _first_error(late),
        "second_request": "0",  # "Lockless quick check": already permitted
        "set_cpuid_amx_noperm": _first_error(noperm),
        "set_cpuid_amx_perm": _first_error(early),
        "set_msrs_xfd_armed": "accepted" if not early.errors else "refused",
        "xfd_after_set_msrs": hex(early.vcpus[0].fps_xfd),
        "set_msrs_xfd_armed_no_amx_cpuid": "refused" if no_amx.errors else "accepted",
        "xsave2_before": XSAVE2_DEFAULT,
        "xsave2_after": XSAVE2_WITH_AMX if kvm_offers_amx else XSAVE2_DEFAULT,
        "trace": counts,
    }


# ----------------------------------------------------------------------------- comparison


def _row(name: str, model, kernel, note: str = "") -> dict:
    row = {"name": name, "model": model, "kernel": kernel, "agree": model == kernel}
    if note:
        row["note"] = note
    return row


def compare(model: dict, obs: dict) -> list[dict]:
    """One row per check whose kernel side ran: ``{name, model, kernel, agree[, note]}``."""
    rows = []
    if "perm_late" in obs:
        rows.append(_row("ARCH_REQ_XCOMP_GUEST_PERM after the first vCPU", model["late_request"],
                         obs["perm_late"]["late_request"]))
    if "cpuid_noperm" in obs:
        o = obs["cpuid_noperm"]
        rows.append(_row("KVM_SET_CPUID2 with XTILEDATA, no permission",
                         model["set_cpuid_amx_noperm"], o["set_cpuid_amx"]))
        rows.append(_row("KVM_SET_MSRS XFD=0x40000, CPUID without XTILEDATA",
                         model["set_msrs_xfd_armed_no_amx_cpuid"],
                         "accepted" if o["set_msrs_xfd_armed_no_amx_cpuid"] == 1 else "refused"))
    if "perm_early" in obs:
        o = obs["perm_early"]
        rows.append(_row("ARCH_REQ_XCOMP_GUEST_PERM before the first vCPU", "0", o["request"]))
        rows.append(_row("the same request again after the first vCPU", model["second_request"],
                         o["second_request"]))
        rows.append(_row("KVM_SET_CPUID2 with XTILEDATA, with permission",
                         model["set_cpuid_amx_perm"], o["set_cpuid_amx"]))
        rows.append(_row("KVM_CAP_XSAVE2 before the permission", model["xsave2_before"],
                         o["xsave2_before"], "model: domain page section 4 sizes (SPR)"))
        rows.append(_row("KVM_CAP_XSAVE2 after the permission", model["xsave2_after"],
                         o["xsave2_after"], "model: 11008 where KVM offers XTILEDATA, else 4096"))
        wrote = o["get_xsave2_bytes"]
        rows.append(_row("KVM_GET_XSAVE2 bytes written (CPUID with XTILEDATA)",
                         o["xsave2_after_cpuid"], wrote,
                         "model: the API contract, KVM_GET_XSAVE2 fills the KVM_CAP_XSAVE2 "
                         "size (Documentation/virt/kvm/api.rst)" + (
                             "; the kernel wrote more than it announced: a VMM that allocates "
                             "KVM_CAP_XSAVE2 bytes gets its heap overwritten"
                             if isinstance(wrote, int) and wrote > o["xsave2_after_cpuid"]
                             else "")))
        armed = "accepted" if o["set_msrs_xfd_armed"] == 1 else "refused"
        note = ""
        if armed != model["set_msrs_xfd_armed"]:
            note = ("the model lets the guest XFD hold XTILEDATA wherever the host has dynamic "
                    "features; the kernel checks kvm_guest_supported_xfd(), i.e. that KVM "
                    "offers XTILEDATA to guests")
        rows.append(_row("KVM_SET_MSRS XFD=0x40000, CPUID with XTILEDATA",
                         model["set_msrs_xfd_armed"], armed, note))
        got = o["xfd_after_set_msrs"]
        rows.append(_row("guest fpstate XFD read back (KVM_GET_MSRS)", model["xfd_after_set_msrs"],
                         hex(got) if got is not None else "not returned", note))
    if "trace" in obs:
        o = obs["trace"]
        for name, label in (("armed", "XFD armed"), ("xfd0", "XFD 0")):
            for key, what in (("load", "kvm_fpu load"), ("unload", "kvm_fpu unload"),
                              ("xfd_writes", "write_msr(IA32_XFD)")):
                rows.append(_row(f"{what} per {o['runs']} KVM_RUN (immediate_exit), VMM "
                                 f"thread {label}", model["trace"][name][key], o[name][key]))
    return rows
