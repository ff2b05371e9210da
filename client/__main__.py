"""C{python -m client ...}: see L{client.cli}."""

from client.cli import main

raise SystemExit(main())
