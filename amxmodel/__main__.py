"""``python -m amxmodel``: the command line.

Signals are set up before the (slow) imports, so a Ctrl-C or SIGTERM while Python is
still loading pandas ends with one line and exit status 130 or 143, not a traceback.
"""

import signal
import sys


def _interrupted(status: int, word: str) -> None:
    print(f"amxmodel: {word}", file=sys.stderr)
    raise SystemExit(status)


def _on_sigterm(signum, frame):  # replaced by the CLI's own once imported
    _interrupted(143, "terminated")


signal.signal(signal.SIGTERM, _on_sigterm)
try:
    from amxmodel.cli import main
except KeyboardInterrupt:
    _interrupted(130, "interrupted")

raise SystemExit(main())
