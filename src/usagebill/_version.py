"""The version of usagebill: read by the build (pyproject.toml) and by ``usagebill.__version__``."""

__version__ = "0.1.0.dev0"
