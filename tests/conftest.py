import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def pytest_collection_modifyitems(session, config, items):
    """Tests that share an expensive graded course run in one xdist worker (``--dist loadgroup``):
    the nbgrader cycle per assignment, the adversarial corpus per part."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if item.module.__name__.endswith("test_nbgrader_cycle") and "assignment" in params:
            item.add_marker(pytest.mark.xdist_group(f"cycle-{params['assignment']}"))
        elif item.module.__name__.endswith("test_corpus"):
            from test_corpus import part_of  # noqa: PLC0415

            part = params["part"] if "part" in params else part_of(params["attack"]) if "attack" in params else 0
            item.add_marker(pytest.mark.xdist_group(f"corpus-{part}"))


def pytest_configure(config):
    from autograder.tool_path import ensure_console_scripts_on_path  # noqa: PLC0415

    ensure_console_scripts_on_path()
