"""The KVM API through ctypes: /dev/kvm, a VM, vCPUs, and the arch_prctl calls for AMX.

Numbers are those of ``include/uapi/linux/kvm.h`` and ``arch/x86/include/uapi/asm/kvm.h``
(x86-64). Every failing ioctl raises :class:`KvmError` with the errno, so callers can
compare it with what the reference model predicts (-EBUSY, -EPERM, ...).
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os

from amxmodel.common.errors import InputError
from amxmodel.kernel.xfeatures import XFEATURE_XTILEDATA, XTILECFG, XTILEDATA  # noqa: F401 (used as kvm.X)

KVM_PATH = os.environ.get("AMXMODEL_KVM_DEVICE", "/dev/kvm")  # another path: for tests

# ioctl numbers (checked against <linux/kvm.h> on x86-64)
KVM_GET_API_VERSION = 0xAE00
KVM_CREATE_VM = 0xAE01
KVM_CHECK_EXTENSION = 0xAE03
KVM_GET_VCPU_MMAP_SIZE = 0xAE04
KVM_GET_SUPPORTED_CPUID = 0xC008AE05
KVM_CREATE_VCPU = 0xAE41
KVM_SET_USER_MEMORY_REGION = 0x4020AE46
KVM_SET_TSS_ADDR = 0xAE47
KVM_RUN = 0xAE80
KVM_GET_REGS = 0x8090AE81
KVM_SET_REGS = 0x4090AE82
KVM_GET_SREGS = 0x8138AE83
KVM_SET_SREGS = 0x4138AE84
KVM_GET_MSRS = 0xC008AE88
KVM_SET_MSRS = 0x4008AE89
KVM_SET_CPUID2 = 0x4008AE90
KVM_GET_XSAVE = 0x9000AEA4
KVM_GET_XSAVE2 = 0x9000AECF

KVM_CAP_IMMEDIATE_EXIT = 136
KVM_CAP_XSAVE2 = 208

KVM_EXIT_IO = 2
KVM_EXIT_HLT = 5
KVM_EXIT_SHUTDOWN = 8
KVM_EXIT_FAIL_ENTRY = 9
KVM_EXIT_INTR = 10
KVM_EXIT_INTERNAL_ERROR = 17
EXIT_NAMES = {KVM_EXIT_IO: "IO", KVM_EXIT_HLT: "HLT", KVM_EXIT_SHUTDOWN: "SHUTDOWN",
              KVM_EXIT_FAIL_ENTRY: "FAIL_ENTRY", KVM_EXIT_INTR: "INTR",
              KVM_EXIT_INTERNAL_ERROR: "INTERNAL_ERROR"}

# arch_prctl (arch/x86/include/uapi/asm/prctl.h)
SYS_ARCH_PRCTL = 158
ARCH_GET_XCOMP_SUPP = 0x1021
ARCH_GET_XCOMP_PERM = 0x1022
ARCH_REQ_XCOMP_PERM = 0x1023
ARCH_GET_XCOMP_GUEST_PERM = 0x1024
ARCH_REQ_XCOMP_GUEST_PERM = 0x1025


MSR_IA32_XFD = 0x1C4
MSR_IA32_XFD_ERR = 0x1C5

# struct kvm_run: offsets used here
RUN_IMMEDIATE_EXIT = 1
RUN_EXIT_REASON = 8
RUN_IO = 32  # direction u8, size u8, port u16, count u32, data_offset u64

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
_libc.ioctl.restype = ctypes.c_int
_libc.syscall.restype = ctypes.c_long


class KvmError(OSError):
    """A failing KVM ioctl or arch_prctl; ``errno`` is the positive error number."""


def _check(ret: int, what: str) -> int:
    if ret < 0:
        e = ctypes.get_errno()
        raise KvmError(e, f"{what}: {errno.errorcode.get(e, e)} ({os.strerror(e)})")
    return ret


def ioctl(fd: int, request: int, arg=None, what: str = "ioctl") -> int:
    """ioctl(2); ``arg`` is an int, a ctypes object (passed by reference) or None."""
    if arg is None:
        ptr = None
    elif isinstance(arg, int):
        ptr = ctypes.c_void_p(arg)
    else:
        ptr = ctypes.cast(ctypes.pointer(arg), ctypes.c_void_p)
    return _check(_libc.ioctl(fd, request, ptr), what)


def arch_prctl(code: int, arg: int | ctypes.c_uint64 = 0) -> int:
    """arch_prctl(2) for the XCOMP codes; a ``c_uint64`` argument receives a mask."""
    if isinstance(arg, ctypes.c_uint64):
        ret = _libc.syscall(ctypes.c_long(SYS_ARCH_PRCTL), ctypes.c_long(code),
                            ctypes.byref(arg))
    else:
        ret = _libc.syscall(ctypes.c_long(SYS_ARCH_PRCTL), ctypes.c_long(code), ctypes.c_long(arg))
    return _check(ret, f"arch_prctl({code:#x})")


def get_mask(code: int) -> int:
    """ARCH_GET_XCOMP_SUPP / _PERM / _GUEST_PERM as an integer mask."""
    out = ctypes.c_uint64(0)
    arch_prctl(code, out)
    return out.value


# ----------------------------------------------------------------------------- structs


class Segment(ctypes.Structure):
    _fields_ = [("base", ctypes.c_uint64), ("limit", ctypes.c_uint32),
                ("selector", ctypes.c_uint16), ("type", ctypes.c_uint8),
                ("present", ctypes.c_uint8), ("dpl", ctypes.c_uint8), ("db", ctypes.c_uint8),
                ("s", ctypes.c_uint8), ("l", ctypes.c_uint8), ("g", ctypes.c_uint8),
                ("avl", ctypes.c_uint8), ("unusable", ctypes.c_uint8),
                ("padding", ctypes.c_uint8)]


class Dtable(ctypes.Structure):
    _fields_ = [("base", ctypes.c_uint64), ("limit", ctypes.c_uint16),
                ("padding", ctypes.c_uint16 * 3)]


class Sregs(ctypes.Structure):
    _fields_ = [("cs", Segment), ("ds", Segment), ("es", Segment), ("fs", Segment),
                ("gs", Segment), ("ss", Segment), ("tr", Segment), ("ldt", Segment),
                ("gdt", Dtable), ("idt", Dtable),
                ("cr0", ctypes.c_uint64), ("cr2", ctypes.c_uint64), ("cr3", ctypes.c_uint64),
                ("cr4", ctypes.c_uint64), ("cr8", ctypes.c_uint64), ("efer", ctypes.c_uint64),
                ("apic_base", ctypes.c_uint64), ("interrupt_bitmap", ctypes.c_uint64 * 4)]


class Regs(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in (
        "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp",
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags")]


class MemoryRegion(ctypes.Structure):
    _fields_ = [("slot", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("guest_phys_addr", ctypes.c_uint64), ("memory_size", ctypes.c_uint64),
                ("userspace_addr", ctypes.c_uint64)]


class CpuidEntry(ctypes.Structure):
    _fields_ = [("function", ctypes.c_uint32), ("index", ctypes.c_uint32),
                ("flags", ctypes.c_uint32), ("eax", ctypes.c_uint32), ("ebx", ctypes.c_uint32),
                ("ecx", ctypes.c_uint32), ("edx", ctypes.c_uint32),
                ("padding", ctypes.c_uint32 * 3)]


def cpuid2(n: int):
    """A ``struct kvm_cpuid2`` type with room for ``n`` entries."""

    class Cpuid2(ctypes.Structure):
        _fields_ = [("nent", ctypes.c_uint32), ("padding", ctypes.c_uint32),
                    ("entries", CpuidEntry * n)]

    return Cpuid2


class MsrEntry(ctypes.Structure):
    _fields_ = [("index", ctypes.c_uint32), ("reserved", ctypes.c_uint32),
                ("data", ctypes.c_uint64)]


def msrs(n: int):
    """A ``struct kvm_msrs`` type with ``n`` entries."""

    class Msrs(ctypes.Structure):
        _fields_ = [("nmsrs", ctypes.c_uint32), ("pad", ctypes.c_uint32),
                    ("entries", MsrEntry * n)]

    return Msrs


# ----------------------------------------------------------------------------- objects


def open_kvm(path: str | None = None) -> int:
    """Open /dev/kvm; a missing device or a refused open is an InputError (exit 2)."""
    path = path or KVM_PATH
    try:
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InputError(f"{path}: no such device: this kernel has no KVM (or it is not "
                         "loaded); nothing to probe") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied: run as a user in the kvm group "
                         "(or root)") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror}") from None


class Kvm:
    """The system fd (/dev/kvm)."""

    def __init__(self, path: str | None = None):
        self.fd = open_kvm(path)
        self.api_version = ioctl(self.fd, KVM_GET_API_VERSION, what="KVM_GET_API_VERSION")
        self.vcpu_mmap_size = ioctl(self.fd, KVM_GET_VCPU_MMAP_SIZE, what="KVM_GET_VCPU_MMAP_SIZE")

    def check_extension(self, cap: int, fd: int | None = None) -> int:
        return ioctl(self.fd if fd is None else fd, KVM_CHECK_EXTENSION, cap,
                     what=f"KVM_CHECK_EXTENSION({cap})")

    def supported_cpuid(self) -> list[CpuidEntry]:
        n = 256
        while True:
            buf = cpuid2(n)()
            buf.nent = n
            try:
                ioctl(self.fd, KVM_GET_SUPPORTED_CPUID, buf, what="KVM_GET_SUPPORTED_CPUID")
            except KvmError as exc:
                if exc.errno == errno.E2BIG and n < 4096:
                    n *= 2
                    continue
                raise
            return [buf.entries[i] for i in range(buf.nent)]

    def create_vm(self) -> Vm:
        return Vm(self)

    def close(self) -> None:
        os.close(self.fd)


def find_leaf(entries, function: int, index: int = 0) -> CpuidEntry | None:
    for e in entries:
        if e.function == function and e.index == index:
            return e
    return None


class Vm:
    """A VM fd with one slot of guest memory (anonymous mmap, mapped at guest address 0)."""

    def __init__(self, kvm: Kvm, mem_size: int = 0x200000):
        self.kvm = kvm
        self.fd = ioctl(kvm.fd, KVM_CREATE_VM, 0, what="KVM_CREATE_VM")
        self.vcpus: list[Vcpu] = []
        try:  # needed for real mode on VMX hosts without unrestricted guest; harmless elsewhere
            ioctl(self.fd, KVM_SET_TSS_ADDR, 0xFFFBD000, what="KVM_SET_TSS_ADDR")
        except KvmError:
            pass
        self.mem_size = mem_size
        self.mem = mmap.mmap(-1, mem_size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                             prot=mmap.PROT_READ | mmap.PROT_WRITE)
        self.mem_addr = ctypes.addressof(ctypes.c_char.from_buffer(self.mem))
        region = MemoryRegion(0, 0, 0, mem_size, self.mem_addr)
        ioctl(self.fd, KVM_SET_USER_MEMORY_REGION, region, what="KVM_SET_USER_MEMORY_REGION")

    def write(self, gpa: int, data: bytes) -> None:
        self.mem[gpa:gpa + len(data)] = data

    def create_vcpu(self) -> Vcpu:
        v = Vcpu(self, len(self.vcpus))
        self.vcpus.append(v)
        return v

    def check_extension(self, cap: int) -> int:
        return self.kvm.check_extension(cap, self.fd)

    def close(self) -> None:
        for v in self.vcpus:
            v.close()
        self.vcpus = []
        os.close(self.fd)
        # the mmap is released when the last reference goes (ctypes views may still hold it)


class Vcpu:
    """A vCPU fd and its mmap'ed ``struct kvm_run``."""

    def __init__(self, vm: Vm, vid: int):
        self.vm = vm
        self.id = vid
        self.fd = ioctl(vm.fd, KVM_CREATE_VCPU, vid, what="KVM_CREATE_VCPU")
        self.run_map = mmap.mmap(self.fd, vm.kvm.vcpu_mmap_size, flags=mmap.MAP_SHARED,
                                 prot=mmap.PROT_READ | mmap.PROT_WRITE)

    # kvm_run fields
    @property
    def exit_reason(self) -> int:
        return int.from_bytes(self.run_map[RUN_EXIT_REASON:RUN_EXIT_REASON + 4], "little")

    @property
    def immediate_exit(self) -> int:
        return self.run_map[RUN_IMMEDIATE_EXIT]

    @immediate_exit.setter
    def immediate_exit(self, value: int) -> None:
        self.run_map[RUN_IMMEDIATE_EXIT] = int(value)

    def io_port(self) -> int:
        return int.from_bytes(self.run_map[RUN_IO + 2:RUN_IO + 4], "little")

    def run(self) -> int:
        """KVM_RUN; returns the exit reason (EINTR with immediate_exit gives KVM_EXIT_INTR)."""
        try:
            ioctl(self.fd, KVM_RUN, what="KVM_RUN")
        except KvmError as exc:
            if exc.errno != errno.EINTR:
                raise
        return self.exit_reason

    def get_regs(self) -> Regs:
        r = Regs()
        ioctl(self.fd, KVM_GET_REGS, r, what="KVM_GET_REGS")
        return r

    def set_regs(self, r: Regs) -> None:
        ioctl(self.fd, KVM_SET_REGS, r, what="KVM_SET_REGS")

    def get_sregs(self) -> Sregs:
        s = Sregs()
        ioctl(self.fd, KVM_GET_SREGS, s, what="KVM_GET_SREGS")
        return s

    def set_sregs(self, s: Sregs) -> None:
        ioctl(self.fd, KVM_SET_SREGS, s, what="KVM_SET_SREGS")

    def set_cpuid(self, entries) -> None:
        buf = cpuid2(max(1, len(entries)))()
        buf.nent = len(entries)
        for i, e in enumerate(entries):
            ctypes.memmove(ctypes.byref(buf.entries[i]), ctypes.byref(e), ctypes.sizeof(CpuidEntry))
        ioctl(self.fd, KVM_SET_CPUID2, buf, what="KVM_SET_CPUID2")

    def set_msr(self, index: int, value: int) -> int:
        """KVM_SET_MSRS with one entry; returns how many were set (0: refused)."""
        buf = msrs(1)()
        buf.nmsrs = 1
        buf.entries[0].index, buf.entries[0].data = index, value
        return ioctl(self.fd, KVM_SET_MSRS, buf, what="KVM_SET_MSRS")

    def get_msr(self, index: int) -> int | None:
        """KVM_GET_MSRS with one entry; None when KVM does not return it."""
        buf = msrs(1)()
        buf.nmsrs = 1
        buf.entries[0].index = index
        n = ioctl(self.fd, KVM_GET_MSRS, buf, what="KVM_GET_MSRS")
        return buf.entries[0].data if n == 1 else None

    def get_xsave2(self, room: int = 1 << 16) -> int:
        """KVM_GET_XSAVE2 into a buffer of ``room`` bytes filled with a pattern; returns how
        many bytes the kernel wrote (the last byte that changed). The buffer is much larger
        than KVM_CAP_XSAVE2 says on purpose: a kernel that writes more than it announced
        (seen on 6.18 with kvm_pvm) must not overflow the probe's heap."""
        buf = (ctypes.c_uint8 * room)()
        ctypes.memset(buf, 0xA5, room)
        ioctl(self.fd, KVM_GET_XSAVE2, ctypes.addressof(buf), what="KVM_GET_XSAVE2")
        raw = bytes(buf)
        return len(raw.rstrip(b"\xa5"))

    def close(self) -> None:
        self.run_map.close()
        os.close(self.fd)
