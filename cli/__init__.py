"""The composition root: the `customers` command and the HTTP application as it is served.

The only package that knows every other one. It wires the entry folders (`service`, `etl`,
`jobs`) to the core (`customers`); they import only the core, never each other, never this.
"""
