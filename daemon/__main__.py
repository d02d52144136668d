"""``python -m daemon``: the same as the ``svmon`` console script."""

from __future__ import annotations

from daemon.cli import main

raise SystemExit(main())
