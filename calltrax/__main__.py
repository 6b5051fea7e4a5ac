"""`python -m calltrax` runs the CLI."""

from calltrax.cli import main

raise SystemExit(main())
