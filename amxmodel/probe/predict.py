"""Semantics checks, the model side: the reference model's answer for the steps that
:mod:`.checks` takes on the kernel, and the rows ``{name, model, kernel, agree}``.

The steps are replayed as events through :class:`amxmodel.kernel.upstream.ReferenceModel`
(policy ``upstream``, a host with dynamic features, as ARCH_GET_XCOMP_SUPP reports).
"""

from __future__ import annotations

from amxmodel.kernel.trace import parse_events
from amxmodel.kernel.upstream import Pcpu, ReferenceModel
from amxmodel.kernel.xfeatures import HOST_XFD
from amxmodel.probe.checks import TRACE_RUNS
from amxmodel.probe.kvm import XTILEDATA

# KVM_GET_XSAVE2 / KVM_CAP_XSAVE2 sizes on Sapphire Rapids (docs/amx-xfd-kvm.md, section 4): the
# standard-format xstate with AMX; without it the kernel answers sizeof(struct kvm_xsave).
XSAVE2_WITH_AMX = 11008
XSAVE2_DEFAULT = 4096



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
    set_armed = {"event": "host_set_msr", "msr": "xfd", "value": XTILEDATA}
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
                         o["xsave2_before"], "model: docs/amx-xfd-kvm.md section 4 sizes (SPR)"))
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
            switched = o[name].get("switched", 0)
            note = (f"the thread was switched out {switched} time(s) in every one of "
                    f"{o[name].get('tries')} windows; a switch back writes XFD on the way to "
                    "user space") if switched else ""
            for key, what in (("load", "kvm_fpu load"), ("unload", "kvm_fpu unload"),
                              ("xfd_writes", "write_msr(IA32_XFD)")):
                rows.append(_row(f"{what} per {o['runs']} KVM_RUN (immediate_exit), VMM "
                                 f"thread {label}", model["trace"][name][key], o[name][key],
                                 note if key == "xfd_writes" else ""))
    return rows
