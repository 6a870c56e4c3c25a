"""A minimal 64-bit guest: identity-mapped 2 MiB page, flat GDT, an IDT with a #NM handler,
as the kernel's selftests build one (tools/testing/selftests/kvm/lib/x86/processor.c).

AMX instructions exist only in 64-bit mode, so the guest #NM price needs this guest. The
programs (encodings checked with GNU as, assembly in the comments):

- ``TILE_NM`` at TILE_NM_ADDR: XSETBV to the XCR0 at [0x508], LDTILECFG [0x600], OUT (set-up
  done, run with the guest's XFD 0); then per KVM_RUN [0x500] x TILEZERO tmm0 and one
  OUT. With the guest's XFD[18] armed (by the host, after the set-up run) each TILEZERO
  raises #NM: KVM traps it (the intercept is on once XFD passthrough
  is), reads IA32_XFD_ERR in handle_nm_fault_irqoff() and injects the #NM; the guest's
  handler writes IA32_XFD_ERR = 0 (intercepted: a second exit), skips the 5-byte
  instruction and returns. That is the round a guest pays for each XFD-armed AMX use.
- ``CPUID64`` at CPUID64_ADDR: [0x500] CPUID exits per KVM_RUN, then OUT: the 64-bit twin
  of the real-mode loop, which also checks that this guest runs at all.
"""

from __future__ import annotations

import struct

from amxmodel.probe import guestcode, kvm

PML4, PDPT, PD = 0x9000, 0xA000, 0xB000
GDT, IDT = 0xC000, 0xD000
TILE_NM_ADDR, CPUID64_ADDR, NM_HANDLER_ADDR = 0x3000, 0x3100, 0x3200
XCR0_ADDR, TILECFG_ADDR = 0x508, 0x600
STACK_TOP = 0x80000

TILE_NM = bytes.fromhex(
    "31c9"              # xor ecx, ecx
    "8b042508050000"    # mov eax, [0x508]
    "31d2"              # xor edx, edx
    "0f01d1"            # xsetbv
    "c4e278490425" "00060000"  # ldtilecfg [0x600]
    "e610"              # out 0x10, al
    "8b342500050000"    # top: mov esi, [0x500]
    "c4e27b49c0"        # 1: tilezero tmm0
    "ffce"              # dec esi
    "75f7"              # jnz 1b
    "e610"              # out 0x10, al
    "ebec")             # jmp top
CPUID64 = bytes.fromhex(
    "8b342500050000"    # mov esi, [0x500]
    "31c0"              # 1: xor eax, eax
    "0fa2"              # cpuid
    "ffce"              # dec esi
    "75f8"              # jnz 1b
    "e610"              # out 0x10, al
    "ebed")             # jmp back to the mov
NM_HANDLER = bytes.fromhex(
    "50" "51" "52"      # push rax, rcx, rdx
    "b9c5010000"        # mov ecx, 0x1c5 (IA32_XFD_ERR)
    "31c0" "31d2"       # xor eax, eax; xor edx, edx
    "0f30"              # wrmsr
    "5a" "59" "58"      # pop rdx, rcx, rax
    "4883042405"        # add qword [rsp], 5 (skip TILEZERO)
    "48cf")             # iretq

CR0 = 0x80050033  # PG | AM | WP | NE | ET | MP | PE
CR4 = 0x40620  # OSXSAVE | OSXMMEXCPT | OSFXSR | PAE
EFER = 0x500  # LMA | LME


def load(vm: kvm.Vm, xcr0: int) -> None:
    """Page tables, GDT, IDT (#NM -> NM_HANDLER), programs, tile config, XCR0 to set."""
    vm.write(PML4, struct.pack("<Q", PDPT | 0x3))
    vm.write(PDPT, struct.pack("<Q", PD | 0x3))
    vm.write(PD, struct.pack("<Q", 0x0 | 0x83))  # 2 MiB page at 0, present, writable
    vm.write(GDT, struct.pack("<QQQ", 0, 0x00AF9B000000FFFF, 0x00CF93000000FFFF))
    off = NM_HANDLER_ADDR
    gate = struct.pack("<HHBBHIi", off & 0xFFFF, 8, 0, 0x8E, off >> 16 & 0xFFFF, off >> 32, 0)
    vm.write(IDT + 7 * 16, gate)
    vm.write(TILE_NM_ADDR, TILE_NM)
    vm.write(CPUID64_ADDR, CPUID64)
    vm.write(NM_HANDLER_ADDR, NM_HANDLER)
    cfg = bytearray(64)
    cfg[0], cfg[16], cfg[48] = 1, 64, 16  # palette 1; tile 0: 64 bytes x 16 rows
    vm.write(TILECFG_ADDR, bytes(cfg))
    vm.write(XCR0_ADDR, struct.pack("<I", xcr0))
    guestcode.set_count(vm, 1)


def _seg(seg, selector: int, type_: int, code: bool) -> None:
    seg.base, seg.limit, seg.selector, seg.type = 0, 0xFFFFFFFF, selector, type_
    seg.present, seg.dpl, seg.s, seg.g = 1, 0, 1, 1
    seg.l, seg.db = (1, 0) if code else (0, 1)


def start(vcpu: kvm.Vcpu, rip: int) -> None:
    """Long mode, paging on, CS 64-bit, execution from ``rip``."""
    s = vcpu.get_sregs()
    s.cr0, s.cr3, s.cr4, s.efer = CR0, PML4, CR4, EFER
    _seg(s.cs, 8, 11, True)
    for seg in (s.ds, s.es, s.fs, s.gs, s.ss):
        _seg(seg, 16, 3, False)
    s.tr.base, s.tr.limit, s.tr.selector, s.tr.type = 0, 0x67, 0, 11
    s.tr.present, s.tr.s = 1, 0
    s.ldt.unusable = 1
    s.gdt.base, s.gdt.limit = GDT, 3 * 8 - 1
    s.idt.base, s.idt.limit = IDT, 256 * 16 - 1
    vcpu.set_sregs(s)
    r = kvm.Regs()
    r.rip, r.rflags, r.rsp = rip, 0x2, STACK_TOP
    vcpu.set_regs(r)
