"""Applications on top of the library: the `karma-pipelines` command line and the UI launcher."""
