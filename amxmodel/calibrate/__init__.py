"""Calibrate workload classes from real hosts: VM exit statistics in, a workload file out.

``amxmodel calibrate FILE --out data/workloads/NAME.yaml`` reads what ``perf kvm stat
report``, ``kvm_stat`` (batch, log, CSV log, debugfs counters) or bcc's ``kvmexit`` printed
on a host, counts exits per vCPU-second by VMX exit reason, sorts them into the model's
kinds (fastpath re-entry, handled in KVM, exit to user space) with the table in
data/calibrate/exit_reasons.yaml, and writes a workload class that ``amxmodel run --set
workload=PATH`` accepts.

Modules: one parser per tool (:mod:`.perf_kvm_stat`, :mod:`.kvm_stat`,
:mod:`.bcc_kvmexit`), :mod:`.detect` (which tool), :mod:`.mapping` (reason -> kinds),
:mod:`.rates` (per vCPU-second, spread), :mod:`.writer` (the class and the file),
:mod:`.pipeline` (one run), :mod:`.report` (the text table).
"""

from .pipeline import Result, calibrate

__all__ = ["Result", "calibrate"]
