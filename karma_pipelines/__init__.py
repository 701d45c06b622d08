"""karma-pipelines: learn from the deploy history of a Karma infrastructure graph."""

__version__ = "0.1.0"
