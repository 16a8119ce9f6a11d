"""`python -m chronicon` runs the command line."""

from __future__ import annotations

from chronicon.cli import main

main()
