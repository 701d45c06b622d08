"""The one path from any source to validated, labelled tables, and what is built on it (backtest, scoring)."""
