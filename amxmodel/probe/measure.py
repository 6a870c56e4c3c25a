"""Host-side prices, measured differentially in short alternating batches.

Runs in a worker process that asks ARCH_REQ_XCOMP_PERM for XTILEDATA (process-wide, for
good). Four worker threads are pinned to one CPU: A1, A2 never use AMX (their XFD stays
armed, 0x40000); B1, B2 execute TILEZERO once (the kernel then gives them a full-size
fpstate and XFD 0). Two vCPUs run the guest programs of :mod:`.guestcode`, vCPU a only
from A1 and vCPU b only from B1 (a change of thread costs KVM_RUN a synchronize_rcu()).

Prices (TSC ticks; the profile sets cpu_hz to the TSC frequency so that time is right):

- ``kvm_run_cycles``: KVM_RUN with immediate_exit from B1 (no XFD write): the kernel's
  KVM_RUN round trip that does not enter the guest, syscall included.
- ``wrmsr_xfd_cycles``: KVM_RUN with immediate_exit from A1 minus the same from B1 is the
  WRMSR(XFD) pair of fpu_swap_kvm_fpstate() *minus* the extra cost of B's larger host
  fpstate (XSAVES/XRSTORS of the task state). That extra cost is measured on its own by a
  sched_yield() ping-pong between B1 and B2 against one between A1 and A2 (same XFD on
  both sides, so no XFD write; one save and one restore of a task fpstate per switch, as
  per KVM_RUN). WRMSR = (D_run + D_fpstate) / 2.
- ``exit_user_cycles``: KVM_RUN from B1 on a 64-bit guest that executes OUT in a loop:
  entry, exit to user space, back.
- ``exit_kernel_cycles``: the slope of KVM_RUN time over the number of CPUID exits the
  64-bit guest takes inside one KVM_RUN (CPUID is emulated in KVM and re-entered).
  The same two prices with a real-mode guest are components: under PVM real mode is
  emulated by KVM and much cheaper than a world switch, so it is not the exit price.
"""

from __future__ import annotations

import os
import queue
import random
import statistics
import threading
from collections.abc import Callable
from dataclasses import dataclass

from amxmodel.probe import guest64, guestcode, hostcode, kvm, stats
from amxmodel.probe.checks import thread_switches


@dataclass(frozen=True)
class Sizes:
    rounds: int  # alternation rounds kept (each runs every condition once)
    warmup: int  # rounds dropped first
    run_batch: int  # KVM_RUNs with immediate_exit per batch
    yield_batch: int  # sched_yield calls per thread per batch
    user_batch: int  # KVM_RUNs with an OUT exit per batch
    cpuid_batch: int  # KVM_RUNs per batch in the CPUID loop
    cpuid_extra: int  # CPUID exits added per KVM_RUN in the 'hi' condition


FULL = Sizes(rounds=1000, warmup=50, run_batch=200, yield_batch=200, user_batch=100,
             cpuid_batch=10, cpuid_extra=50)
QUICK = Sizes(rounds=12, warmup=3, run_batch=20, yield_batch=20, user_batch=10,
              cpuid_batch=2, cpuid_extra=5)


class Pinned(threading.Thread):
    """A thread pinned to one CPU that runs the callables it is given, in order."""

    def __init__(self, cpu: int, touch_tiles: bool, name: str):
        super().__init__(daemon=True, name=name)
        self.cpu, self.touch = cpu, touch_tiles
        self.jobs: queue.Queue = queue.Queue()
        self.results: queue.Queue = queue.Queue()
        self.start()
        self.tid = self.call(threading.get_native_id)

    def run(self) -> None:
        os.sched_setaffinity(0, {self.cpu})
        if self.touch:
            hostcode.touch_tiles()
        while True:
            fn = self.jobs.get()
            if fn is None:
                return
            try:
                self.results.put((True, fn()))
            except Exception as exc:  # noqa: BLE001 -- handed back to the caller, re-raised there
                self.results.put((False, exc))

    def submit(self, fn: Callable) -> None:
        self.jobs.put(fn)

    def result(self):
        ok, value = self.results.get()
        if not ok:
            raise value
        return value

    def call(self, fn: Callable):
        self.submit(fn)
        return self.result()

    def stop(self) -> None:
        self.jobs.put(None)
        self.join()


def alternate(conds: dict[str, Callable[[], float]], sizes: Sizes, seed: int,
              tick: Callable[[], None] = lambda: None) -> dict[str, list[float]]:
    """Run every condition once per round in a shuffled order; drop the warm-up rounds.

    Each condition returns one batch's mean (ticks per operation); the lists stay aligned
    by round, so element i of two lists are neighbours in time (pairs for differences).
    """
    rng = random.Random(seed)
    out: dict[str, list[float]] = {k: [] for k in conds}
    names = list(conds)
    for r in range(sizes.warmup + sizes.rounds):
        rng.shuffle(names)
        batch = {k: conds[k]() for k in names}
        if r >= sizes.warmup:
            for k, v in batch.items():
                out[k].append(v)
        tick()
    return out


def pick_cpu() -> int:
    """The last CPU this process may run on (CPU 0 takes most of the interrupts)."""
    return max(os.sched_getaffinity(0))


def measure(quick: bool = False, progress: Callable[[str], None] = lambda s: None) -> dict:
    """All host-side prices; returns ``{"prices": ..., "components": ..., "setup": ...}``."""
    sizes = QUICK if quick else FULL
    k = kvm.Kvm()
    kvm.arch_prctl(kvm.ARCH_REQ_XCOMP_PERM, kvm.XFEATURE_XTILEDATA)
    entries = k.supported_cpuid()
    cpu = pick_cpu()
    a1, a2 = Pinned(cpu, False, "A1"), Pinned(cpu, False, "A2")
    b1, b2 = Pinned(cpu, True, "B1"), Pinned(cpu, True, "B2")
    vm = k.create_vm()
    guestcode.load(vm)
    guest64.load(vm, xcr0=0x7)  # x87 | SSE | AVX: no AMX needed for these loops
    va, vb, vr = vm.create_vcpu(), vm.create_vcpu(), vm.create_vcpu()
    for v in (va, vb, vr):
        v.set_cpuid(entries)
    steps = 4 * (sizes.warmup + sizes.rounds)  # four alternations, one tick per round
    done = [0]

    def tick(part: str):
        def f():  # between batches, and only when the percentage changes
            done[0] += 1
            if 100 * done[0] // steps != 100 * (done[0] - 1) // steps:
                progress(f"{part} {100 * done[0] // steps} %")
        return f

    try:
        # -- KVM_RUN with immediate_exit: armed (A1) vs XFD 0 (B1), and a bare syscall
        for t, v in ((a1, va), (b1, vb)):
            v.immediate_exit = 1
            t.call(v.run)  # first KVM_RUN from this thread: sets vcpu->pid
        n = sizes.run_batch
        run = alternate({
            "armed": lambda: a1.call(lambda: hostcode.timed_ioctls(n, va.fd, kvm.KVM_RUN) / n),
            "xfd0": lambda: b1.call(lambda: hostcode.timed_ioctls(n, vb.fd, kvm.KVM_RUN) / n),
            "ebadf": lambda: b1.call(lambda: hostcode.timed_ioctls(n, -1, kvm.KVM_RUN) / n),
        }, sizes, seed=1, tick=tick("KVM_RUN immediate_exit"))

        # -- sched_yield ping-pong: A1<->A2 vs B1<->B2 (per context switch)
        m = sizes.yield_batch
        per_yield: list[float] = []  # context switches per sched_yield: ~1 if they alternate

        def pingpong(t1: Pinned, t2: Pinned) -> float:
            def body():
                s0 = thread_switches()
                ticks = hostcode.timed_yields(m)
                return ticks, thread_switches() - s0
            t1.submit(body)
            t2.submit(body)
            (e1, s1), (e2, s2) = t1.result(), t2.result()
            per_yield.append((s1 + s2) / (2 * m))
            if s1 + s2 == 0:
                raise RuntimeError("sched_yield() did not switch between the two threads")
            return (e1 + e2) / 2 / (s1 + s2)

        yields = alternate({"armed": lambda: pingpong(a1, a2), "xfd0": lambda: pingpong(b1, b2)},
                           sizes, seed=2, tick=tick("context switches"))

        # -- exit to user space: OUT loop from A1 and B1 (64-bit), B1 in real mode
        for v in (va, vb, vr):
            v.immediate_exit = 0
        guest64.start(vb, guestcode.OUT_LOOP_ADDR)  # "out; jmp" is the same in both modes
        guest64.start(va, guestcode.OUT_LOOP_ADDR)
        guestcode.start(vr, guestcode.OUT_LOOP_ADDR)
        for t, v in ((a1, va), (b1, vb), (b1, vr)):
            t.call(v.run)
            guestcode.expect_io(v, "OUT loop")
        u = sizes.user_batch

        def user(t: Pinned, v: kvm.Vcpu) -> float:
            x = t.call(lambda: hostcode.timed_ioctls(u, v.fd, kvm.KVM_RUN) / u)
            guestcode.expect_io(v, "OUT loop")
            return x

        users = alternate({"armed": lambda: user(a1, va), "xfd0": lambda: user(b1, vb),
                           "real": lambda: user(b1, vr)},
                          sizes, seed=3, tick=tick("exits to user space"))

        # -- exits handled in KVM: CPUID loops from B1, 1 vs 1 + extra CPUIDs per KVM_RUN,
        #    in 64-bit mode (vb) and in real mode (vr)
        guest64.start(vb, guest64.CPUID64_ADDR)
        guestcode.start(vr, guestcode.CPUID_LOOP_ADDR)
        c = sizes.cpuid_batch

        def cpuid(v: kvm.Vcpu, count: int) -> float:
            guestcode.set_count(vm, count)
            b1.call(v.run)  # finishes the run begun with the old count
            guestcode.expect_io(v, "CPUID loop")
            x = b1.call(lambda: hostcode.timed_ioctls(c, v.fd, kvm.KVM_RUN) / c)
            guestcode.expect_io(v, "CPUID loop")
            return x

        extra = sizes.cpuid_extra
        cpuids = alternate({"lo": lambda: cpuid(vb, 1), "hi": lambda: cpuid(vb, 1 + extra),
                            "real_lo": lambda: cpuid(vr, 1),
                            "real_hi": lambda: cpuid(vr, 1 + extra)}, sizes,
                           seed=4, tick=tick("CPUID exits"))
    finally:
        for t in (a1, a2, b1, b2):
            t.stop()
        vm.close()
        k.close()

    res = summarize(run, yields, users, cpuids, sizes, cpu)
    res["setup"]["switches_per_sched_yield_median"] = round(statistics.median(per_yield), 3)
    return res


def summarize(run, yields, users, cpuids, sizes: Sizes, cpu: int) -> dict:
    """Prices with intervals from the batch means."""
    n_run, n_y = sizes.run_batch, sizes.yield_batch
    d_run = stats.paired_diff(run["armed"], run["xfd0"], 2 * n_run * sizes.rounds)
    d_fp = stats.paired_diff(yields["xfd0"], yields["armed"], 4 * n_y * sizes.rounds)
    boots = (stats.boot_paired(run["armed"], run["xfd0"], seed=11)
             + stats.boot_paired(yields["xfd0"], yields["armed"], seed=12)) / 2
    wrmsr = stats.combine((d_run.value + d_fp.value) / 2, boots, sizes.rounds,
                          d_run.calls + d_fp.calls)
    slope = stats.paired_diff(cpuids["hi"], cpuids["lo"],
                              2 * sizes.cpuid_batch * sizes.rounds).scaled(1 / sizes.cpuid_extra)
    prices = {
        "wrmsr_xfd_cycles": wrmsr,
        "kvm_run_cycles": stats.median_ci(run["xfd0"], n_run * sizes.rounds),
        "exit_user_cycles": stats.median_ci(users["xfd0"], sizes.user_batch * sizes.rounds),
        "exit_kernel_cycles": slope,
    }
    components = {
        "kvm_run_armed_minus_xfd0": d_run,
        "fpstate_full_minus_default_per_switch": d_fp,
        "kvm_run_armed": stats.median_ci(run["armed"], n_run * sizes.rounds),
        "bare_ioctl_syscall": stats.median_ci(run["ebadf"], n_run * sizes.rounds),
        "context_switch_xfd0": stats.median_ci(yields["xfd0"], 2 * n_y * sizes.rounds),
        "context_switch_armed": stats.median_ci(yields["armed"], 2 * n_y * sizes.rounds),
        "exit_user_armed": stats.median_ci(users["armed"], sizes.user_batch * sizes.rounds),
        "exit_user_armed_minus_xfd0": stats.paired_diff(
            users["armed"], users["xfd0"], 2 * sizes.user_batch * sizes.rounds),
        "exit_user_real_mode": stats.median_ci(users["real"], sizes.user_batch * sizes.rounds),
        "exit_kernel_cpuid_real_mode": stats.paired_diff(
            cpuids["real_hi"], cpuids["real_lo"],
            2 * sizes.cpuid_batch * sizes.rounds).scaled(1 / sizes.cpuid_extra),
    }
    return {"prices": {k: v.as_dict() for k, v in prices.items()},
            "components": {k: v.as_dict() for k, v in components.items()},
            "setup": {"cpu": cpu, "rounds": sizes.rounds, "warmup_rounds": sizes.warmup,
                      "batch_calls": {"kvm_run": sizes.run_batch, "sched_yield": sizes.yield_batch,
                                      "exit_user": sizes.user_batch,
                                      "cpuid_loop_runs": sizes.cpuid_batch},
                      "cpuid_extra": sizes.cpuid_extra}}
