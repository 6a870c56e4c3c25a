"""One part of the probe in a process of its own: ``python -m amxmodel.probe.worker PART``.

Permissions granted by arch_prctl and locked by the first vCPU last as long as the process,
so each part starts clean here and prints its observations as one JSON object. A part that
cannot run prints ``{"skipped": reason}``.
"""

from __future__ import annotations

import json
import os
import sys

from amxmodel.probe import checks, guestamx, measure, tracefs

PARTS = ("perm_late", "perm_early", "cpuid_noperm", "trace", "measure", "guest")


def _trace() -> dict:
    root, why = tracefs.find_root()
    mounted = False
    if root is None and os.geteuid() == 0 and "not mounted" in why:
        failed = tracefs.mount_private()
        if failed:
            return {"skipped": f"{why}; mounting it privately failed: {failed}"}
        root, why = tracefs.find_root()
        mounted = True
    if root is None:
        return {"skipped": why}
    out = checks.kernel_trace(root)
    out["tracefs"] = root + (" (mounted by the probe in its own mount namespace)" if mounted else "")
    return out


def run_part(part: str, quick: bool, progress: bool) -> dict:
    if part == "perm_late":
        return checks.kernel_perm_late()
    if part == "perm_early":
        return checks.kernel_perm_early()
    if part == "cpuid_noperm":
        return checks.kernel_cpuid_noperm()
    if part == "trace":
        return _trace()
    def show(text: str) -> None:
        if progress:
            print(f"\ramxmodel probe: {text:<40}", end="", file=sys.stderr, flush=True)

    if part == "measure":
        res = measure.measure(quick=quick, progress=show)
        show("")
        return res
    if part == "guest":
        try:
            res = guestamx.measure_guest(quick=quick, progress=show)
        except RuntimeError as exc:  # the kernel refused a step: say which
            res = {"skipped": str(exc)}
        show("")
        return res
    raise SystemExit(f"unknown part {part!r}; allowed: {', '.join(PARTS)}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    part = argv[0] if argv else ""
    print(json.dumps(run_part(part, "--quick" in argv, "--progress" in argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
