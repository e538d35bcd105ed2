"""ungated: an open, self-hosted text-to-video studio."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ungated")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
