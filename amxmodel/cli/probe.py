"""``amxmodel probe``: the kernel's AMX/XFD paths measured on this host through /dev/kvm.

The probe itself is the package :mod:`amxmodel.probe`; this module only connects it.
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``amxmodel probe``."""
    from amxmodel.probe.command import add_arguments as probe_arguments

    probe_arguments(p)


def run(args: argparse.Namespace) -> int:
    from amxmodel.probe.command import run as probe_run

    return probe_run(args)
