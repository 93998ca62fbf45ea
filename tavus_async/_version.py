"""The package version, in one place (read by the User-Agent, the CLI and the docs)."""

__version__ = "0.1.0"
