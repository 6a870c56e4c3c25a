"""``amxmodel probe``: registered in the CLI; the command lives in :mod:`amxmodel.probe.command`."""

from __future__ import annotations

from .cli import command, extra_parser


@extra_parser
def _parser(sub) -> None:
    from .probe.command import add_arguments

    add_arguments(sub.add_parser(
        "probe", help="measure the kernel's AMX/XFD paths on this host through /dev/kvm"))


@command("probe")
def _probe(args) -> int:
    from .probe.command import run

    return run(args)
