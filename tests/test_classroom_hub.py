"""`autograder hub`: a real JupyterHub for the course, started as a subprocess on a free port.

As root the hub gives every account a unix user of its own; these tests create such users (names
``agt<random>...``) and remove them afterwards. Not as root, the hub runs with --no-users.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
import requests

from autograder.classroom import hub_config, permissions, roster, settings
from autograder.classroom.accounts import MARKER
from autograder.classroom.launcher import free_port, wait_for
from autograder.course import Course, CourseError
from autograder.exchange.archive import files_of, pack
from autograder.exchange.protocol import API, SERVICE_NAME

REPO = Path(__file__).resolve().parents[1]
IS_ROOT = os.geteuid() == 0
COURSE_ID = "hubtest-course"
HUB_PASSWORD_COST = 5   # not bcrypt's default: the stored hashes show the course's setting reached the hub


def _remove_users(prefix: str) -> None:
    for line in Path("/etc/passwd").read_text().splitlines():
        name, *_, gecos, _home, _shell = line.split(":")
        if name.startswith(prefix) and MARKER in gecos:
            subprocess.run(["userdel", "--remove", name], capture_output=True)


class Hub:
    def __init__(self, course: Path, state: Path, port: int, names: dict):
        self.course, self.state, self.port, self.names = course, state, port, names
        self.url = f"http://127.0.0.1:{port}"
        self.lines: list[str] = []
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        command = [sys.executable, "-m", "autograder", "hub", "--ip", "127.0.0.1", "--port", str(port),
                   "--state-dir", str(state)] + ([] if IS_ROOT else ["--no-users"])
        self.process = subprocess.Popen(command, cwd=course, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_ready(self) -> None:
        """Until the hub's API answers and the launcher has printed its accounts."""
        wait_for(self.answers, "/hub/api answered", 180, self.process)
        wait_for(lambda: any("is ready at" in line for line in self.lines), "the ready line", 30, self.process)

    def answers(self) -> bool:
        try:
            return requests.get(f"{self.url}/hub/api", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def password(self, name: str) -> str:
        pattern = re.compile(rf"^\s+(instructor|student)\s+{re.escape(name)}\s+password: (\S+)$")
        for line in self.lines:
            match = pattern.match(line)
            if match:
                return match.group(2)
        raise AssertionError(f"no password printed for {name}:\n" + "\n".join(self.lines[-80:]))

    @property
    def token(self) -> str:
        return (self.state / "admin_token").read_text().strip()

    def api(self, method: str, route: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.url}/hub/api/{route}", timeout=10,
                                headers={"Authorization": f"token {self.token}"}, **kwargs)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def hub():
    tag = "agt" + secrets.token_hex(2)
    names = {"instructor": f"{tag}i", "students": [f"{tag}a", f"{tag}b"], "late": f"{tag}c", "prefix": tag}
    base = Path(tempfile.mkdtemp(prefix="hubtest-", dir="/tmp"))
    os.chmod(base, 0o755)                  # open like a shared course folder: only the hub's own care protects it
    course = base / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    (course / "source" / "ps1" / "ps1.ipynb").write_text("{}")
    for folder in (course, course / "source", course / "source" / "ps1"):
        os.chmod(folder, 0o755)
    (course / "nbgrader_config.py").write_text(f'c = get_config()\nc.CourseDirectory.course_id = "{COURSE_ID}"\n')
    (course / "classroom.toml").write_text(f'[classroom]\ninstructors = ["{names["instructor"]}"]\n'
                                           f"password_cost = {HUB_PASSWORD_COST}\n")
    (course / "roster.csv").write_text("id,first_name,last_name,email\n" +
                                       "".join(f"{s},Stu,Dent,{s}@example.org\n" for s in names["students"]))
    server = Hub(course, base / "state", free_port(), names)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
        print("\n".join(line for line in server.lines if not line.startswith("[D")))  # shown when a test fails
        if IS_ROOT:
            _remove_users(tag)
        shutil.rmtree(base, ignore_errors=True)


def _login(hub: Hub, name: str, password: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{hub.url}/hub/login", timeout=10)
    answer = session.post(f"{hub.url}/hub/login", timeout=10, allow_redirects=False,
                          data={"username": name, "password": password, "_xsrf": session.cookies.get("_xsrf", "")})
    session.status = answer.status_code
    return session


@pytest.mark.slow
def test_student_and_instructor_log_in_with_the_printed_passwords(hub):
    student, instructor = hub.names["students"][0], hub.names["instructor"]
    session = _login(hub, student, hub.password(student))
    assert session.status == 302 and "jupyterhub-hub-login" in session.cookies
    assert session.get(f"{hub.url}/hub/home", timeout=10, allow_redirects=False).status_code == 200
    assert session.get(f"{hub.url}/hub/admin", timeout=10, allow_redirects=False).status_code == 403
    assert session.get(f"{hub.url}/hub/change-password", timeout=10).status_code == 200

    session = _login(hub, instructor, hub.password(instructor))
    assert session.status == 302 and "jupyterhub-hub-login" in session.cookies
    assert session.get(f"{hub.url}/hub/admin", timeout=10, allow_redirects=False).status_code == 200

    wrong = _login(hub, student, "not-the-password")
    assert wrong.status != 302 and "jupyterhub-hub-login" not in wrong.cookies


@pytest.mark.slow
def test_stored_passwords_are_hashed_at_the_courses_cost(hub):
    import sqlite3

    import bcrypt

    names = [hub.names["instructor"], *hub.names["students"]]
    with sqlite3.connect(hub.state / "jupyterhub.sqlite") as db:
        stored = dict(db.execute("SELECT username, password FROM users_info"))
    for name in names:
        digest = stored[name]
        digest = digest if isinstance(digest, bytes) else digest.encode()
        assert digest.startswith(f"$2b${HUB_PASSWORD_COST:02d}$".encode()), (name, digest[:7])
        assert bcrypt.checkpw(hub.password(name).encode(), digest)
        assert not bcrypt.checkpw(b"not-the-password", digest)


@pytest.mark.slow
def test_groups_hold_instructors_and_students(hub):
    instructors = hub.api("GET", f"groups/formgrade-{COURSE_ID}").json()["users"]
    students = hub.api("GET", f"groups/nbgrader-{COURSE_ID}").json()["users"]
    assert instructors == [hub.names["instructor"]]
    assert sorted(students) == sorted(hub.names["students"])
    admins = {u["name"] for u in hub.api("GET", "users").json() if u["admin"]}
    assert admins == {hub.names["instructor"]}


@pytest.mark.slow
def test_exchange_service_registered_when_installed(hub):
    services = hub.api("GET", "services").json()
    from autograder.exchange.protocol import SERVICE_NAME

    assert (SERVICE_NAME in services) == hub_config.exchange_available()
    assert "classroom-admin" in services


@pytest.mark.slow
def test_state_dir_is_private(hub):
    assert hub.state.stat().st_mode & 0o777 == 0o700
    for name in ("jupyterhub.sqlite", "jupyterhub_cookie_secret", "admin_token", "proxy_token"):
        assert (hub.state / name).exists(), name
        assert (hub.state / name).stat().st_mode & 0o077 == 0, name


@pytest.mark.slow
def test_add_student_while_running(hub):
    late = hub.names["late"]
    result = subprocess.run([sys.executable, "-m", "autograder", "hub", "--add-student", late, "--state-dir",
                             str(hub.state)] + ([] if IS_ROOT else ["--no-users"]), cwd=hub.course,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    password = re.search(rf"one-time password of {late}: (\S+)", result.stdout).group(1)
    assert late in hub.api("GET", f"groups/nbgrader-{COURSE_ID}").json()["users"]
    assert _login(hub, late, password).status == 302
    assert late in (hub.course / "roster.csv").read_text()


@pytest.mark.slow
@pytest.mark.skipif(not IS_ROOT, reason="unix users need root")
def test_students_have_private_unix_accounts(hub):
    import pwd

    first, second = hub.names["students"]
    for name in [*hub.names["students"], hub.names["instructor"]]:
        home = Path(pwd.getpwnam(name).pw_dir)
        assert home.stat().st_mode & 0o777 == 0o700 and home.stat().st_uid == pwd.getpwnam(name).pw_uid

    def as_student(*command):
        return subprocess.run(["runuser", "-u", first, "--", *command], capture_output=True, text=True, timeout=30)

    assert as_student("ls", str(hub.course)).returncode == 0          # the folder is open ...
    assert as_student("cat", str(hub.course / "gradebook.db")).returncode != 0   # ... its private parts are not
    assert as_student("ls", str(hub.course / "source")).returncode != 0
    assert as_student("cat", str(hub.course / "roster.csv")).returncode != 0
    assert as_student("ls", pwd.getpwnam(second).pw_dir).returncode != 0


@pytest.mark.slow
@pytest.mark.skipif(not IS_ROOT, reason="per-student servers need root")
def test_student_server_runs_as_the_student_without_formgrader(hub):
    import pwd

    student = hub.names["students"][0]
    started = hub.api("POST", f"users/{student}/server")
    assert started.status_code in (201, 202), started.text

    def ready():
        model = hub.api("GET", f"users/{student}").json()
        server = model.get("servers", {}).get("")
        return server if server and server.get("ready") else None

    try:
        server = wait_for(ready, f"{student}'s server", 180, hub.process)
        pid = server["state"]["pid"]
        status = Path(f"/proc/{pid}/status").read_text()
        uid = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
        assert uid == pwd.getpwnam(student).pw_uid
        items = Path(f"/proc/{pid}/environ").read_text().split("\0")
        environ = dict(item.split("=", 1) for item in items if "=" in item)
        assert environ["AUTOGRADER_EXCHANGE_URL"].endswith("/services/course-exchange/")
        assert environ["JUPYTER_CONFIG_DIR"].startswith(pwd.getpwnam(student).pw_dir)

        user_url = f"{hub.url}/user/{student}"
        headers = {"Authorization": f"token {hub.token}"}
        assert requests.get(f"{user_url}/api/status", headers=headers, timeout=30).status_code == 200
        assert requests.get(f"{user_url}/formgrader", headers=headers, timeout=30,
                            allow_redirects=False).status_code == 404
        page = requests.get(f"{user_url}/lab", headers=headers, timeout=30).text
        config = json.loads(re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page, re.S).group(1))
        assert "@jupyter/nbgrader:formgrader" in config["disabledExtensions"]
        assert "@jupyter/nbgrader:create-assignment" in config["disabledExtensions"]
        assert "@jupyter/nbgrader:assignment-list" not in config["disabledExtensions"]

        # The Assignments tab: the student's server asks the exchange with the server's own token. An
        # instructor releases ps2_vjp through the exchange first.
        minted = hub.api("POST", f"users/{hub.names['instructor']}/tokens", json={"note": "release"})
        assert minted.status_code == 201, minted.text
        files = pack(files_of(REPO / "release" / "ps2_vjp"))
        released = requests.put(f"{hub.url}/services/{SERVICE_NAME}/{API}/courses/{COURSE_ID}/assignments/ps2_vjp",
                                data=files, timeout=60, headers={"Authorization": f"token {minted.json()['token']}",
                                                                 "Content-Type": "application/zip"})
        assert released.status_code in (200, 201), released.text
        listed = requests.get(f"{user_url}/assignments", params={"course_id": COURSE_ID}, headers=headers,
                              timeout=120).json()
        assert listed["success"], listed
        assert [(a["assignment_id"], a["status"]) for a in listed["value"]] == [("ps2_vjp", "released")], listed
        fetched = requests.post(f"{user_url}/assignments/fetch", data={"course_id": COURSE_ID,
                                "assignment_id": "ps2_vjp"}, headers=headers, timeout=120).json()
        assert fetched["success"], fetched
        home = Path(pwd.getpwnam(student).pw_dir)
        notebook = next(home.rglob("ps2_vjp/vjp.ipynb"))
        assert notebook.stat().st_uid == pwd.getpwnam(student).pw_uid
        submitted = requests.post(f"{user_url}/assignments/submit", data={"course_id": COURSE_ID,
                                  "assignment_id": "ps2_vjp"}, headers=headers, timeout=120).json()
        assert submitted["success"], submitted
        seen = requests.get(f"{hub.url}/services/{SERVICE_NAME}/{API}/courses/{COURSE_ID}/assignments/ps2_vjp/"
                            "submissions", headers={"Authorization": f"token {minted.json()['token']}"}, timeout=60)
        assert seen.status_code == 200, seen.text
        assert student in json.dumps(seen.json()), seen.json()   # the instructor sees it, under the right name
    finally:
        hub.api("DELETE", f"users/{student}/server")


# ------------------------------------------------------------------------------------------ fast, no hub
def test_roster_csv(tmp_path):
    (tmp_path / "roster.csv").write_text("id,first_name,last_name,email\nada,Ada,L,a@x\n\nben,,,\n")
    assert [s.id for s in roster.read_csv(tmp_path / "roster.csv")] == ["ada", "ben"]
    (tmp_path / "roster.csv").write_text("id,first_name\nRoot Beer,x\n")
    with pytest.raises(Exception, match="line 2"):
        roster.read_csv(tmp_path / "roster.csv")


@pytest.mark.parametrize("line, cost", [("", 12), ("password_cost = 4", 4), ("password_cost = 31", 31)])
def test_password_cost_is_read_from_classroom_toml(tmp_path, line, cost):
    (tmp_path / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.course_id = "c1"\n')
    (tmp_path / "classroom.toml").write_text(f"[classroom]\n{line}\n")
    loaded = settings.load(Course(tmp_path))
    assert loaded.password_cost == cost and "password_cost" not in loaded.extra


@pytest.mark.parametrize("value", ["3", "32", "0", "-12", '"12"', "12.0", "true"])
def test_a_password_cost_bcrypt_cannot_use_is_refused_naming_the_key(tmp_path, value):
    (tmp_path / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.course_id = "c1"\n')
    (tmp_path / "classroom.toml").write_text(f"[classroom]\npassword_cost = {value}\n")
    with pytest.raises(CourseError, match=r"classroom\.toml: password_cost .* 4 to 31"):
        settings.load(Course(tmp_path))


def test_passwords_are_stored_at_the_given_cost_and_still_check(tmp_path):
    import sqlite3

    import bcrypt

    from autograder.classroom import accounts

    db_url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    accounts.set_passwords(db_url, {"ada": "first"}, cost=4)
    accounts.set_passwords(db_url, {"ben": "second"})                 # the default cost
    accounts.set_passwords(db_url, {"ada": "replaced"}, cost=5)       # a reset replaces the hash and its cost
    with sqlite3.connect(tmp_path / "hub.sqlite") as db:
        stored = {n: p if isinstance(p, bytes) else p.encode()
                  for n, p, ok in db.execute("SELECT username, password, is_authorized FROM users_info") if ok}
    assert stored["ada"].startswith(b"$2b$05$") and stored["ben"].startswith(b"$2b$12$")
    assert bcrypt.checkpw(b"replaced", stored["ada"]) and not bcrypt.checkpw(b"first", stored["ada"])
    assert bcrypt.checkpw(b"second", stored["ben"])
    assert accounts.has_password(db_url, ["ada", "ben", "cleo"]) == {"ada", "ben"}


def test_roster_defaults_to_the_sample_cohort(tmp_path):
    (tmp_path / "source").mkdir()
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    students, origin = roster.load(Course(tmp_path))
    assert [s.id for s in students] == ["ada", "ben", "cleo", "dev", "eve"] and "sample" in origin


def test_user_config_switches_instructor_tools_off_for_students():
    settings = {"course_id": "c1", "course_root": "/srv/c1"}
    student = hub_config.user_config(settings, instructor=False)
    teacher = hub_config.user_config(settings, instructor=True)
    extensions = json.loads(student["jupyter_server_config.json"])["ServerApp"]["jpserver_extensions"]
    assert extensions["nbgrader.server_extensions.formgrader"] is False
    assert json.loads(student["labconfig/page_config.json"])["disabledExtensions"]["@jupyter/nbgrader:formgrader"]
    assert json.loads(teacher["labconfig/page_config.json"])["disabledExtensions"] == {}
    assert "CourseDirectory.root" in teacher["nbgrader_config.py"]
    assert "CourseDirectory.root" not in student["nbgrader_config.py"]
    assert hub_config.MIGRATED_MARKER in teacher  # else jupyter_core fails to write it: formgrader does not load


def test_closed_folders_are_found():
    base = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        closed = base / "closed"
        (closed / "env").mkdir(parents=True)
        os.chmod(base, 0o755)
        os.chmod(closed, 0o700)
        assert permissions.closed_folders([str(closed / "env")]) == [str(closed)]
        assert "chmod o+x" in permissions.advice([str(closed)], [])
    finally:
        shutil.rmtree(base)


class _LowestFreePort:
    """A stand-in for the kernel's choice of a port for bind(port 0): the lowest one no open socket holds, the
    worst case of its reuse of ports just released."""

    held: set[int] = set()

    def __init__(self, *args) -> None:
        self.port = None

    def bind(self, address) -> None:
        self.port = min(set(range(40000, 40100)) - self.held)
        self.held.add(self.port)

    def getsockname(self):
        return ("127.0.0.1", self.port)

    def close(self) -> None:
        self.held.discard(self.port)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def test_the_hubs_ports_are_distinct_even_when_released_ports_come_back_first(monkeypatch):
    """A hub whose proxy API got the hub's own port could not start ("Address already in use"): ports chosen
    one at a time can come back twice. They are chosen together, and never the public port."""
    from autograder.classroom import launcher

    monkeypatch.setattr(launcher.socket, "socket", _LowestFreePort)
    assert launcher.free_ports(3) == [40000, 40001, 40002]
    assert launcher.free_ports(3, avoid={40000, 40002}) == [40001, 40003, 40004]
    assert _LowestFreePort.held == set()              # every probe closed again
    assert launcher.free_port() == 40000
