"""amxmodel: what it costs to virtualize Intel AMX in KVM, for a whole fleet.

In November 2021 Thomas Gleixner proposed that KVM read IA32_XFD after every VM exit on
hosts with dynamic xfeatures and asked to "see how much overhead it creates". This
package answers that for every design that was on the table (:mod:`amxmodel.inputs.designs`),
with the memory and reallocation side of the same decision.

Entry points: :func:`amxmodel.inputs.scenario.load_scenario`, :mod:`amxmodel.kernel.upstream` and
:mod:`amxmodel.kernel.replay` (event level), the fleet engine, and the ``amxmodel`` CLI.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("amxmodel")
except PackageNotFoundError:  # running from a checkout without install
    __version__ = "0.0.0+checkout"
