"""``python -m sciio``: the ``sciio`` command."""

from sciio.main import main

raise SystemExit(main())
