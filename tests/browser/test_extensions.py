"""What ``pip install`` sets up: JupyterLab 4 with nbgrader's lab and server extensions enabled, and a
``jupyter lab`` started in the course root that serves formgrader and Validate for this course."""

from __future__ import annotations

import json
import re

import jupyterlab
import nbgrader
import pytest
from harness import ASSIGNMENTS, jupyter

pytestmark = pytest.mark.browser

SERVER_EXTENSIONS = ["formgrader", "validate_assignment", "assignment_list", "course_list"]


def test_jupyterlab_4_with_nbgrader_extensions_enabled(lab):
    assert jupyterlab.__version__.startswith("4."), jupyterlab.__version__
    labext = jupyter("labextension", "list", env=lab.env)
    assert re.search(rf"@jupyter/nbgrader v{re.escape(nbgrader.__version__)} enabled\s+OK", labext), labext
    server = jupyter("server", "extension", "list", env=lab.env)
    for name in SERVER_EXTENSIONS:
        assert re.search(rf"nbgrader\.server_extensions\.{name} enabled", server), server
        assert re.search(rf"nbgrader\.server_extensions\.{name}\s+OK", server), server


def test_running_lab_serves_nbgrader_for_this_course(lab):
    page = lab.api_text("lab")
    config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                  page, re.S).group(1))
    federated = {ext["name"] for ext in config["federated_extensions"]}
    assert "@jupyter/nbgrader" in federated, federated
    disabled = [p for p in config.get("disabledExtensions", []) if "nbgrader" in p]
    assert not disabled, f"nbgrader lab plugins disabled: {disabled}"

    # The Validate button's version check and formgrader's API, with the course's nbgrader_config.py
    # read from the server's working directory (the course root).
    assert lab.api(f"nbgrader_version?version={nbgrader.__version__}") == {"success": True}
    assignments = lab.api("formgrader/api/assignments")
    assert sorted(a["name"] for a in assignments) == ASSIGNMENTS
