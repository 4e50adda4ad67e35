"""`python -m customers` runs the command line."""

from customers.cli import main

main()
