"""Where LaunchPad's bundled data lives: the templates (Jinja2, blueprints, the SRE chart, the default
approval policy) and the vendored reference schemas.

Both are found through `importlib.resources`, one code path for every way LaunchPad runs. In the
repository, `templates` and `schemas` here are symlinks to the top-level `templates/` and `schemas/`
(which stay where DESIGN.md puts them); the wheel build copies their files in as package data
(pyproject.toml), so an installed LaunchPad reads them from site-packages, from any directory. This
module only locates directories; it never reads or renders what is in them. `templates_dir` (a
setting) still points the renderers elsewhere.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def bundled_directory(name: str) -> Path:
    """The bundled directory `name` as a real path (Jinja2's loader and Helm need one)."""
    found = files(__name__) / name
    if not isinstance(found, Path) or not found.is_dir():
        raise RuntimeError(f"LaunchPad's bundled {name}/ is missing ({found}): the package is incomplete or "
                           "installed zipped; reinstall it with pip (wheels install unzipped), or run from a "
                           "checkout of the repository")
    return found.resolve()


TEMPLATES_DIR = bundled_directory("templates")
SCHEMAS_DIR = bundled_directory("schemas")
