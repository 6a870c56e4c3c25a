"""The ``amxmodel`` command line.

One module per command (``amxmodel/cli/<command>.py``), each with ``add_arguments(p)`` and
``run(args) -> int``. :data:`COMMANDS` is the one registration path: it names each
command's module and one-line help, so ``amxmodel --help`` imports no command module and
``amxmodel run`` imports only ``cli/run.py`` (and what it needs).

Every command reads validated input through the package and prints a table, JSON or CSV.
Bad input (including a bad flag, and a file that cannot be read or written) ends with one
line ``amxmodel: error: ...`` and exit status 2, without a traceback (``--debug`` shows
one) and without leaving partial output behind. An interruption ends with one line and
exit status 130 (Ctrl-C, SIGINT) or 143 (SIGTERM): SIGTERM is turned into an exception so
that every writer removes its temporary files on the way out.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
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


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that ``finally`` blocks and writers clean up."""


def _on_sigterm(signum, frame):  # signal handler signature
    raise Terminated


def install_signal_handlers() -> None:
    """SIGTERM raises :class:`Terminated`; SIGINT raises KeyboardInterrupt (the default)."""
    if sys.platform != "win32":
        signal.signal(signal.SIGTERM, _on_sigterm)


def say(line: str) -> None:
    """Print one line to stderr, whatever the terminal's encoding can show."""
    enc = getattr(sys.stderr, "encoding", None) or "utf-8"
    text = line if len(line) <= 2000 else line[:2000] + " ..."
    text = text.encode(enc, "backslashreplace").decode(enc, "replace")
    print(text, file=sys.stderr)


class Parser(argparse.ArgumentParser):
    """argparse with the package's error format: one line, exit status 2."""

    def error(self, message: str):
        say(f"amxmodel: error: {message} (see '{self.prog} --help')")
        raise SystemExit(2)


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
    parser = Parser(
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
    install_signal_handlers()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv[:1]
    try:
        name = _chosen(argv)
        parser = build_parser(only=name or "")
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help (0) or a bad flag (2, its one line printed)
            return exc.code if isinstance(exc.code, int) else 2
        debug = args.debug
        return command_module(args.command).run(args)
    except Exception as exc:  # every error the user can cause ends as one line
        if debug:
            raise
        return _report(exc)
    except KeyboardInterrupt:
        say("amxmodel: interrupted")
        return 130
    except Terminated:
        say("amxmodel: terminated")
        return 143


def _report(exc: Exception) -> int:
    """One line for an error; exit status 2 for the user's input or files, else 1."""
    from amxmodel.common.errors import InputError

    if isinstance(exc, BrokenPipeError):  # a reader such as head(1) went away: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if isinstance(exc, InputError):
        say(f"amxmodel: error: {exc}")
        return 2
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        say(f"amxmodel: error: {where}{exc.strerror or exc} (use --debug for a traceback)")
        return 2
    if isinstance(exc, (RecursionError, MemoryError)):
        say(f"amxmodel: error: input too large or too deeply nested ({type(exc).__name__}); "
            "use --debug for a traceback")
        return 2
    raise exc
