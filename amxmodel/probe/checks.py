"""Semantics checks, the kernel side: short sequences of KVM API calls and what they return.

The permission state of a process (ARCH_REQ_XCOMP_GUEST_PERM, locked by the first vCPU)
cannot be undone, so every ``kernel_*`` function runs in a fresh worker process
(:mod:`.worker`) and returns plain observations. :mod:`.predict` says what the reference
model expects for the same steps and pairs the two up.
"""

from __future__ import annotations

import ctypes
import errno
import threading

from amxmodel.probe import hostcode, kvm, tracefs

TRACE_RUNS = 10  # KVM_RUNs counted per thread in the tracepoint check
TRACE_TRIES = 5  # windows tried until one has no context switch of the thread


def thread_switches() -> int:
    """Context switches of the calling thread so far (voluntary + involuntary)."""
    n = 0
    with open("/proc/thread-self/status") as f:
        for line in f:
            if "ctxt_switches:" in line:
                n += int(line.split()[-1])
    return n


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
                # A switch to another task and back writes XFD on the way back to user
                # space (not KVM_RUN's doing): count a window without a switch.
                for tries in range(1, TRACE_TRIES + 1):
                    with inst.counting(tid):
                        inst.mark("amxprobe-start")
                        s0 = thread_switches()
                        for _ in range(TRACE_RUNS):
                            v.run()
                        switched = thread_switches() - s0
                        inst.mark("amxprobe-end")
                    if not switched:
                        break
                box.update(inst.counts(), tries=tries, switched=switched)

            t = threading.Thread(target=body)
            t.start()
            t.join()
            out[name] = box
    return out
