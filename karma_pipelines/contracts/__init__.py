"""Contracts: the tables and their columns, config field paths, the dependency links between
components, secret redaction, and where the static inputs (suites, model specs) are found."""
