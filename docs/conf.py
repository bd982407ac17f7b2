"""Sphinx configuration of the blackbox-opt documentation.

Build with ``make docs`` or
``sphinx-build -W --keep-going -b html docs docs/_build/html`` (warnings are errors).
The build is offline: no extension downloads anything.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys

import matplotlib
from sphinx.util import logging as sphinx_logging

# The gallery renders figures without a display.
matplotlib.use("agg")

# Document the code of this checkout. The package must also be installed (``make docs``
# installs it editable) so that the ``problems`` entry points are registered.
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

import blackbox_opt  # noqa: E402

# The gallery examples run inside this process. Their per-iteration kernels are tiny
# (one 256 x 256 image), and a multi-threaded torch pool gains nothing on them but
# slows down by an order of magnitude when other processes share the (2-core) machine.
torch.set_num_threads(1)

# -- Project information --------------------------------------------------------------
project = "blackbox-opt"
author = "blackbox-opt developers"
copyright = "blackbox-opt developers"
release = blackbox_opt.__version__
version = ".".join(release.split(".")[:2])

# -- General configuration ------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
# examples/ holds the gallery sources; sphinx-gallery turns them into auto_examples/.
exclude_patterns = ["_build", "examples", "Thumbs.db", ".DS_Store"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
# Single backticks in docstrings are Python cross-references (rendered as code; linked
# when the target is documented), as numpydoc recommends.
default_role = "py:obj"

# -- autodoc / autosummary ---------------------------------------------------------------
autosummary_generate = True
# Generated stub pages go to docs/api/generated/ (the :toctree: of api.rst; gitignored).
autosummary_imported_members = False
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_member_order = "groupwise"

# -- numpydoc ----------------------------------------------------------------------------
# The class templates in _templates/autosummary list members through autodoc, so
# numpydoc's own member tables would repeat them.
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
# numpydoc_validation_checks is left at numpydoc's default (no checks): the build
# checks that every docstring parses and renders, not numpydoc's style rules.

# -- intersphinx ----------------------------------------------------------------------
# Kept empty on purpose: every mapping entry downloads an objects.inv at build time and
# the docs must build offline. References to torch, numpy, scipy... render as code.
intersphinx_mapping: dict = {}

# -- sphinx-gallery -------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    # Execute every example, not only the plot_* files (the default pattern).
    "filename_pattern": r".*\.py$",
    "image_scrapers": ("matplotlib",),
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
}

# -- HTML output ------------------------------------------------------------------------
html_theme = "alabaster"
html_title = f"blackbox-opt {release}"
html_static_path: list[str] = []
html_theme_options = {
    "description": "Optimisers for graphics problems without useful gradients",
    "fixed_sidebar": False,
}


# -- Hooks ----------------------------------------------------------------------------
_logger = sphinx_logging.getLogger(__name__)


def _drop_builtin_type_docstring(app, what, name, obj, options, lines):
    """Leave out the docstring of a builtin type shown for module data.

    ``blackbox_opt.__version__`` is a plain ``str`` without a doc comment, so autodoc
    would show ``str``'s own docstring ("str(object='') -> str...") as its description.
    """
    if what != "data" or not lines or type(obj).__module__ != "builtins":
        return
    type_doc = (type(obj).__doc__ or "").strip().splitlines()
    if type_doc and lines[0].strip() == type_doc[0].strip():
        if name.endswith(".__version__"):
            lines[:] = ["The version of the package, a string such as ``'0.1.0'``."]
        else:
            lines.clear()


_PARAMETER_TABLE = re.compile(r"^\.\. parameter-table-of: (\S+)[ \t]*$", re.MULTILINE)


def _check_parameter_tables(app, docname, source):
    """Warn when a hand-written parameter table misses or invents a parameter.

    A comment ``.. parameter-table-of: package.module.Class`` before a ``list-table``
    declares that the first column of the table names (in double backticks) every parameter
    of ``Class``'s constructor, by :func:`inspect.signature`. The build treats
    warnings as errors, so a parameter added to the class fails it until documented.
    """
    text = source[0]
    for match in _PARAMETER_TABLE.finditer(text):
        module_name, _, class_name = match.group(1).rpartition(".")
        cls = getattr(importlib.import_module(module_name), class_name)
        expected = set(inspect.signature(cls).parameters) - {"self", "kwargs"}
        documented: set[str] = set()
        in_table, in_first_cell = False, False
        for line in text[match.end() :].splitlines()[1:]:
            if not in_table:
                if line.strip():
                    in_table = line.startswith(".. list-table::")
                    if not in_table:
                        break
                continue
            if line.strip() and not line.startswith(" "):
                break  # the first unindented line ends the table
            row = re.match(r"\s*\* - (.*)", line)
            if row:
                in_first_cell = True
                line = row.group(1)
            elif re.match(r"\s*- ", line):
                in_first_cell = False
            if in_first_cell:
                documented.update(re.findall(r"``(\w+)``", line))
        missing, unknown = expected - documented, documented - expected
        if missing or unknown:
            _logger.warning(
                "the parameter table of %s misses %s and names unknown %s",
                match.group(1),
                sorted(missing),
                sorted(unknown),
                location=docname,
            )


def setup(app):
    # Before numpydoc (priority 500) rewrites the docstring lines.
    app.connect("autodoc-process-docstring", _drop_builtin_type_docstring, priority=400)
    app.connect("source-read", _check_parameter_tables)
