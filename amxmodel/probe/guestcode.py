"""Guest programs: tiny real-mode loops placed in guest memory and started through the
KVM API (no firmware, no kernel), as the kernel's KVM selftests do.

Real mode is enough for the exit prices: OUT to a port nobody emulates in the kernel
exits to user space, and CPUID exits to KVM, which emulates it in the kernel and
re-enters. Encodings are checked with GNU as (``.code16``); the assembly is in the comments.
"""

from __future__ import annotations

import struct

from amxmodel.probe import kvm

COUNT_ADDR = 0x500  # u32: CPUID exits per KVM_RUN, read by CPUID_LOOP at its start
CPUID_LOOP_ADDR = 0x1000
OUT_LOOP_ADDR = 0x1100
WRMSR_XFD_LOOP_ADDR = 0x1200
PORT = 0x10

# 0x1000: mov esi, [0x500]; 1: xor eax, eax; cpuid; dec esi; jnz 1b; out 0x10, al; jmp 0x1000
# Each KVM_RUN: [0x500] CPUID exits handled in KVM, then one exit to user space (IO).
CPUID_LOOP = bytes.fromhex("668b360005" "6631c0" "0fa2" "664e" "75f7" "e610" "ebee")

# 0x1100: 1: out 0x10, al; jmp 1b  -- each KVM_RUN: one entry, one exit to user space (IO)
OUT_LOOP = bytes.fromhex("e610" "ebfc")


# 0x1200: mov esi, [0x500]; 1: mov ecx, 0x1c4; xor eax, eax; xor edx, edx; wrmsr; dec esi;
# jnz 1b; out 0x10, al; jmp 0x1200 -- [0x500] guest writes of 0 to IA32_XFD per KVM_RUN.
# A zero write never turns the intercept off (vmx_set_msr: only ``if (!ret && data)``), so
# each is an exit handled in KVM. Needs XFD in the guest CPUID (else #GP).
WRMSR_XFD_LOOP = bytes.fromhex("668b360005" "66b9c4010000" "6631c0" "6631d2" "0f30" "664e"
                               "75ee" "e610" "ebe5")


def load(vm: kvm.Vm) -> None:
    """Write the programs into guest memory."""
    vm.write(CPUID_LOOP_ADDR, CPUID_LOOP)
    vm.write(OUT_LOOP_ADDR, OUT_LOOP)
    vm.write(WRMSR_XFD_LOOP_ADDR, WRMSR_XFD_LOOP)
    set_count(vm, 1)


def set_count(vm: kvm.Vm, n: int) -> None:
    """CPUID exits per KVM_RUN for CPUID_LOOP (n >= 1)."""
    if n < 1:
        raise ValueError("CPUID_LOOP needs a count >= 1")
    vm.write(COUNT_ADDR, struct.pack("<I", n))


def start(vcpu: kvm.Vcpu, rip: int) -> None:
    """Real mode, CS = DS = 0, execution from ``rip``."""
    s = vcpu.get_sregs()
    for seg in (s.cs, s.ds, s.es, s.ss):
        seg.base, seg.selector = 0, 0
    vcpu.set_sregs(s)
    r = kvm.Regs()
    r.rip, r.rflags, r.rsp = rip, 0x2, 0x8000
    vcpu.set_regs(r)


def expect_io(vcpu: kvm.Vcpu, what: str) -> None:
    """The vCPU's last exit was our OUT; anything else means the guest went wrong."""
    reason = vcpu.exit_reason
    if reason != kvm.KVM_EXIT_IO or vcpu.io_port() != PORT:
        name = kvm.EXIT_NAMES.get(reason, str(reason))
        raise RuntimeError(f"{what}: expected an IO exit on port {PORT:#x}, got {name}")
