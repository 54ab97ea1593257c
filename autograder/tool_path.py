"""Make this environment's console scripts reachable by name.

nbgrader runs ``alembic`` (its gradebook migrations) as a subprocess found on ``PATH``. When the grader is
started as ``.venv/bin/nbgrader`` or ``.venv/bin/autograder`` without activating the virtual environment,
that lookup fails with ``FileNotFoundError: 'alembic'``. Putting the interpreter's own ``bin`` directory
first on ``PATH`` makes the lookup find the copy installed next to nbgrader.
"""

from __future__ import annotations

import os
import sys


def ensure_console_scripts_on_path() -> None:
    scripts = os.path.dirname(sys.executable)
    entries = os.environ.get("PATH", os.defpath).split(os.pathsep)
    if scripts and scripts not in entries:
        os.environ["PATH"] = os.pathsep.join([scripts, *entries])
