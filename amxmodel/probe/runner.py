"""The probe as a function: host description, semantics checks, prices, and what was skipped."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable

from amxmodel.probe import checks, hostinfo, kvm, predict

GUEST_PARTS = (
    ("guest XFD passthrough: RDMSR(XFD) per exit (fpu_sync_guest_vmexit_xfd_state), CPUID "
     "loop with the XFD write intercept on vs off"),
    "guest #NM: tile instruction with guest XFD armed (exit, RDMSR XFD_ERR, XFD_ERR shuttle)",
    "guest WRMSR(XFD) with the write intercept on (one exit each)",
)


def _start(part: str, quick: bool, progress: bool) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "amxmodel.probe.worker", part]
    cmd += ["--quick"] if quick else []
    cmd += ["--progress"] if progress else []
    # progress goes straight to the terminal; errors are read back
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                            stderr=None if progress else subprocess.PIPE)


def _finish(proc: subprocess.Popen, timeout: float) -> dict:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"skipped": f"did not finish in {timeout:g} s"}
    if proc.returncode != 0:
        last = ((err or "").strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return {"skipped": f"failed: {last}"}
    return json.loads(out)


def caveats(host: dict) -> list[str]:
    """What makes this host's numbers differ from a bare-metal VMX host's."""
    out = []
    hv = host["hypervisor"]
    if hv["present"]:
        out.append(f"this kernel runs as a guest of a hypervisor ('{hv['signature']}', CPUID "
                   "0x40000000): KVM here is nested; its MSR writes, exits and timer reads may "
                   "go through the hypervisor below")
    if host["kvm"]["module"] == "kvm_pvm":
        out.append("KVM is kvm_pvm (paravirtual, no VMX): VM entry and exit are a software "
                   "switch, and the real-mode test guest may be emulated; exit prices are PVM's, "
                   "not VMX's")
    if not host["vmx_flag"]:
        out.append("no 'vmx' flag in /proc/cpuinfo: VMX-specific paths (XFD intercepts in "
                   "vmx.c, handle_nm_fault_irqoff) are not exercised")
    out.append("prices are TSC ticks (cpu_hz = TSC frequency in the profile); the machine is "
               "shared, so batches are short, alternated, pinned to one CPU, and summarized by "
               "medians with bootstrap intervals")
    return out


def probe(quick: bool = False, progress: bool = False,
          say: Callable[[str], None] = lambda s: None) -> dict:
    """Run every part that this host allows; the report as plain data."""
    kvm.open_kvm()  # InputError (exit 2) without /dev/kvm or without permission to open it
    k = kvm.Kvm()
    try:
        entries = k.supported_cpuid()
        imm = k.check_extension(kvm.KVM_CAP_IMMEDIATE_EXIT)
        api = k.api_version
    finally:
        k.close()
    host = hostinfo.describe()
    offer = checks.offered(entries)
    host["kvm"].update({"api_version": api, "guest_amx": offer})
    ran: list[dict] = []
    skipped: list[dict] = []
    obs: dict = {}
    timeout = 120 if quick else 600
    parts = [("perm_late", "permission after the first vCPU"),
             ("perm_early", ("permission before the first vCPU, KVM_SET_CPUID2, KVM_CAP_XSAVE2, "
                             "KVM_GET_XSAVE2, KVM_SET_MSRS(XFD)")),
             ("cpuid_noperm", "KVM_SET_CPUID2 with XTILEDATA without permission"),
             ("trace", "kvm:kvm_fpu and msr:write_msr(XFD) counts per KVM_RUN")]
    if not host["host_dynamic_xtiledata"]:
        why = (f"the host kernel has no dynamic XTILEDATA (ARCH_GET_XCOMP_SUPP = "
               f"{host['xcomp_supp']}): no AMX here")
        skipped += [{"part": label, "reason": why} for _, label in parts]
        skipped.append({"part": "host-side prices", "reason": why})
        parts = []
    say("semantics checks")
    procs = [(part, label, _start(part, quick, False)) for part, label in parts]  # independent
    for part, label, proc in procs:
        res = _finish(proc, timeout)
        if "skipped" in res:
            skipped.append({"part": label, "reason": res["skipped"]})
        else:
            obs[part] = res
            ran.append({"part": label})
    measured: dict = {}
    if host["host_dynamic_xtiledata"]:
        if not imm:
            skipped.append({"part": "host-side prices", "reason": "no KVM_CAP_IMMEDIATE_EXIT"})
        else:
            say("prices")
            res = _finish(_start("measure", quick, progress), timeout)
            if "skipped" in res:
                skipped.append({"part": "host-side prices", "reason": res["skipped"]})
            else:
                measured = res
                ran.append({"part": "host-side prices: " + ", ".join(res["prices"])})
    nm_part, gp = GUEST_PARTS[1], [GUEST_PARTS[0], GUEST_PARTS[2]]  # gp: the real-mode ones
    if offer["offered"]:
        say("guest-side prices")
        res = _finish(_start("guest", quick, progress), timeout)
        if "skipped" in res:
            skipped += [{"part": p, "reason": res["skipped"]} for p in gp]
        else:
            ran.append({"part": "guest-side prices: " + ", ".join(res["prices"])})
            if "wrmsr_xfd_cycles" in measured.get("prices", {}):  # keep the control's estimate
                measured["components"]["wrmsr_xfd_cycles_pingpong_control"] = \
                    measured["prices"]["wrmsr_xfd_cycles"]
            measured.setdefault("prices", {}).update(res["prices"])
            measured.setdefault("components", {}).update(res["components"])
            measured.setdefault("setup", {})["method"] = res["method"]
        if "skipped" in res:
            skipped.append({"part": nm_part, "reason": res["skipped"]})
    else:
        why = (f"KVM does not offer AMX to its guests: KVM_GET_SUPPORTED_CPUID leaf 0xD.0 EAX = "
               f"{offer['supported_xcr0']} (bit 18 {'set' if offer['xtiledata'] else 'clear'}), "
               f"leaf 7.0 EDX bit 24 (AMX-TILE) {'set' if offer['amx_tile'] else 'clear'}")
        skipped += [{"part": p, "reason": why} for p in GUEST_PARTS]
    from amxmodel.inputs.scenario import load_hardware

    model = predict.model_predictions(load_hardware("spr"), offer["offered"])
    return {
        "probe": {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "quick": quick},
        "host": host,
        "caveats": caveats(host),
        "ran": ran,
        "skipped": skipped,
        "checks": predict.compare(model, obs),
        "prices": measured.get("prices", {}),
        "components": measured.get("components", {}),
        "setup": measured.get("setup", {}),
    }
