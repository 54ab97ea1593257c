"""The exchange service under a real JupyterHub (with the real configurable-http-proxy): the nbgrader cycle
through our plugins, and the attacks a student could try, each a test that fails if the attack works."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from autograder.classroom.launcher import free_ports, wait_for
from autograder.exchange import protocol

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
PROXY = Path(sys.executable).resolve().parent.parent / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
if not PROXY.exists():
    PROXY = Path("/work/main/.venv/node/node_modules/.bin/configurable-http-proxy")
COURSE = "autograd-course"
RATE_COURSE = "rate-course"
ADMIN_TOKEN = "test-admin-" + os.urandom(16).hex()
GRADER_TOKEN = "grader-" + os.urandom(16).hex()       # the instant feedback service, a grader of COURSE
STRANGER_TOKEN = "stranger-" + os.urandom(16).hex()   # another service the hub lets reach the exchange
STUDENTS = ("alice", "bob")
USERS = ("prof", *STUDENTS, "carol", "mallory")
EXCHANGE_ENVS = (protocol.URL_ENV, protocol.TOKEN_ENV, "JUPYTERHUB_USER")


class Hub:
    """A JupyterHub with the exchange service, in ``root``; start() again after stop() keeps its state."""

    def __init__(self, root: Path):
        self.root = root
        self.data = root / "exchange-data"
        self.courses = root / "courses.json"
        self.process: subprocess.Popen | None = None
        self.courses.write_text(json.dumps({"courses": {
            COURSE: {"deadlines": {"ps_late": "2000-01-01T00:00:00+00:00",
                                   "ps2_vjp": "2999-01-01T00:00:00+00:00"},
                     "graders": [protocol.INSTANT_SERVICE_NAME]},
            RATE_COURSE: {"instructors": ["prof"], "students": ["carol"], "submissions_per_hour": 2},
        }}))

    def write_config(self):
        self.port, self.api_port, self.hub_port, self.service_port = free_ports(4)
        self.url = f"http://127.0.0.1:{self.port}"
        self.exchange_url = f"{self.url}/services/{protocol.SERVICE_NAME}/"
        config = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
from autograder.exchange.config import hub_service
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {self.port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {self.hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{self.api_port}"
c.ConfigurableHTTPProxy.command = [{str(PROXY)!r}]
c.ConfigurableHTTPProxy.pid_file = {str(self.root / "proxy.pid")!r}
c.JupyterHub.db_url = "sqlite:///{self.root / "jupyterhub.sqlite"}"
c.JupyterHub.cookie_secret_file = {str(self.root / "cookie_secret")!r}
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = {set(USERS)!r}
c.Authenticator.admin_users = {{"prof"}}
c.JupyterHub.load_groups = {{
    "formgrade-{COURSE}": {{"users": ["prof"]}},
    "nbgrader-{COURSE}": {{"users": {list(STUDENTS)!r}}},
}}
c.JupyterHub.services = [{{"name": "test-admin", "api_token": {ADMIN_TOKEN!r}}},
                         {{"name": {protocol.INSTANT_SERVICE_NAME!r}, "api_token": {GRADER_TOKEN!r}}},
                         {{"name": "stranger-service", "api_token": {STRANGER_TOKEN!r}}}]
c.JupyterHub.load_roles = [{{"name": "test-admin", "scopes": ["admin:users", "tokens"], "services": ["test-admin"]}},
                           {{"name": "exchange-services", "scopes": [{protocol.ACCESS_SCOPE!r}],
                             "services": [{protocol.INSTANT_SERVICE_NAME!r}, "stranger-service"]}}]
hub_service(c, {str(self.data)!r}, {str(self.courses)!r}, port={self.service_port}, python={sys.executable!r},
            environment={{"PYTHONPATH": {str(REPO)!r}}})
"""
        (self.root / "jupyterhub_config.py").write_text(config)

    def log(self) -> str:
        path = self.root / "hub.log"
        return path.read_text()[-4000:] if path.exists() else ""

    def start(self):
        self.write_config()
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        for name in EXCHANGE_ENVS:
            env.pop(name, None)
        with open(self.root / "hub.log", "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(self.root / "jupyterhub_config.py")],
                cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

        def hub_answers():
            with urllib.request.urlopen(f"{self.url}/hub/api", timeout=2) as answer:
                return answer.status == 200

        wait_for(hub_answers, "hub API answered", 90, self.process, self.log)
        self.tokens = {}

        def service_answers():
            return call("GET", f"{self.exchange_url}{protocol.API}/courses", token=ADMIN_TOKEN)[0] in (200, 403)

        wait_for(service_answers, "exchange service answered", 90, self.process, self.log)

    def stop(self):
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # the hub's own session: the hub, its proxy, its service
            self.process.wait(timeout=10)
        self.process = None

    def token(self, user: str) -> str:
        if user not in self.tokens:
            request = urllib.request.Request(
                f"{self.url}/hub/api/users/{user}/tokens", method="POST", data=json.dumps({"note": "test"}).encode(),
                headers={"Authorization": f"token {ADMIN_TOKEN}", "Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as answer:
                self.tokens[user] = json.loads(answer.read())["token"]
        return self.tokens[user]

    def api(self, method: str, route: str, user: str | None = None, body: bytes | None = None,
            token: str | None = None):
        token = token if token is not None else (self.token(user) if user else None)
        return call(method, f"{self.exchange_url}{protocol.API}/{route}", token=token, body=body)


def call(method: str, url: str, token: str | None = None, body: bytes | None = None):
    """(status, headers, parsed JSON or raw bytes)."""
    request = urllib.request.Request(url, data=body, method=method)
    if token:
        request.add_header("Authorization", f"token {token}")
    if body is not None:
        request.add_header("Content-Type", "application/zip")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            status, headers, data = answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        status, headers, data = error.code, error.headers, error.read()
    if headers.get("Content-Type", "").startswith("application/json"):
        data = json.loads(data)
    return status, headers, data


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    if not PROXY.exists():
        pytest.skip(f"configurable-http-proxy not found at {PROXY}")
    hub = Hub(tmp_path_factory.mktemp("hub"))
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture(scope="module")
def instructor_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    shutil.copytree(REPO / "release" / "ps2_vjp", root / "release" / "ps2_vjp")
    shutil.copytree(REPO / "release" / "ps2_vjp", root / "release" / "ps_late")
    return root


@contextmanager
def as_user(hub: Hub, user: str, **extra_env):
    """The environment of ``user``'s server: the exchange URL and the user's own hub token."""
    saved = {name: os.environ.get(name) for name in (*EXCHANGE_ENVS, *extra_env)}
    os.environ[protocol.URL_ENV] = hub.exchange_url
    os.environ[protocol.TOKEN_ENV] = hub.token(user)
    os.environ.pop("JUPYTERHUB_USER", None)
    os.environ.update(extra_env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def plugin(name: str, root: Path, assignment: str, course: str = COURSE, student: str = "", **traits):
    from nbgrader.coursedir import CourseDirectory

    from autograder.exchange import client

    coursedir = CourseDirectory(root=str(root), course_id=course, assignment_id=assignment)
    if student:
        coursedir.student_id = student
    return getattr(client, name)(coursedir=coursedir, authenticator=None, **traits)


def release(hub: Hub, root: Path, assignment: str, course: str = COURSE):
    with as_user(hub, "prof"):
        plugin("ServiceReleaseAssignment", root, assignment, course, force=True).start()


def zip_of(members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def submissions_of(hub: Hub, student: str, assignment: str = "ps2_vjp", course: str = COURSE) -> list[dict]:
    status, _, subs = hub.api("GET", f"courses/{course}/assignments/{assignment}/submissions?student={student}",
                              "prof")
    assert status == 200, subs
    return subs


def submit_route(assignment: str = "ps2_vjp", course: str = COURSE) -> str:
    return f"courses/{course}/assignments/{assignment}/submissions"


NOTEBOOK = (REPO / "release" / "ps2_vjp" / "vjp.ipynb").read_bytes()


# -- the cycle -------------------------------------------------------------------------------------------------
def test_full_cycle(hub, instructor_root, tmp_path):
    from nbgrader.exchange.abc.exchange import ExchangeError

    release(hub, instructor_root, "ps2_vjp")
    with as_user(hub, "prof"), pytest.raises(ExchangeError, match="already released"):
        plugin("ServiceReleaseAssignment", instructor_root, "ps2_vjp").start()

    homes = {s: tmp_path / s for s in STUDENTS}
    for student, home in homes.items():
        home.mkdir()
        with as_user(hub, student):
            listed = plugin("ServiceList", home, "", assignment_dir=str(home)).start()
            assert {(a["course_id"], a["assignment_id"], a["status"]) for a in listed} >= {
                (COURSE, "ps2_vjp", "released")}
            plugin("ServiceFetchAssignment", home, "ps2_vjp", assignment_dir=str(home)).start()
            assert (home / "ps2_vjp" / "vjp.ipynb").read_bytes() == NOTEBOOK
            listed = plugin("ServiceList", home, "ps2_vjp", assignment_dir=str(home)).start()
            assert [(a["status"], a["path"]) for a in listed] == [("fetched", str(home / "ps2_vjp"))]
            assert listed[0]["notebooks"] == [{"notebook_id": "vjp", "path": str(home / "ps2_vjp" / "vjp.ipynb")}]
            (home / "ps2_vjp" / "vjp.ipynb").write_bytes(NOTEBOOK.replace(b"YOUR CODE", f"{student} CODE".encode()))
            plugin("ServiceSubmit", home, "ps2_vjp", assignment_dir=str(home)).start()

    with as_user(hub, "alice"):
        cached = plugin("ServiceList", homes["alice"], "ps2_vjp", assignment_dir=str(homes["alice"]),
                        cached=True).start()
    assert [(a["student_id"], a["assignment_id"]) for a in cached] == [("alice", "ps2_vjp")]
    submission = cached[0]["submissions"][-1]
    assert submission["status"] == "submitted" and submission["late"] is False
    assert submission["has_exchange_feedback"] is False and submission["local_feedback_path"] is None

    with as_user(hub, "prof"):
        inbound = plugin("ServiceList", instructor_root, "ps2_vjp", inbound=True).start()
        assert {a["student_id"] for a in inbound} >= set(STUDENTS)
        plugin("ServiceCollect", instructor_root, "ps2_vjp").start()
    for student in STUDENTS:
        folder = instructor_root / "submitted" / student / "ps2_vjp"
        assert f"{student} CODE".encode() in (folder / "vjp.ipynb").read_bytes()
        stamp = (folder / protocol.TIMESTAMP_FILE).read_text()
        assert stamp == submissions_of(hub, student)[-1]["timestamp"]
        # what `nbgrader generate_feedback` leaves: the html and the submission's timestamp
        feedback = instructor_root / "feedback" / student / "ps2_vjp"
        feedback.mkdir(parents=True)
        (feedback / "vjp.html").write_text(f"<p>feedback for {student}</p>")
        (feedback / protocol.TIMESTAMP_FILE).write_text(stamp)
    with as_user(hub, "prof"):
        plugin("ServiceReleaseFeedback", instructor_root, "ps2_vjp").start()

    for student, home in homes.items():
        with as_user(hub, student):
            listed = plugin("ServiceList", home, "ps2_vjp", assignment_dir=str(home), cached=True).start()
            assert listed[0]["submissions"][-1]["has_exchange_feedback"] is True
            plugin("ServiceFetchFeedback", home, "ps2_vjp", assignment_dir=str(home)).start()
            stamp = (instructor_root / "submitted" / student / "ps2_vjp" / protocol.TIMESTAMP_FILE).read_text()
            html = home / "ps2_vjp" / "feedback" / stamp / "vjp.html"
            assert html.read_text() == f"<p>feedback for {student}</p>"
            listed = plugin("ServiceList", home, "ps2_vjp", assignment_dir=str(home), cached=True).start()
            latest = listed[0]["submissions"][-1]
            assert latest["has_local_feedback"] and not latest["feedback_updated"]
            assert latest["local_feedback_path"] == str(html.parent)

    data = Path(hub.data)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


def test_collect_again_needs_update_and_updates(hub, instructor_root, tmp_path):
    release(hub, instructor_root, "ps2_vjp")
    home = tmp_path / "alice"
    with as_user(hub, "alice"):
        plugin("ServiceFetchAssignment", home, "ps2_vjp", assignment_dir=str(home)).start()
        plugin("ServiceSubmit", home, "ps2_vjp", assignment_dir=str(home)).start()
    root = tmp_path / "grader"
    with as_user(hub, "prof"):
        plugin("ServiceCollect", root, "ps2_vjp", student="alice").start()
        first = (root / "submitted" / "alice" / "ps2_vjp" / protocol.TIMESTAMP_FILE).read_text()
    with as_user(hub, "alice"):
        plugin("ServiceSubmit", home, "ps2_vjp", assignment_dir=str(home)).start()
    with as_user(hub, "prof"):
        plugin("ServiceCollect", root, "ps2_vjp", student="alice").start()
        assert (root / "submitted" / "alice" / "ps2_vjp" / protocol.TIMESTAMP_FILE).read_text() == first
        plugin("ServiceCollect", root, "ps2_vjp", student="alice", update=True).start()
        newer = (root / "submitted" / "alice" / "ps2_vjp" / protocol.TIMESTAMP_FILE).read_text()
    assert newer != first and newer == submissions_of(hub, "alice")[-1]["timestamp"]
    assert not (root / "submitted" / "bob").exists()


# -- attacks ---------------------------------------------------------------------------------------------------
def test_a_student_cannot_see_anothers_submissions_or_feedback(hub, instructor_root, tmp_path):
    release(hub, instructor_root, "ps2_vjp")
    status, _, _ = hub.api("POST", submit_route(), "alice", zip_of({"vjp.ipynb": NOTEBOOK}))
    assert status == 201
    status, _, subs = hub.api("GET", submit_route() + "?student=alice", "bob")
    assert status == 200 and all(s["student_id"] == "bob" for s in subs)
    status, _, answer = hub.api("GET", submit_route() + "/alice/latest", "bob")
    assert status == 403 and "not an instructor" in answer["error"]
    status, _, answer = hub.api("GET", f"courses/{COURSE}/assignments/ps2_vjp/feedback/alice", "bob")
    assert status == 403 and "only their own feedback" in answer["error"]
    status, _, answer = hub.api("PUT", f"courses/{COURSE}/assignments/ps2_vjp/feedback/alice/x", "bob",
                                zip_of({"vjp.html": b"<p>fake</p>"}))
    assert status == 403
    with as_user(hub, "bob"):
        listed = plugin("ServiceList", tmp_path, "ps2_vjp", student="alice", inbound=True).start()
    assert all(a["student_id"] == "bob" for a in listed)


def test_a_student_cannot_submit_as_someone_else(hub, instructor_root, tmp_path):
    release(hub, instructor_root, "ps2_vjp")
    before = {s: len(submissions_of(hub, s)) for s in STUDENTS}
    home = tmp_path / "bob"
    (home / "ps2_vjp").mkdir(parents=True)
    (home / "ps2_vjp" / "vjp.ipynb").write_bytes(NOTEBOOK)
    with as_user(hub, "bob", JUPYTERHUB_USER="alice"):
        plugin("ServiceSubmit", home, "ps2_vjp", student="alice", assignment_dir=str(home)).start()
    for route in (submit_route() + "/alice", submit_route() + "?student=alice", submit_route() + "/alice/latest"):
        hub.api("POST", route, "bob", zip_of({"vjp.ipynb": NOTEBOOK}))
    after = {s: len(submissions_of(hub, s)) for s in STUDENTS}
    assert after["alice"] == before["alice"]
    assert after["bob"] == before["bob"] + 2      # the plugin's and the one with ?student=alice, both as bob


def test_a_student_cannot_change_a_released_assignment(hub, instructor_root):
    release(hub, instructor_root, "ps2_vjp")
    _, _, original = hub.api("GET", f"courses/{COURSE}/assignments/ps2_vjp", "alice")
    for method, route in (("PUT", "ps2_vjp?force=1"), ("PUT", "ps_new"), ("DELETE", "ps2_vjp")):
        status, _, answer = hub.api(method, f"courses/{COURSE}/assignments/{route}", "alice",
                                    zip_of({"vjp.ipynb": b"{}"}) if method == "PUT" else None)
        assert status == 403 and "not an instructor" in answer["error"], (method, route, answer)
    _, _, now = hub.api("GET", f"courses/{COURSE}/assignments/ps2_vjp", "alice")
    assert zipfile.ZipFile(io.BytesIO(now)).read("vjp.ipynb") == NOTEBOOK
    assert zipfile.ZipFile(io.BytesIO(original)).read("vjp.ipynb") == NOTEBOOK


@pytest.mark.parametrize(("members", "symlinks", "status", "message"), [
    ({"../evil.py": b"x"}, None, 400, "'..'"),
    ({"ps2_vjp/../../evil.py": b"x"}, None, 400, "'..'"),
    ({"/tmp/evil.py": b"x"}, None, 400, "absolute"),
    ({"vjp.ipynb": NOTEBOOK}, {"link.py": "/etc/passwd"}, 400, "symbolic links"),
    ({".bashrc.py": b"x"}, None, 400, "hidden"),
    ({"evil.so": b"x"}, None, 415, "only files ending in"),
    ({f"f{i}.py": b"x" for i in range(protocol.MAX_FILES + 1)}, None, 413, f"limit is {protocol.MAX_FILES} files"),
    ({"big.txt": b"0" * (protocol.MAX_FILE_BYTES + 1)}, None, 413, "limit for one file"),
    ({f"b{i}.txt": b"0" * (protocol.MAX_FILE_BYTES - 1) for i in range(6)}, None, 413, "unpacks to"),
], ids=["traversal", "nested-traversal", "absolute", "symlink", "hidden", "suffix", "too-many-files",
        "big-file", "big-total"])
def test_a_bad_archive_is_refused_and_nothing_is_stored(hub, instructor_root, members, symlinks, status, message):
    release(hub, instructor_root, "ps2_vjp")
    before = len(submissions_of(hub, "bob"))
    got, _, answer = hub.api("POST", submit_route(), "bob", zip_of(members, symlinks))
    assert got == status and message in answer["error"], answer
    assert len(submissions_of(hub, "bob")) == before
    assert not list(Path(hub.data).rglob("evil.py")) and not (Path(hub.data).parent / "evil.py").exists()


def test_an_oversized_archive_is_refused(hub, instructor_root):
    release(hub, instructor_root, "ps2_vjp")
    before = len(submissions_of(hub, "bob"))
    noise = os.urandom(protocol.MAX_SUBMISSION_BYTES + 1024)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("noise.txt", noise)
    status, _, answer = hub.api("POST", submit_route(), "bob", buffer.getvalue())
    assert status == 413 and f"limit is {protocol.MAX_SUBMISSION_BYTES} bytes" in answer["error"], answer
    assert len(submissions_of(hub, "bob")) == before


def test_a_user_not_on_the_roster_is_refused(hub, instructor_root):
    release(hub, instructor_root, "ps2_vjp")
    for method, route in (("GET", "assignments"), ("GET", "assignments/ps2_vjp"),
                          ("POST", "assignments/ps2_vjp/submissions")):
        status, _, answer = hub.api(method, f"courses/{COURSE}/{route}", "mallory",
                                    zip_of({"vjp.ipynb": NOTEBOOK}) if method == "POST" else None)
        assert status == 403 and answer["error"] == f"mallory is not on the roster of course {COURSE}"
    assert hub.api("GET", "courses", "mallory")[2] == {"user": "mallory", "courses": []}


@pytest.mark.parametrize("token", ["", "not-a-token", "0" * 32])
def test_no_or_bad_token_is_refused(hub, token):
    status, _, answer = hub.api("GET", f"courses/{COURSE}/assignments", token=token)
    assert status == 401 and "token" in answer["error"]


def test_invalid_names_are_refused(hub):
    for route in (f"courses/{urllib.parse.quote('..', safe='')}/assignments",
                  f"courses/{COURSE}/assignments/{urllib.parse.quote('../x', safe='')}"):
        status, _, answer = hub.api("GET", route, "alice")
        assert status in (400, 404) and "error" in answer


def test_submissions_are_rate_limited(hub, instructor_root):
    release(hub, instructor_root, "ps2_vjp", course=RATE_COURSE)
    route = submit_route(course=RATE_COURSE)
    answers = [hub.api("POST", route, "carol", zip_of({"vjp.ipynb": NOTEBOOK})) for _ in range(3)]
    assert [a[0] for a in answers] == [201, 201, 429]
    status, headers, answer = answers[2]
    assert "at most 2 submissions per hour" in answer["error"] and "next is possible at" in answer["error"]
    assert int(headers["Retry-After"]) > 3000
    assert len(submissions_of(hub, "carol", course=RATE_COURSE)) == 2
    assert hub.api("POST", route, "alice", zip_of({"vjp.ipynb": NOTEBOOK}))[0] == 403   # not in that course


def test_a_late_submission_is_accepted_and_marked_late(hub, instructor_root, tmp_path):
    release(hub, instructor_root, "ps_late")
    home = tmp_path / "alice"
    with as_user(hub, "alice"):
        plugin("ServiceFetchAssignment", home, "ps_late", assignment_dir=str(home)).start()
        plugin("ServiceSubmit", home, "ps_late", assignment_dir=str(home)).start()
        cached = plugin("ServiceList", home, "ps_late", assignment_dir=str(home), cached=True).start()
    assert cached[0]["submissions"][-1]["late"] is True
    assert submissions_of(hub, "alice", "ps_late")[-1]["late"] is True
    status, _, answer = hub.api("POST", submit_route(), "alice", zip_of({"vjp.ipynb": NOTEBOOK}))
    assert status == 201 and answer["late"] is False


def test_a_restart_loses_nothing(hub, instructor_root, tmp_path):
    release(hub, instructor_root, "ps2_vjp")
    assert hub.api("POST", submit_route(), "bob", zip_of({"vjp.ipynb": b"{\"restart\": 1}"}))[0] == 201
    before = {s: submissions_of(hub, s) for s in STUDENTS}
    hub.stop()
    hub.start()
    assert {s: submissions_of(hub, s) for s in STUDENTS} == before
    root = tmp_path / "grader"
    with as_user(hub, "prof"):
        plugin("ServiceCollect", root, "ps2_vjp").start()
    assert (root / "submitted" / "bob" / "ps2_vjp" / "vjp.ipynb").read_bytes() == b"{\"restart\": 1}"
    with as_user(hub, "bob"):
        listed = plugin("ServiceList", tmp_path, "ps2_vjp").start()
    assert [a["assignment_id"] for a in listed] == ["ps2_vjp"]


# -- the plain nbgrader command line, switched over with one line of config -------------------------------------
def nbgrader(hub: Hub, user: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), protocol.URL_ENV: hub.exchange_url,
           protocol.TOKEN_ENV: hub.token(user), "JUPYTER_CONFIG_DIR": str(cwd / ".jupyter"),
           "JUPYTER_DATA_DIR": str(cwd / ".local")}
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_the_nbgrader_command_line_uses_the_service(hub, instructor_root, tmp_path):
    release(hub, instructor_root, "ps2_vjp")
    config = ("from autograder.exchange.config import use_service_exchange\n"
              f"c = get_config()  # noqa\nc.CourseDirectory.course_id = {COURSE!r}\nuse_service_exchange(c)\n")
    home, grader = tmp_path / "bob", tmp_path / "grader"
    for folder in (home, grader):
        folder.mkdir()
        (folder / "nbgrader_config.py").write_text(config)
    assert "ps2_vjp" in nbgrader(hub, "bob", home, "list").stderr
    nbgrader(hub, "bob", home, "fetch_assignment", "ps2_vjp")
    assert (home / "ps2_vjp" / "vjp.ipynb").read_bytes() == NOTEBOOK
    submitted = nbgrader(hub, "bob", home, "submit", "ps2_vjp").stderr
    timestamp = submissions_of(hub, "bob")[-1]["timestamp"]
    assert f"Submitted as: {COURSE} ps2_vjp {timestamp}" in submitted
    assert f"{COURSE} bob ps2_vjp {timestamp}" in nbgrader(hub, "bob", home, "list", "--cached").stderr
    nbgrader(hub, "prof", grader, "collect", "ps2_vjp")
    assert (grader / "submitted" / "bob" / "ps2_vjp" / protocol.TIMESTAMP_FILE).read_text() == timestamp


def test_a_token_narrowed_to_the_exchange_is_enough(hub, instructor_root):
    """A token asked for with only the exchange's scope (the hub adds reading one's own name and groups)."""
    release(hub, instructor_root, "ps2_vjp")
    request = urllib.request.Request(
        f"{hub.url}/hub/api/users/alice/tokens", method="POST",
        data=json.dumps({"note": "narrow", "scopes": [protocol.ACCESS_SCOPE]}).encode(),
        headers={"Authorization": f"token {ADMIN_TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        narrow = json.loads(answer.read())
    assert protocol.ACCESS_SCOPE in narrow["scopes"] and not any(s.startswith("admin") for s in narrow["scopes"])
    status, _, listed = hub.api("GET", f"courses/{COURSE}/assignments", token=narrow["token"])
    assert status == 200 and "ps2_vjp" in [a["assignment_id"] for a in listed]
    assert hub.api("GET", "courses", token=narrow["token"])[2]["user"] == "alice"


def test_a_grader_service_reads_submissions_and_publishes_feedback_and_nothing_else(hub, instructor_root):
    release(hub, instructor_root, "ps2_vjp")
    status, _, sent = hub.api("POST", submit_route(), "alice", zip_of({"vjp.ipynb": NOTEBOOK}))
    assert status == 201
    stamp = urllib.parse.quote(sent["timestamp"])
    feedback = f"courses/{COURSE}/assignments/ps2_vjp/feedback/alice"
    # the grader (the instant feedback service, named in the courses file) reads every submission ...
    status, _, subs = hub.api("GET", submit_route(), token=GRADER_TOKEN)
    assert status == 200 and {"alice"} <= {s["student_id"] for s in subs}
    status, _, data = hub.api("GET", submit_route() + "/alice/latest", token=GRADER_TOKEN)
    assert status == 200 and "vjp.ipynb" in zipfile.ZipFile(io.BytesIO(data)).namelist()
    # ... and publishes feedback the student fetches
    status, _, _ = hub.api("PUT", f"{feedback}/{stamp}", body=zip_of({"vjp.html": b"<p>instant</p>"}),
                           token=GRADER_TOKEN)
    assert status == 200
    status, _, data = hub.api("GET", feedback, "alice")
    assert status == 200 and b"instant" in b"".join(
        zipfile.ZipFile(io.BytesIO(data)).read(n) for n in zipfile.ZipFile(io.BytesIO(data)).namelist())
    # nothing else: no release, no unrelease, no submission
    before = submissions_of(hub, "alice")
    for method, route, body in (("PUT", f"courses/{COURSE}/assignments/ps2_vjp", zip_of({"vjp.ipynb": b"{}"})),
                                ("DELETE", f"courses/{COURSE}/assignments/ps2_vjp", None),
                                ("POST", submit_route(), zip_of({"vjp.ipynb": NOTEBOOK}))):
        status, _, answer = hub.api(method, route, body=body, token=GRADER_TOKEN)
        assert status == 403, (method, route, answer)
    assert submissions_of(hub, "alice") == before
    status, _, _ = hub.api("GET", f"courses/{COURSE}/assignments/ps2_vjp", "alice")
    assert status == 200                                             # still released
    # a grader of one course only
    status, _, answer = hub.api("GET", submit_route(course=RATE_COURSE), token=GRADER_TOKEN)
    assert status == 403 and "not a grader" in answer["error"]


def test_a_service_not_named_a_grader_and_a_user_named_like_one_are_refused(hub, instructor_root):
    release(hub, instructor_root, "ps2_vjp")
    status, _, sent = hub.api("POST", submit_route(), "bob", zip_of({"vjp.ipynb": NOTEBOOK}))
    assert status == 201
    stamp = urllib.parse.quote(sent["timestamp"])
    request = urllib.request.Request(f"{hub.url}/hub/api/users/{protocol.INSTANT_SERVICE_NAME}", method="POST",
                                     headers={"Authorization": f"token {ADMIN_TOKEN}"})
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except urllib.error.HTTPError as error:
        assert error.code == 409    # made by an earlier run of the module against this hub
    impostor = hub.token(protocol.INSTANT_SERVICE_NAME)
    for token in (STRANGER_TOKEN, impostor):
        for method, route, body in (("GET", submit_route(), None), ("GET", submit_route() + "/bob/latest", None),
                                    ("PUT", f"courses/{COURSE}/assignments/ps2_vjp/feedback/bob/{stamp}",
                                     zip_of({"vjp.html": b"<p>fake</p>"})),
                                    ("GET", f"courses/{COURSE}/assignments/ps2_vjp/feedback/bob", None)):
            status, _, answer = hub.api(method, route, body=body, token=token)
            assert status == 403, (token[:8], method, route, answer)
    status, _, data = hub.api("GET", f"courses/{COURSE}/assignments/ps2_vjp/feedback/bob", "bob")
    assert status == 200 and b"fake" not in data
