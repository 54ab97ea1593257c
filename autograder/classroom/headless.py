"""A classroom without a browser: the course's own hub (``autograder hub --no-users``) started on free ports
with a private state folder, users made and given tokens through the hub's REST API, and nbgrader's exchange
plugins or commands run *as* one of those users (their own token, the exchange's URL).

Used by ``autograder demo``, the classroom load test and ``bench/classroom.py``::

    with HeadlessClassroom(course_root, state_dir) as room:
        room.exchange("instructor", "ServiceReleaseAssignment", course_root, "ps1", force=True)
        room.exchange("ada", "ServiceFetchAssignment", home, "ps1", assignment_dir=str(home))

The hub is one process tree, started in a session of its own: it is stopped by its process id (SIGTERM, and
SIGKILL to that session only if it has not ended after a timeout). Waiting is on answers, with a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

from ..exchange import protocol
from .launcher import free_port, wait_for

PACKAGE_PARENT = Path(__file__).resolve().parents[2]
_EXCHANGE_ENV = (protocol.URL_ENV, protocol.TOKEN_ENV, "JUPYTERHUB_USER", "JUPYTERHUB_API_URL")


class HubError(RuntimeError):
    """The hub did not start, or did not answer as expected (the message ends with its log's tail)."""


class HeadlessClassroom:
    def __init__(self, course_root: Path, state_dir: Path, start_timeout: float = 180.0,
                 stop_timeout: float = 30.0, instant: bool = False):
        self.course_root = Path(course_root).resolve()
        self.instant = instant   # let the hub start the instant feedback service (when the course config asks)
        self.state = Path(state_dir).resolve()
        self.start_timeout, self.stop_timeout = start_timeout, stop_timeout
        self.process: subprocess.Popen | None = None
        self.port = 0
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------------ life cycle
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def exchange_url(self) -> str:
        return f"{self.url}/services/{protocol.SERVICE_NAME}/"

    @property
    def log_file(self) -> Path:
        return self.state / "headless-hub.log"

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_file.is_file():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def start(self) -> HeadlessClassroom:
        """Start the hub (the same state folder again after :meth:`stop`: accounts, tokens and the exchange's
        submissions are kept) and return once the hub's API and the exchange both answer."""
        if self.process is not None:
            raise HubError("the hub is already running")
        self.state.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in _EXCHANGE_ENV}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_PARENT), env.get("PYTHONPATH")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        command = [sys.executable, "-m", "autograder", "hub", "--no-users", "--ip", "127.0.0.1",
                   "--port", str(self.port), "--state-dir", str(self.state)]
        if not self.instant:
            command.append("--no-instant")
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(command, cwd=self.course_root, env=env, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait(self._hub_answers, "the hub's API (/hub/api)")
            self._wait(self._exchange_answers, "the exchange service")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM to the launcher (it stops the hub, which stops its proxy and the exchange); SIGKILL to the
        session it leads if anything is left after ``stop_timeout``."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(process.pid, signal.SIGKILL)   # the session started for this hub, nothing else
        except (ProcessLookupError, PermissionError):
            pass
        if process.poll() is None:
            process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> HeadlessClassroom:
        return self.start() if self.process is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _wait(self, check, what: str) -> None:
        wait_for(check, f"{what} answered", self.start_timeout, self.process, self.log_tail, HubError)

    def _hub_answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/hub/api", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    def _exchange_answers(self) -> bool:
        status, _ = _request("GET", f"{self.exchange_url}{protocol.API}/courses", self.admin_token, timeout=5)
        return status in (200, 403)

    # --------------------------------------------------------------------------------------------- REST
    @property
    def admin_token(self) -> str:
        return (self.state / "admin_token").read_text().strip()

    @property
    def course_id(self) -> str:
        return json.loads((self.state / "settings.json").read_text())["course_id"]

    def hub_api(self, method: str, route: str, body: dict | None = None):
        """(status, parsed JSON or None) of a call of the hub's REST API with the classroom-admin token."""
        return _request(method, f"{self.url}/hub/api/{route}", self.admin_token, body)

    def add_user(self, name: str, student: bool = True) -> None:
        """Create a hub user (an existing one is fine) in the course's student or instructor group."""
        status, answer = self.hub_api("POST", f"users/{name}")
        if status not in (201, 409):
            raise HubError(f"creating user {name}: {status} {answer}")
        group = (protocol.STUDENT_GROUP if student else protocol.INSTRUCTOR_GROUP).format(course=self.course_id)
        status, answer = self.hub_api("POST", f"groups/{group}/users", {"users": [name]})
        if status != 200:
            raise HubError(f"adding {name} to {group}: {status} {answer}")

    def token(self, user: str) -> str:
        """The user's own API token, minted once through the REST API (kept by the hub across restarts)."""
        with self._lock:
            if user not in self._tokens:
                status, answer = self.hub_api("POST", f"users/{user}/tokens", {"note": "headless classroom"})
                if status != 201:
                    raise HubError(f"minting a token for {user}: {status} {answer}")
                self._tokens[user] = answer["token"]
            return self._tokens[user]

    def user_env(self, user: str) -> dict[str, str]:
        """What a user's server has in its environment for the exchange."""
        return {protocol.URL_ENV: self.exchange_url, protocol.TOKEN_ENV: self.token(user)}

    # ----------------------------------------------------------------------------- nbgrader, as a user
    def plugin(self, user: str, plugin: str, root: Path, assignment: str, student: str = "", **traits):
        """One of nbgrader's exchange plugins (``autograder.exchange.client.<plugin>``), set up to act as
        ``user``: the URL and token are given to the plugin, not put in ``os.environ``, so threads may run
        plugins as different users at once."""
        from nbgrader.coursedir import CourseDirectory

        from ..exchange import client

        coursedir = CourseDirectory(root=str(root), course_id=self.course_id, assignment_id=assignment)
        if student:
            coursedir.student_id = student
        return getattr(client, plugin)(coursedir=coursedir, authenticator=None, url=self.exchange_url,
                                       token=self.token(user), **traits)

    def exchange(self, user: str, plugin: str, root: Path, assignment: str, student: str = "", **traits):
        """Run :meth:`plugin` in this process; returns what its ``start()`` returns."""
        return self.plugin(user, plugin, root, assignment, student, **traits).start()

    def nbgrader(self, user: str, cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """``nbgrader <args>`` in a subprocess as ``user`` (token and URL in its environment). ``cwd`` needs an
        ``nbgrader_config.py`` that calls ``use_service_exchange(c)``."""
        env = {k: v for k, v in os.environ.items() if k not in _EXCHANGE_ENV}
        env.update(self.user_env(user))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_PARENT), env.get("PYTHONPATH")) if p)
        exe = Path(sys.executable).with_name("nbgrader")
        command = [str(exe)] if exe.exists() else [sys.executable, "-m", "nbgrader"]
        return subprocess.run([*command, *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout)


def _request(method: str, url: str, token: str, body: dict | None = None, timeout: float = 30):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Authorization": f"token {token}"})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (our own hub)
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except OSError:
        return None, None
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode("utf-8", "replace")
