"""What the exchange service and its nbgrader client agree on, written down once: routes, limits,
names of groups and environment variables. Standard library only; no secrets.

Identity never comes from the request's content: the service asks the hub who owns the token the
request carries (``Authorization: token <JUPYTERHUB_API_TOKEN>``), so a student cannot submit or read as
someone else by naming them.

Routes (below ``<service url>/api/v1/``; bodies of files are zip archives, answers are JSON otherwise):

==========================================================  ==========  ================================
route                                                       who         what
==========================================================  ==========  ================================
GET    courses                                              anyone      {user, courses: [{course_id, role}]}
GET    courses/{course}/assignments                         member      released assignments
PUT    courses/{course}/assignments/{assignment}[?force=1]  instructor  release (zip of the release folder)
DELETE courses/{course}/assignments/{assignment}            instructor  unrelease
GET    courses/{course}/assignments/{assignment}            member      fetch (zip)
POST   courses/{course}/assignments/{assignment}/submissions  student   submit (zip) -> {timestamp, late}
GET    courses/{course}/assignments/{assignment}/submissions  member    instructors: all; students: their own
GET    .../submissions/{student}/latest                     instructor  collect (zip, with timestamp.txt)
PUT    .../feedback/{student}/{timestamp}                   instructor  release feedback (zip of html files)
GET    .../feedback/{student}                               that student or instructor: all feedback (zip)
==========================================================  ==========  ================================

Answers (JSON): released assignments are ``[{assignment_id, notebooks: [notebook_id]}]``; submissions are
``[{student_id, timestamp, late, notebooks: [notebook_id], feedback: {notebook_id: sha256 of its html}}]``.
Zips: a release, a fetch and a collect hold the assignment's files at their relative paths (a collect adds the
service's ``timestamp.txt``); feedback as released holds ``<notebook_id>.html`` files; feedback as fetched holds
``<n>/timestamp.txt`` and ``<n>/<notebook_id>.html`` per graded submission ``<n>``. ``{timestamp}`` in a URL is
the submission's timestamp.txt, percent-encoded. Errors are ``{"error": "<message that names the limit>"}``.
The service stamps a submission with its own clock (the client's is never trusted) and marks it late after the
course's deadline for the assignment.
"""

from __future__ import annotations

SERVICE_NAME = "course-exchange"          # the JupyterHub service; its URL is /services/course-exchange/
API = "api/v1"
INSTANT_SERVICE_NAME = "instant-feedback"  # the grading service `autograder hub` starts (docs/instant_feedback.md)

# Environment of a user's server: where the service is (the hub sets JUPYTERHUB_API_TOKEN itself).
URL_ENV = "AUTOGRADER_EXCHANGE_URL"
TOKEN_ENV = "JUPYTERHUB_API_TOKEN"
# The scope a user's token needs for the hub to let its requests through to the service.
ACCESS_SCOPE = f"access:services!service={SERVICE_NAME}"

# Environment of the service itself: where it keeps everything (created 0700) and its courses file (JSON:
# {"courses": {course: {"instructors": [..], "students": [..], "graders": [..], "deadlines": {assignment: ISO
# 8601 time}, "submissions_per_hour": n}}}; the hub's groups below add members to it). "graders" are hub
# *services* (never users) that may read every submission and publish feedback, nothing else: the instant
# feedback service (INSTANT_SERVICE_NAME).
DATA_DIR_ENV = "AUTOGRADER_EXCHANGE_DATA"
COURSES_ENV = "AUTOGRADER_EXCHANGE_COURSES"

# nbgrader's convention for a course on a hub: instructors in formgrade-<course>, students in nbgrader-<course>.
INSTRUCTOR_GROUP = "formgrade-{course}"
STUDENT_GROUP = "nbgrader-{course}"

# Limits of a submission (the service refuses more with a message that names the limit).
MAX_SUBMISSION_BYTES = 20 * 2**20         # the zip as sent
MAX_UNPACKED_BYTES = 50 * 2**20           # its files, unpacked
MAX_FILE_BYTES = 10 * 2**20               # any one file
MAX_FILES = 50
SUBMITTED_SUFFIXES = (".ipynb", ".py", ".txt", ".md", ".csv", ".json", ".png", ".jpg", ".jpeg", ".svg")
FEEDBACK_SUFFIXES = (".html",)
SUBMISSIONS_PER_HOUR = 20                 # per student and assignment, unless the course config says otherwise

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"   # nbgrader's timestamp.txt
TIMESTAMP_FILE = "timestamp.txt"
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}"   # course, assignment and student names (no '/', no '..')
