"""``python -m amxmodel``: the command line."""

from .cli import main

raise SystemExit(main())
