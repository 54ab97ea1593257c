"""nbgrader configuration for the PyTorch autograd course.

Plain nbgrader commands grade this course correctly: the extra steps are wired in here.
"""

from autograder.tool_path import ensure_console_scripts_on_path

ensure_console_scripts_on_path()  # nbgrader finds `alembic` even when the venv is not activated

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "autograd-course"
# The gradebook is nbgrader's default, <course root>/gradebook.db: an absolute path, so it is the same
# wherever nbgrader runs (the hub starts an instructor's server, and formgrader, in their home folder).

# A deleted or renamed autograder test cell is restored from the gradebook and graded.
c.OverwriteCells.add_missing_cells = True

# Before grading a submission: set links, pipes, sockets, device files and unreadable notebooks aside
# (kept, never deleted) and grade an unreadable notebook as zero with its reason; grade a renamed notebook
# under its expected name. A submission the check cannot make safe is graded zero, with the reason.
from autograder.nbgrader_plugins.submission_check import IGNORED, nbgrader_hook  # noqa: E402

c.Autograde.pre_convert_hook = nbgrader_hook
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", IGNORED]

c.Autograde.sanitize_preprocessors = [
    "autograder.nbgrader_plugins.cell_metadata.RestoreCellMetadata",  # edited or malformed nbgrader metadata
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "autograder.nbgrader_plugins.sanitize.ForgetUnknownCells",  # cells whose grade id a student invented
    "nbgrader.preprocessors.OverwriteCells",
    "autograder.nbgrader_plugins.metadata_schema.CheckCellMetadataOnce",  # nbgrader's check, schema read once
]

# Autograding: the notebook runs in the student's kernel (where the hidden tests only *record* what the
# student's functions return), then the trusted judge scores those records before nbgrader saves grades.
c.Autograde.autograde_preprocessors = [
    "autograder.nbgrader_plugins.execute.GuardedExecute",  # nbgrader's Execute, in the sandbox
    "autograder.nbgrader_plugins.inert_output.InertStudentOutput",  # no script of a student's reaches a browser
    "autograder.nbgrader_plugins.judge_probes.JudgeProbeRecords",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "autograder.nbgrader_plugins.metadata_schema.CheckCellMetadataOnce",  # nbgrader's check, schema read once
]
c.Execute.timeout = 120  # seconds per cell

# Confinement of students' kernels (see README, "Threat model"). Defaults shown; tighten as needed.
c.Sandbox.enabled = True
c.Sandbox.require = "full"       # refuse to grade on a host that cannot confine fully; "landlock" or
                                 # "none" is an explicit opt-in to weaker confinement (README, threat model)
c.Sandbox.warm_kernels = True    # fork kernels from a warm parent that has imported torch (confined alike);
                                 # False: a new interpreter per kernel (seconds slower each)
c.Sandbox.memory_mb = 3072       # address space per kernel
c.Sandbox.cpu_seconds = 600      # CPU time per kernel
c.Sandbox.max_processes = 64     # processes and threads per kernel
c.Sandbox.max_file_mb = 64       # largest file a kernel may write
c.Sandbox.disk_mb = 512          # private scratch space per kernel
c.Sandbox.notebook_seconds = 900  # wall time per notebook
c.Sandbox.output_kb = 2048       # output kept per cell (every message and field a kernel sends counts)
c.Sandbox.notebook_output_kb = 8192  # output kept for the notebook's ordinary cells together
c.Sandbox.submission_mb = 20     # a larger submitted notebook is set aside unparsed and graded zero
c.Sandbox.call_seconds = 10      # CPU time of one call of a student's function by a hidden test

# Feedback shows the diagnosis of every failed check, never the hidden test code.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "autograder.nbgrader_plugins.feedback.StripHiddenTests",
    "autograder.nbgrader_plugins.inert_output.InertFeedback",  # again, for notebooks graded before it existed
]

# Formgrader renders autograded notebooks with this exporter: the same step runs there at view time, so a
# submission graded elsewhere or earlier cannot run scripts in the instructor's session either.
c.HTMLExporter.preprocessors = ["autograder.nbgrader_plugins.inert_output.InertFeedback"]
