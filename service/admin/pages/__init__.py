"""The admin page's routes, one module per page."""
