"""What host the probe runs on: CPU, kernel, hypervisor below it, KVM flavour, AMX support.

Read without side effects: /proc/cpuinfo, uname, CPUID (through :mod:`.hostcode`),
/sys/module and arch_prctl(ARCH_GET_XCOMP_SUPP). Whether KVM offers AMX to its guests is
read from KVM_GET_SUPPORTED_CPUID by the caller (it needs /dev/kvm open).
"""

from __future__ import annotations

import os
import platform
import struct
import time
from pathlib import Path

from amxmodel.probe import hostcode, kvm

# KVM modules and what they mean for the measurement
KVM_FLAVOURS = {
    "kvm_intel": "kvm_intel (VMX)",
    "kvm_amd": "kvm_amd (SVM)",
    "kvm_pvm": "kvm_pvm (PVM: paravirtual KVM without VMX; the world switch is a software "
               "switcher in the host kernel, guests run in ring 3 under shadow paging)",
}


def _cpuinfo() -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                out.setdefault(k.strip(), v.strip())
    except OSError:
        pass
    return out


def hypervisor() -> dict:
    """The hypervisor this kernel runs under, from CPUID leaf 1 ECX[31] and 0x40000000."""
    _, _, ecx, _ = hostcode.cpuid(1)
    if not ecx >> 31 & 1:
        return {"present": False, "signature": None, "max_leaf": None}
    eax, ebx, ecx, edx = hostcode.cpuid(0x40000000)
    sig = struct.pack("<III", ebx, ecx, edx).rstrip(b"\0").decode("ascii", "replace")
    return {"present": True, "signature": sig, "max_leaf": hex(eax)}


def kvm_flavour() -> tuple[str | None, dict]:
    """Which KVM module is loaded, and its parameters that matter here."""
    for mod, text in KVM_FLAVOURS.items():
        if Path(f"/sys/module/{mod}").exists():
            params = {}
            for name in ("nested", "enable_apicv", "pvm_native"):
                p = Path(f"/sys/module/{mod}/parameters/{name}")
                if p.exists():
                    params[name] = p.read_text().strip()
            return mod, {"module": mod, "description": text, "parameters": params}
    return None, {"module": None, "description": "no KVM vendor module found in /sys/module"}


def tsc_hz() -> tuple[float, str]:
    """The TSC frequency: CPUID 0x15 when it gives it, else timed against CLOCK_MONOTONIC_RAW."""
    eax, ebx, ecx, _ = hostcode.cpuid(0x15) if hostcode.cpuid(0)[0] >= 0x15 else (0, 0, 0, 0)
    if eax and ebx and ecx:
        return ecx * ebx / eax, "CPUID leaf 0x15"
    t0, c0 = time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW), hostcode.rdtsc()
    time.sleep(0.1)
    t1, c1 = time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW), hostcode.rdtsc()
    return (c1 - c0) / ((t1 - t0) * 1e-9), "RDTSC against CLOCK_MONOTONIC_RAW over 0.1 s"


def describe() -> dict:
    """The host description written to the report and the profile's source."""
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    supp = kvm.get_mask(kvm.ARCH_GET_XCOMP_SUPP)
    hz, hz_source = tsc_hz()
    _, flavour = kvm_flavour()
    hv = hypervisor()
    return {
        "cpu_model": info.get("model name", platform.processor() or "unknown"),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "kernel_version": platform.version(),
        "hypervisor": hv,
        "kvm": flavour,
        "vmx_flag": "vmx" in flags,
        "amx_flags": sorted(f for f in flags if f.startswith("amx")),
        "xcomp_supp": hex(supp),
        "host_dynamic_xtiledata": bool(supp & kvm.XTILEDATA),  # fpu_state_size_dynamic()
        "tsc_hz": round(hz),
        "tsc_hz_source": hz_source,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def summary(host: dict) -> str:
    """One line: CPU, kernel, under which hypervisor, which KVM."""
    hv = host["hypervisor"]
    under = f"a {hv['signature']} guest" if hv["present"] else "bare metal"
    return (f"{host['cpu_model']}, {host['cpus']} CPUs, kernel {host['kernel']}, {under}, "
            f"{host['kvm']['module'] or 'no KVM module'}")
