"""nbgrader configuration for the PyTorch autograd course.

Plain nbgrader commands grade this course correctly: the extra steps are wired in here.
"""

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "autograd-course"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"

# A deleted or renamed autograder test cell is restored from the gradebook and graded.
c.OverwriteCells.add_missing_cells = True

# Autograding: the notebook runs in the student's kernel (where the hidden tests only *record* what the
# student's functions return), then the trusted judge scores those records before nbgrader saves grades.
c.Autograde.autograde_preprocessors = [
    "nbgrader.preprocessors.Execute",
    "autograder.nbgrader_plugins.JudgeProbeRecords",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Execute.timeout = 120

# Feedback shows the diagnosis of every failed check, never the hidden test code.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "autograder.nbgrader_plugins.StripHiddenTests",
]
