"""Customer data service of a retail loyalty program."""
