"""Which tool wrote a file: perf kvm stat, kvm_stat or bcc kvmexit.

``--tool auto`` looks for each tool's own marks, most specific first: perf's "Analyze
events for" / "VM-EXIT Samples" table, kvmexit's "KVM_EXIT_REASON COUNT" columns, then the
layouts of kvm_stat (batch, log, CSV log) and of debugfs counter dumps.
"""

from __future__ import annotations

from collections.abc import Callable

from amxmodel.common.errors import InputError

from . import bcc_kvmexit, kvm_stat, perf_kvm_stat
from .measure import Measurement

Parser = Callable[[list[str], str], Measurement]
TOOLS: dict[str, Parser] = {
    perf_kvm_stat.TOOL: perf_kvm_stat.parse,
    kvm_stat.TOOL: kvm_stat.parse,
    bcc_kvmexit.TOOL: bcc_kvmexit.parse,
}
_ORDER = ((perf_kvm_stat.TOOL, perf_kvm_stat.looks_like),
          (bcc_kvmexit.TOOL, bcc_kvmexit.looks_like),
          (kvm_stat.TOOL, kvm_stat.looks_like))


def detect(lines: list[str], path: str) -> str:
    """The name of the tool whose output ``lines`` are; InputError when none fits."""
    for name, looks_like in _ORDER:
        if looks_like(lines):
            return name
    first = next((f"line {i + 1}: {x.strip()!r}" for i, x in enumerate(lines) if x.strip()), "")
    raise InputError(f"{path}: cannot tell which tool wrote this ({first}); expected output of "
                     f"{', '.join(TOOLS)}; give --tool")


def parser_for(tool: str, lines: list[str], path: str) -> tuple[str, Parser]:
    """The tool name and parser for ``--tool`` (``auto`` detects)."""
    name = detect(lines, path) if tool == "auto" else tool
    if name not in TOOLS:
        raise InputError(f"--tool {tool}: unknown tool; allowed: {', '.join(TOOLS)}, auto")
    return name, TOOLS[name]
