"""What ``pip install`` sets up: JupyterLab 4 with nbgrader's lab and server extensions enabled, and a
``jupyter lab`` started in the course root that serves formgrader and Validate for this course.

The same facts as ``jupyter labextension list`` / ``jupyter server extension list`` (see
docs/jupyterlab.md), read from the running server and the config files instead of two slow commands.
"""

from __future__ import annotations

import json
import re

import jupyterlab
import nbgrader
import pytest
from harness import ASSIGNMENTS

pytestmark = pytest.mark.browser

SERVER_EXTENSIONS = ["formgrader", "validate_assignment", "assignment_list", "course_list"]


def test_jupyterlab_4_serves_nbgrader_for_this_course(lab, monkeypatch):
    assert jupyterlab.__version__.startswith("4."), jupyterlab.__version__

    # Server extensions: enabled by the nbgrader wheel's etc/jupyter/jupyter_server_config.d/nbgrader.json
    # (no per-user or per-course configuration involved), and loaded by the running server.
    from jupyter_core.paths import jupyter_config_path, jupyter_path
    from jupyter_server.extension.config import ExtensionConfigManager

    monkeypatch.setenv("JUPYTER_CONFIG_DIR", lab.env["JUPYTER_CONFIG_DIR"])
    monkeypatch.delenv("JUPYTER_CONFIG_PATH", raising=False)
    enabled = ExtensionConfigManager(read_config_path=jupyter_config_path()).get_jpserver_extensions()
    log = lab.log_path.read_text(errors="replace")
    for name in SERVER_EXTENSIONS:
        module = f"nbgrader.server_extensions.{name}"
        assert enabled.get(module) is True, f"{module} is not enabled: {enabled}"
        assert f"{module} | extension was successfully loaded" in log, f"{module} not loaded:\n{lab.log_tail()}"

    # Lab extension: @jupyter/nbgrader (installed by the wheel in share/jupyter/labextensions) is served
    # to the browser, and none of its plugins is disabled.
    from jupyterlab_server.config import get_federated_extensions

    monkeypatch.setenv("JUPYTER_DATA_DIR", lab.env["JUPYTER_DATA_DIR"])
    installed = get_federated_extensions(jupyter_path("labextensions"))
    assert installed["@jupyter/nbgrader"]["version"] == nbgrader.__version__, installed.keys()
    page = lab.api_text("lab")
    config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                  page, re.S).group(1))
    served = {ext["name"] for ext in config["federated_extensions"]}
    assert "@jupyter/nbgrader" in served, served
    disabled = [p for p in config.get("disabledExtensions", []) if "nbgrader" in p]
    assert not disabled, f"nbgrader lab plugins disabled: {disabled}"

    # Validate's version check and formgrader's API work, with the course's nbgrader_config.py read
    # from the server's working directory (the course root): nothing else had to be configured.
    assert lab.api(f"nbgrader_version?version={nbgrader.__version__}") == {"success": True}
    assignments = lab.api("formgrader/api/assignments")
    assert sorted(a["name"] for a in assignments) == ASSIGNMENTS
