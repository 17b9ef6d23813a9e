"""Sphinx configuration: MyST Markdown, the furo theme, warnings are errors (scripts/check)."""

from importlib.metadata import version as _version

project = "usagebill"
author = "The usagebill authors"
copyright = "2026, The usagebill authors"
release = _version("usagebill")
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.napoleon",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True}
nitpicky = False

intersphinx_mapping = {}

html_theme = "furo"
html_title = "usagebill"
