"""XSAVE feature bits and register values the kernel model uses, each defined once.

Names follow ``arch/x86/include/asm/fpu/types.h`` (``XFEATURE_MASK_*``). IA32_XFD (MSR
0x1C4) and IA32_XFD_ERR (0x1C5) hold bits of the same masks; with AMX the only
XFD-capable feature is XTILEDATA (component 18). XTILECFG (component 17) is not
XFD-capable, but XCR0 must enable both tile components or neither.
"""

XFEATURE_XTILEDATA = 18  # the component number (arch_prctl ARCH_REQ_XCOMP_PERM takes it)
XTILECFG = 0x20000  # XFEATURE_MASK_XTILE_CFG, component 17 (64 bytes, not dynamic)
XTILEDATA = 0x40000  # XFEATURE_MASK_XTILE_DATA, component 18: the only bit IA32_XFD may hold
XTILE = XTILECFG | XTILEDATA  # XFEATURE_MASK_XTILE: XCR0 sets both bits or neither
XCR0_X87 = 0x1  # XFEATURE_MASK_FP: always set in XCR0
XCR0_LEGACY = 0x2E7  # x87|SSE|AVX|opmask|ZMM_Hi256|Hi16_ZMM: a pre-AMX guest's XCR0
XCR0_AMX = XCR0_LEGACY | XTILE  # the same guest with AMX enabled
# kvm_host.xcr0 of a Sapphire Rapids host: x87 SSE AVX opmask ZMM_Hi256 Hi16_ZMM PKRU
# XTILECFG XTILEDATA (what amx_test's vcpu_init_xcrs() reads as supported on SPR). The
# ``no-amx`` reference is the same host with AMX absent from XCR0: HOST_XCR0 & ~XTILE.
# A guest without AMX in XCR0 has the host's XCR0 minus the tile bits (XCR0_LEGACY): on an
# AMX host KVM switches XCR0 around every entry; on the same host without AMX it would not.
HOST_XCR0 = XCR0_AMX
HOST_XFD = XTILEDATA  # init_fpstate.xfd on an AMX host: what an ordinary host task runs with
