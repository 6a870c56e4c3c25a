"""``python -m amxmodel``: the command line."""

from amxmodel.cli import main

raise SystemExit(main())
