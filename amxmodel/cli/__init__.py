"""The ``amxmodel`` command line.

One module per command (``amxmodel/cli/<command>.py``), each with ``add_arguments(p)`` and
``run(args) -> int``. :data:`COMMANDS` is the one registration path: it names each
command's module and one-line help, so ``amxmodel --help`` imports no command module and
``amxmodel run`` imports only ``cli/run.py`` (and what it needs).

Every command reads validated input through the package and prints a table, JSON or CSV.
Bad input ends with one line ``amxmodel: error: ...`` and exit status 2, without a
traceback (``--debug`` shows one) and without leaving partial output behind.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """A subcommand: the module that owns it and its one-line help."""

    module: str
    help: str
    description: str | None = None


COMMANDS: dict[str, Command] = {
    "params": Command("params", "list every parameter with unit, default, range and source"),
    "run": Command("run", "run a scenario and print the per-policy table"),
    "replay": Command("replay", "replay an explicit event trace through the reference model"),
    "sweep": Command("sweep", "run a grid of scenarios (model calls or notebooks), resumable"),
    "export": Command(
        "export", "write the charts of a run or sweep as PNG, SVG and text",
        "Write the charts of a run or sweep folder as PNG, SVG and 72-column text, each "
        "captioned with the scenario. A sweep is one line per design against its swept "
        "parameter; a sweep of two parameters gets one panel per value of the second "
        "(--param for the x axis, --facet for the panels, e.g. amxmodel export "
        "sweeps/rdmsr --to out --param hardware.rdmsr_xfd_cycles --facet workload)."),
    "calibrate": Command(
        "calibrate", "write a workload class from perf kvm stat / kvm_stat / bcc kvmexit output",
        "Read VM exit statistics of a real host and write a workload class: exits per "
        "vCPU-second (median, spread across vCPUs) and the fastpath / user-space shares from "
        "the exit reasons (data/calibrate/exit_reasons.yaml); other fields from --base."),
    "main": Command(
        "mainjob", "the main job: run notebooks/01_sync_overhead.ipynb (or --all), export its "
                   "charts, an HTML copy and a reply draft into --out",
        "Run notebooks/01_sync_overhead.ipynb with --scenario and --set passed to it, and "
        "leave in --out the executed notebook, an HTML copy that needs no network, every "
        "chart as PNG, SVG and 72-column text, and reply.txt, a plain-text reply to the "
        "seed mail (87k0h85m65.ffs@tglx). --all runs every notebook and writes index.html."),
    "probe": Command("probe", "measure the kernel's AMX/XFD paths on this host through /dev/kvm"),
    "bench": Command("bench", "measure the engine against its lean floor and the random-number "
                              "floor, the event-level reference and the 10,000-host headline"),
}


def command_module(name: str):
    """The module that implements command ``name`` (imported on demand)."""
    return importlib.import_module(f"amxmodel.cli.{COMMANDS[name].module}")


def _chosen(argv: Sequence[str]) -> str | None:
    """The command named on the command line, if any (the first word that is one)."""
    for word in argv:
        if word in COMMANDS:
            return word
        if not word.startswith("-"):
            return None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; the options of command ``only`` (or of every command when None)."""
    parser = argparse.ArgumentParser(
        prog="amxmodel",
        description="What it costs to virtualize Intel AMX in KVM, per kernel design, for a fleet.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, cmd in COMMANDS.items():
        p = sub.add_parser(name, help=cmd.help, description=cmd.description or cmd.help)
        if only is None or name == only:
            command_module(name).add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    name = _chosen(argv)
    parser = build_parser(only=name or "")
    args = parser.parse_args(argv)
    from amxmodel.common.errors import InputError

    try:
        return command_module(args.command).run(args)
    except InputError as exc:
        if args.debug:
            raise
        print(f"amxmodel: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("amxmodel: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
