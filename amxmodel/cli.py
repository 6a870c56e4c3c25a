"""The ``amxmodel`` command line.

Every subcommand reads validated input through the package and prints a table, JSON or
CSV. Bad input ends with one line ``amxmodel: error: ...`` and exit status 2, without a
traceback (``--debug`` shows one) and without leaving partial output behind.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from .errors import InputError
from .policies import POLICY_NAMES
from .reference import DEFAULT_KERNEL, KERNELS

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    """Register a subcommand handler."""

    def deco(fn):
        COMMANDS[name] = fn
        return fn

    return deco


def _add_scenario_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter, e.g. hardware.rdmsr_xfd_cycles=100 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amxmodel",
        description="What it costs to virtualize Intel AMX in KVM, per kernel design, for a fleet.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("params", help="list every parameter with unit, default, range and source")
    p.add_argument("scenario", nargs="?", default=None, help="scenario file or name (default: default)")
    _add_scenario_args(p)
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")

    p = sub.add_parser("replay", help="replay an explicit event trace through the reference model")
    p.add_argument("trace", help="trace YAML file (see data/traces/)")
    p.add_argument("--policy", action="append", choices=POLICY_NAMES, metavar="NAME",
                   help=f"policy to price (repeatable; default all): {', '.join(POLICY_NAMES)}")
    p.add_argument("--hardware", default=None, help="hardware profile name or file (default: the trace's, else spr)")
    p.add_argument("--kernel", choices=KERNELS, default=DEFAULT_KERNEL,
                   help="host kernel whose behaviour to replay where versions differ "
                        f"(XCR0 switch in the fastpath loop up to 6.18; default {DEFAULT_KERNEL})")
    p.add_argument("--option", action="append", metavar="POLICY.KEY=VALUE",
                   help="a design option, e.g. sync-always.xfd_reset=init (repeatable)")
    p.add_argument("--format", choices=["table", "json"], default="table")

    for extra in _EXTRA_PARSERS:
        extra(sub)
    return parser


_EXTRA_PARSERS: list[Callable] = []

# Modules that own a subcommand: each registers a parser with @extra_parser and a handler
# with @command. A module that is not there yet is skipped.
COMMAND_MODULES = (
    "amxmodel.runcli",
    "amxmodel.exportcli",
    "amxmodel.sweepcli",
    "amxmodel.calibratecli",
    "amxmodel.maincli",
    "amxmodel.benchcli",
)


def extra_parser(fn):
    """Register a function that adds a subparser (used by modules that own a subcommand)."""
    _EXTRA_PARSERS.append(fn)
    return fn


@command("params")
def _cmd_params(args) -> int:
    from .params import load_scenario
    from .paramtable import parameter_frame, render_parameters

    sc = load_scenario(args.scenario, args.sets)
    print(render_parameters(parameter_frame(sc), args.format))
    return 0


@command("replay")
def _cmd_replay(args) -> int:
    from .replay import render, replay_file

    hardware = None
    if args.hardware:
        from .params import load_scenario

        hardware = load_scenario(None, [f"hardware={args.hardware}"]).hardware
    from .reference_policies import parse_options

    options = parse_options(args.option)
    results = replay_file(args.trace, policies=args.policy, hardware=hardware, kernel=args.kernel,
                          options=options)
    print(render(results, args.format))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    _load_command_modules()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
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


def _load_command_modules() -> None:
    """Import the modules that register their own subcommands."""
    import importlib

    for mod in COMMAND_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
