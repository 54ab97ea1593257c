"""``autograder gradescope ASSIGNMENT``: build ``gradescope/<assignment>.zip``.

The zip holds Gradescope's two entry points at its root (``setup.sh``, ``run_autograder``), this
project (so setup installs exactly the grader used here) and a one-assignment course (its source
notebooks and ``nbgrader_config.py``). Inside Gradescope, ``run_autograder`` builds a throwaway
nbgrader course, grades the submission with plain ``nbgrader autograde`` (sandbox and judge
included) and converts the result into Gradescope's ``results.json``.
"""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

from ..course import Course

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, when the autograder image is built.
set -euo pipefail
cd /autograder/source
if ! command -v python3 >/dev/null; then apt-get update && apt-get install -y python3 python3-pip; fi
python3 -m pip install --upgrade pip
# The CPU build of torch (a CUDA build is several GB and useless here).
python3 -m pip install --extra-index-url https://download.pytorch.org/whl/cpu -r requirements-torch.txt
# Editable, so that the grading package stays outside what students' kernels may read.
python3 -m pip install -c requirements-torch.txt -e .
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission; GRADESCOPE_ROOT lets it run outside Gradescope too.
set -euo pipefail
ROOT="${{GRADESCOPE_ROOT:-/autograder}}"
mkdir -p "$ROOT/results"
exec python3 -m autograder.gradescope.run --assignment {assignment} --course "$ROOT/source/course" \\
    --submission "$ROOT/submission" --results "$ROOT/results/results.json"
"""

PROJECT_FILES = ("pyproject.toml", "README.md", "requirements-torch.txt")


def _add(zf: zipfile.ZipFile, path: Path, arcname: str, executable: bool = False) -> None:
    info = zipfile.ZipInfo(arcname)
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, path.read_bytes())


def _add_text(zf: zipfile.ZipFile, text: str, arcname: str, executable: bool = False) -> None:
    info = zipfile.ZipInfo(arcname)
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, text)


def build_zip(course: Course, assignment: str, out: Path | None = None) -> Path:
    course.notebooks(assignment)  # fails clearly for an unknown assignment
    project = Path(__file__).resolve().parents[2]
    out = out or course.root / "gradescope" / f"{assignment}.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as zf:
        _add_text(zf, SETUP, "setup.sh", executable=True)
        _add_text(zf, RUN.format(assignment=assignment), "run_autograder", executable=True)
        for name in PROJECT_FILES:
            if (project / name).exists():
                _add(zf, project / name, name)
        for path in sorted((project / "autograder").rglob("*.py")):
            _add(zf, path, str(path.relative_to(project)))
        _add(zf, course.root / "nbgrader_config.py", "course/nbgrader_config.py")
        for path in sorted((course.source / assignment).rglob("*")):
            if path.is_file() and ".ipynb_checkpoints" not in path.parts:
                _add(zf, path, f"course/source/{assignment}/{path.relative_to(course.source / assignment)}")
    return out
