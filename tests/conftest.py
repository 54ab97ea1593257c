import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(session, config, items):
    """Tests that share an expensive graded course run in one xdist worker (``--dist loadgroup``):
    the nbgrader cycle per assignment, the adversarial corpus per part."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if item.module.__name__.endswith("test_nbgrader_cycle") and "assignment" in params:
            item.add_marker(pytest.mark.xdist_group(f"cycle-{params['assignment']}"))
        elif item.module.__name__.endswith("test_corpus"):
            from test_corpus import part_of  # noqa: PLC0415

            if "ps6" in item.originalname:      # ps6_training's corpus: a part of its own
                item.add_marker(pytest.mark.xdist_group("corpus-ps6"))
                continue
            if "fresh_kernel" in item.originalname:  # the attacks on kernels started as new interpreters
                item.add_marker(pytest.mark.xdist_group("corpus-fresh"))
                continue
            part = params["part"] if "part" in params else part_of(params["attack"]) if "attack" in params else 0
            item.add_marker(pytest.mark.xdist_group(f"corpus-{part}"))
        elif not item.get_closest_marker("xdist_group") and _uses_own_module_fixture(item):
            # a module-scoped fixture (a hub, a graded class) is built once per worker that needs it: one worker
            item.add_marker(pytest.mark.xdist_group(f"module-{item.module.__name__}"))


def _uses_own_module_fixture(item) -> bool:
    """True if ``item`` uses a module-scoped fixture that its own module defines."""
    info = getattr(item, "_fixtureinfo", None)
    return any(defs[-1].scope == "module" and getattr(defs[-1].func, "__module__", None) == item.module.__name__
               for defs in (info.name2fixturedefs.values() if info else ()))


class _GroupsWereApplied:
    """Fail loudly if pytest-xdist ignored the groups (it did with pytest 9.2): every expensive course
    would then be graded once per worker and the suite would take twice as long."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items):
        if getattr(config.option, "loadgroup", False):
            ungrouped = [i.nodeid for i in items if i.get_closest_marker("xdist_group") and "@" not in i.nodeid]
            if ungrouped:
                raise pytest.UsageError(f"pytest-xdist ignored xdist_group on {len(ungrouped)} tests, "
                                        f"e.g. {ungrouped[0]}")
        twice = [i.nodeid for i in items if len({m.args[0] for m in i.iter_markers("xdist_group")}) > 1]
        if twice:  # xdist would join the names into a group of its own, splitting the groups it was given
            raise pytest.UsageError(f"{len(twice)} tests are in two xdist groups, e.g. {twice[0]}")


def pytest_configure(config):
    from autograder.tool_path import ensure_console_scripts_on_path  # noqa: PLC0415

    ensure_console_scripts_on_path()
    config.pluginmanager.register(_GroupsWereApplied(), "groups-were-applied")
