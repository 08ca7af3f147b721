"""`python -m prospectguard` runs the CLI."""

from prospectguard.cli import main

main()
