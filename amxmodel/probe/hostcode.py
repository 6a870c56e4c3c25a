"""Small pieces of x86-64 machine code run in this process through ctypes.

Python cannot execute CPUID or TILERELEASE, and its own loop costs far more than the
kernel paths measured here. So a few functions are written as bytes (encodings checked
with GNU as; the assembly is in the comments) into an anonymous executable mapping and
called through ctypes. The timed loop issues the ioctl with the ``syscall`` instruction
between two RDTSC reads, so no Python runs inside a timed batch.
"""

from __future__ import annotations

import ctypes
import mmap
from functools import lru_cache

# void cpuid(u32 leaf, u32 subleaf, u32 out[4])
CPUID = bytes.fromhex(
    "53"          # push rbx
    "4989d0"      # mov r8, rdx
    "89f8"        # mov eax, edi
    "89f1"        # mov ecx, esi
    "0fa2"        # cpuid
    "418900"      # mov [r8], eax
    "41895804"    # mov [r8+4], ebx
    "41894808"    # mov [r8+8], ecx
    "4189500c"    # mov [r8+12], edx
    "5b"          # pop rbx
    "c3")         # ret

# u64 syscall_loop(u64 n, u64 nr, u64 a0, u64 a1, u64 a2): n >= 1 syscalls nr(a0, a1, a2)
# back to back; returns the TSC ticks they took (LFENCE; RDTSC before and after). Return
# values are ignored: the caller checks the vCPU state after the batch.
SYSCALL_LOOP = bytes.fromhex(
    "53" "55" "4154" "4155" "4156" "4157"  # push rbx, rbp, r12-r15
    "4989fc"      # mov r12, rdi   (n)
    "4989f5"      # mov r13, rsi   (nr)
    "4989d6"      # mov r14, rdx   (a0)
    "4989cf"      # mov r15, rcx   (a1)
    "4c89c5"      # mov rbp, r8    (a2)
    "0faee8"      # lfence
    "0f31"        # rdtsc
    "48c1e220"    # shl rdx, 32
    "4809d0"      # or rax, rdx
    "4889c3"      # mov rbx, rax
    "4c89e8"      # 1: mov rax, r13
    "4c89f7"      # mov rdi, r14
    "4c89fe"      # mov rsi, r15
    "4889ea"      # mov rdx, rbp
    "0f05"        # syscall
    "49ffcc"      # dec r12
    "75ed"        # jnz 1b
    "0faee8"      # lfence
    "0f31"        # rdtsc
    "48c1e220"    # shl rdx, 32
    "4809d0"      # or rax, rdx
    "4829d8"      # sub rax, rbx
    "415f" "415e" "415d" "415c" "5d" "5b"  # pop r15-r12, rbp, rbx
    "c3")         # ret
SYS_IOCTL = 16
SYS_SCHED_YIELD = 24

# u64 rdtsc(void)
RDTSC = bytes.fromhex("0faee8" "0f31" "48c1e220" "4809d0" "c3")  # lfence; rdtsc; shl; or; ret

# void tilerelease(void): put the tiles in their init state. Measured on kernel 6.18: with
# IA32_XFD[18] armed it does NOT raise #NM (the thread's XFD stays armed, as the
# msr:write_msr tracepoint shows), so it cannot serve as the thread's first AMX use.
TILERELEASE = bytes.fromhex("c4e27849c0" "c3")

# void touch_tiles(const u8 cfg[64]): LDTILECFG (palette 1, tile 0 of 16 rows x 64 bytes),
# TILEZERO tmm0, TILERELEASE. TILEZERO accesses XTILEDATA: with IA32_XFD[18] armed it
# raises #NM, and Linux gives the thread a full-size fpstate and clears XFD[18] for it if
# the process holds ARCH_REQ_XCOMP_PERM for XTILEDATA (else SIGILL). TILERELEASE then puts
# the tiles back in their init state (XINUSE[18] = 0), so later saves skip the 8 KiB.
# (Neither TILERELEASE nor an XRSTOR of init-state tiles raised #NM with XFD armed on
# kernel 6.18 here: they cannot serve as the first touch.)
TOUCH_TILES = bytes.fromhex(
    "c4e2784907"  # ldtilecfg [rdi]
    "c4e27b49c0"  # tilezero tmm0
    "c4e27849c0"  # tilerelease
    "c3")         # ret


class _Code:
    """One executable page holding all the functions above."""

    def __init__(self) -> None:
        blobs = {"cpuid": CPUID, "syscall_loop": SYSCALL_LOOP, "tilerelease": TILERELEASE,
                 "touch_tiles": TOUCH_TILES, "rdtsc": RDTSC}
        self.page = mmap.mmap(-1, mmap.PAGESIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                              prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        base = ctypes.addressof(ctypes.c_char.from_buffer(self.page))
        off = 0
        self.addr = {}
        for name, blob in blobs.items():
            self.page[off:off + len(blob)] = blob
            self.addr[name] = base + off
            off += (len(blob) + 15) & ~15
        u32, u64 = ctypes.c_uint32, ctypes.c_uint64
        self.cpuid = ctypes.CFUNCTYPE(None, u32, u32, ctypes.POINTER(u32))(self.addr["cpuid"])
        self.syscall_loop = ctypes.CFUNCTYPE(u64, u64, u64, u64, u64, u64)(
            self.addr["syscall_loop"])
        self.tilerelease = ctypes.CFUNCTYPE(None)(self.addr["tilerelease"])
        self.rdtsc = ctypes.CFUNCTYPE(u64)(self.addr["rdtsc"])
        self.touch_tiles = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(self.addr["touch_tiles"])
        self.tilecfg = (ctypes.c_uint8 * 64)()
        self.tilecfg[0] = 1  # palette 1
        self.tilecfg[16] = 64  # colsb[0]: 64 bytes per row
        self.tilecfg[48] = 16  # rows[0]


@lru_cache(maxsize=1)
def code() -> _Code:
    """The process's executable page (made once)."""
    return _Code()


def cpuid(leaf: int, subleaf: int = 0) -> tuple[int, int, int, int]:
    """CPUID as this (possibly virtual) CPU answers it: (eax, ebx, ecx, edx)."""
    out = (ctypes.c_uint32 * 4)()
    code().cpuid(leaf, subleaf, out)
    return out[0], out[1], out[2], out[3]


def rdtsc() -> int:
    """The time stamp counter."""
    return int(code().rdtsc())


def timed_ioctls(n: int, fd: int, request: int, arg: int = 0) -> int:
    """TSC ticks taken by ``n`` back-to-back ioctl(fd, request, arg) syscalls."""
    if n < 1:
        raise ValueError("n must be >= 1")
    return int(code().syscall_loop(n, SYS_IOCTL, fd & (2**64 - 1), request, arg))


def timed_yields(n: int) -> int:
    """TSC ticks taken by ``n`` sched_yield() calls (a context switch each when another
    thread is runnable on this CPU)."""
    if n < 1:
        raise ValueError("n must be >= 1")
    return int(code().syscall_loop(n, SYS_SCHED_YIELD, 0, 0, 0))


def tilerelease() -> None:
    """Execute TILERELEASE in the calling thread (needs XCR0[18] and the process permission)."""
    code().tilerelease()


def touch_tiles() -> None:
    """The calling thread's first AMX use (see TOUCH_TILES); tiles are released after it.

    Needs ARCH_REQ_XCOMP_PERM for XTILEDATA first, or the kernel sends SIGILL.
    """
    c = code()
    c.touch_tiles(ctypes.addressof(c.tilecfg))
