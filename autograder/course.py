"""The course directory: where assignments, notebooks and the gradebook live (nbgrader's layout)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

CONFIG_FILE = "nbgrader_config.py"


class CourseError(RuntimeError):
    """A problem with the course directory, stated so that an instructor can fix it."""


@dataclass(frozen=True)
class Course:
    root: Path

    @classmethod
    def find(cls, start: Path | str | None = None) -> Course:
        """The course whose ``nbgrader_config.py`` is in ``start`` or one of its parents."""
        here = Path(start or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / CONFIG_FILE).is_file() and (folder / "source").is_dir():
                return cls(folder)
        raise CourseError(f"no nbgrader course found in {here} or its parents "
                          f"(looked for {CONFIG_FILE} next to a source/ folder)")

    # ------------------------------------------------------------------ layout
    @property
    def source(self) -> Path:
        return self.root / "source"

    @property
    def release(self) -> Path:
        return self.root / "release"

    @property
    def submitted(self) -> Path:
        return self.root / "submitted"

    @property
    def autograded(self) -> Path:
        return self.root / "autograded"

    @property
    def feedback(self) -> Path:
        return self.root / "feedback"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def db_url(self) -> str:
        url = self.config().CourseDirectory.get("db_url", "sqlite:///gradebook.db")
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            return "sqlite:///" + str(self.root / url[len("sqlite:///"):])
        return url

    def assignments(self) -> list[str]:
        return sorted(p.name for p in self.source.iterdir() if p.is_dir() and not p.name.startswith("."))

    def notebooks(self, assignment: str) -> list[str]:
        """Notebook names (without .ipynb) of an assignment, from its source folder."""
        folder = self.source / assignment
        if not folder.is_dir():
            raise CourseError(f"no assignment {assignment!r}: {folder} does not exist "
                              f"(known: {', '.join(self.assignments()) or 'none'})")
        return sorted(p.stem for p in folder.glob("*.ipynb"))

    def students(self, assignment: str) -> list[str]:
        if not self.submitted.is_dir():
            return []
        return sorted(p.name for p in self.submitted.iterdir() if (p / assignment).is_dir())

    def config(self) -> Config:
        path = self.root / CONFIG_FILE
        try:
            loader = PyFileConfigLoader(CONFIG_FILE, path=str(self.root))
            return loader.load_config()
        except Exception as exc:
            raise CourseError(f"could not load {path}: {exc}") from exc
