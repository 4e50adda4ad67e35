"""`python -m cli` runs the `customers` command."""

from cli.main import main

main(prog_name="customers")
