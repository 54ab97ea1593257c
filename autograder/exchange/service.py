"""The exchange service: a tornado app run by JupyterHub as a managed service (see ``config.hub_service``).

The caller is whoever owns the hub token the request carries (``Authorization: token ...``); the hub says
who that is and which groups they are in. No request parameter names the caller. Routes and limits are
those of ``protocol``; the files live in ``storage``; rosters, deadlines and rates come from ``policy``.

Run: ``python -m autograder.exchange.service --data-dir DIR [--courses FILE]`` (or the environment
variables ``protocol.DATA_DIR_ENV`` / ``protocol.COURSES_ENV``); the address is the hub's
``JUPYTERHUB_SERVICE_URL`` unless ``--port`` says otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import signal
import urllib.parse
from pathlib import Path

from jupyterhub.services.auth import HubAuth, HubAuthenticated, UserNotAllowed
from tornado import httpclient, web
from tornado.httpserver import HTTPServer

from autograder.exchange import archive, policy, protocol
from autograder.exchange.archive import Refused
from autograder.exchange.policy import check_name
from autograder.exchange.storage import Storage

log = logging.getLogger("autograder.exchange")


class Api(HubAuthenticated, web.RequestHandler):
    def initialize(self, storage: Storage, courses: policy.Courses, hub_auth: HubAuth):
        self.storage = storage
        self.courses = courses
        self.hub_auth = hub_auth
        self.user: str = ""
        self.groups: set[str] = set()
        self.service = False      # the caller is a hub service (a grader of the courses naming it), not a user

    def check_xsrf_cookie(self):  # token authentication only: there is no cookie to forge
        return

    async def prepare(self):
        if not self.hub_auth.get_token(self, in_cookie=False):
            raise Refused(401, "no hub token: send the header 'Authorization: token <JUPYTERHUB_API_TOKEN>'")
        model = await self.hub_auth.get_user(self, sync=False)
        if not model:
            raise Refused(401, "the hub does not know this token (expired or revoked?)")
        try:
            model = self.check_hub_user(model)
        except UserNotAllowed:
            raise Refused(403, f"{model.get('name')} may not use the exchange: the hub grants no "
                               f"{protocol.ACCESS_SCOPE}") from None
        kind = model.get("kind", "user")
        if kind not in ("user", "service"):
            raise Refused(403, f"{kind} {model.get('name')} is neither a user nor a service; it cannot use the "
                               "exchange")
        if not policy.NAME.fullmatch(model["name"]):
            raise Refused(403, f"the {kind} name {model['name']!r} cannot use the exchange: names must match "
                               f"{protocol.NAME_PATTERN}")
        self.user = model["name"]
        self.service = kind == "service"
        if self.service:   # a service has no groups: the courses file alone names it (as a grader)
            return
        groups = model.get("groups")
        self.groups = set(groups) if groups is not None else await self._groups_from_hub(self.user)

    async def _groups_from_hub(self, name: str) -> set[str]:
        """The user's groups, asked with the service's own token (when the user's token may not read them)."""
        url = f"{self.hub_auth.api_url.rstrip('/')}/users/{urllib.parse.quote(name)}"
        try:
            reply = await httpclient.AsyncHTTPClient().fetch(
                url, headers={"Authorization": f"token {self.hub_auth.api_token}"})
        except httpclient.HTTPClientError as error:
            log.warning("could not read the groups of %s from the hub: %s", name, error)
            return set()
        return set(json.loads(reply.body).get("groups") or ())

    def write_error(self, status_code, **kwargs):
        error = kwargs.get("exc_info", (None, None))[1]
        if isinstance(error, Refused):
            message = error.message
            if getattr(error, "retry_after", None):
                self.set_header("Retry-After", str(error.retry_after))
        elif isinstance(error, web.HTTPError):
            message = error.log_message or self._reason
        else:
            message = "internal error of the exchange service"
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": message}))

    def _handle_request_exception(self, e):
        if isinstance(e, Refused):
            log.info("%s %s by %s: %d %s", self.request.method, self.request.path, self.user or "-", e.status,
                     e.message)
            self.send_error(e.status, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)

    # -- who may ------------------------------------------------------------------------------------------
    def role(self, course: str) -> str:
        check_name("course", course)
        role = self.courses.role(course, self.user, self.groups, self.service)
        if role is None:
            who = f"service {self.user} is not a grader" if self.service else f"{self.user} is not on the roster"
            raise Refused(403, f"{who} of course {course}")
        return role

    def instructor(self, course: str) -> None:
        if self.role(course) != "instructor":
            raise Refused(403, f"{self.user} is not an instructor of course {course}")

    def staff(self, course: str) -> None:
        """An instructor, or a grader service: may read every submission and publish feedback."""
        if self.role(course) not in ("instructor", "grader"):
            raise Refused(403, f"{self.user} is not an instructor of course {course}")

    def released(self, course: str, assignment: str) -> None:
        check_name("assignment", assignment)
        if not self.storage.is_released(course, assignment):
            raise Refused(404, f"{assignment} is not released in course {course}")

    def body(self) -> bytes:
        kind = self.request.headers.get("Content-Type", "").split(";")[0].strip()
        if kind not in ("application/zip", "application/octet-stream"):
            raise Refused(415, f"send the files as a zip archive (Content-Type: application/zip), not {kind!r}")
        if len(self.request.body) > protocol.MAX_SUBMISSION_BYTES:
            raise Refused(413, f"the archive is {len(self.request.body)} bytes; the limit is "
                               f"{protocol.MAX_SUBMISSION_BYTES} bytes")
        return self.request.body

    def reply(self, value) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(value))

    def send_zip(self, files: list[tuple[str, Path]], name: str) -> None:
        self.set_header("Content-Type", "application/zip")
        self.set_header("Content-Disposition", f'attachment; filename="{name}.zip"')
        self.finish(archive.pack(files))


class CoursesHandler(Api):
    def get(self):
        self.reply({"user": self.user, "courses": self.courses.courses_of(self.user, self.groups, self.service)})


class AssignmentsHandler(Api):
    def get(self, course):
        self.role(course)
        self.reply(self.storage.released(course))


class AssignmentHandler(Api):
    def get(self, course, assignment):
        self.role(course)
        self.released(course, assignment)
        self.send_zip(archive.files_of(self.storage.released_dir(course, assignment)), assignment)

    def put(self, course, assignment):
        self.instructor(course)
        check_name("assignment", assignment)
        force = self.get_query_argument("force", "0") in ("1", "true", "yes")
        names = self.storage.release(course, assignment, self.body(), force)
        log.info("%s released %s/%s (%d files)", self.user, course, assignment, len(names))
        self.reply({"assignment_id": assignment, "files": names})

    def delete(self, course, assignment):
        self.instructor(course)
        self.released(course, assignment)
        self.storage.unrelease(course, assignment)
        log.info("%s unreleased %s/%s", self.user, course, assignment)
        self.reply({"assignment_id": assignment, "removed": True})


class SubmissionsHandler(Api):
    def get(self, course, assignment):
        role = self.role(course)
        check_name("assignment", assignment)
        student = self.user if role == "student" else self.get_query_argument("student", None)   # staff: anyone
        if student:
            check_name("student", student)
        self.reply(self.storage.submissions(course, assignment, student))

    def post(self, course, assignment):
        if self.role(course) != "student":
            raise Refused(403, f"{self.user} is not a student of course {course}; only students submit")
        self.released(course, assignment)
        spec = self.courses.get(course)
        now = dt.datetime.now(dt.UTC)
        recent = self.storage.received_since(course, assignment, self.user, now - dt.timedelta(hours=1))
        policy.check_rate(spec, recent, now)
        late = policy.is_late(spec, assignment, now)
        meta = self.storage.submit(course, assignment, self.user, self.body(), now, late)
        log.info("%s submitted %s/%s at %s%s", self.user, course, assignment, meta["timestamp"],
                 " (late)" if late else "")
        self.set_status(201)
        self.reply({"student_id": self.user, "assignment_id": assignment, "timestamp": meta["timestamp"],
                    "late": late, "files": meta["files"]})


class LatestHandler(Api):
    def get(self, course, assignment, student):
        self.staff(course)
        check_name("assignment", assignment)
        check_name("student", student)
        latest = self.storage.latest(course, assignment, student)
        if latest is None:
            raise Refused(404, f"{student} has not submitted {assignment} in course {course}")
        self.send_zip(archive.files_of(latest), f"{student}-{assignment}")


class FeedbackReleaseHandler(Api):
    def put(self, course, assignment, student, timestamp):
        self.staff(course)
        check_name("assignment", assignment)
        check_name("student", student)
        submission = self.storage.submission_with(course, assignment, student, timestamp)
        if submission is None:
            raise Refused(404, f"{student} has no submission of {assignment} in course {course} at {timestamp}")
        names = self.storage.put_feedback(course, assignment, student, submission, self.body())
        log.info("%s released feedback to %s on %s/%s (%s)", self.user, student, course, assignment, timestamp)
        self.reply({"student_id": student, "timestamp": timestamp, "files": names})


class FeedbackHandler(Api):
    def get(self, course, assignment, student):
        role = self.role(course)
        check_name("assignment", assignment)
        check_name("student", student)
        if role == "student" and student != self.user:
            raise Refused(403, f"{self.user} may read only their own feedback, not {student}'s")
        self.send_zip(self.storage.feedback_files(course, assignment, student), f"{student}-{assignment}-feedback")


class NotFound(Api):
    async def prepare(self):
        raise Refused(404, f"no such route: {self.request.method} {self.request.path} (see {protocol.API}/)")


def make_app(data_dir: Path, courses: policy.Courses, prefix: str = "/", hub_auth: HubAuth | None = None):
    storage = Storage(data_dir)
    hub_auth = hub_auth or HubAuth(api_token=os.environ.get("JUPYTERHUB_API_TOKEN", ""), cache_max_age=60)
    base = f"{prefix.rstrip('/')}/{protocol.API}/courses"
    seg = "([^/]+)"
    assignment = f"{base}/{seg}/assignments/{seg}"
    args = {"storage": storage, "courses": courses, "hub_auth": hub_auth}
    return web.Application([
        (f"{base}/?", CoursesHandler, args),
        (f"{base}/{seg}/assignments/?", AssignmentsHandler, args),
        (f"{assignment}/?", AssignmentHandler, args),
        (f"{assignment}/submissions/?", SubmissionsHandler, args),
        (f"{assignment}/submissions/{seg}/latest/?", LatestHandler, args),
        (f"{assignment}/feedback/{seg}/{seg}/?", FeedbackReleaseHandler, args),
        (f"{assignment}/feedback/{seg}/?", FeedbackHandler, args),
        (r".*", NotFound, args),
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.exchange.service", description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get(protocol.DATA_DIR_ENV), help="kept here, mode 0700")
    parser.add_argument("--courses", default=os.environ.get(protocol.COURSES_ENV), help="the courses file (JSON)")
    parser.add_argument("--ip", default=None)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    if not args.data_dir:
        parser.error(f"--data-dir (or ${protocol.DATA_DIR_ENV}) is required")
    logging.basicConfig(level=logging.INFO, format="[%(levelname)1.1s %(asctime)s exchange] %(message)s")
    url = urllib.parse.urlsplit(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10101"))
    ip, port = args.ip or url.hostname or "127.0.0.1", args.port or url.port or 10101
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", f"/services/{protocol.SERVICE_NAME}/")
    courses = policy.Courses(Path(args.courses) if args.courses else None)
    app = make_app(Path(args.data_dir), courses, prefix)

    async def serve():
        server = HTTPServer(app, max_body_size=2 * protocol.MAX_SUBMISSION_BYTES)
        server.listen(port, ip)
        log.info("exchange service on http://%s:%d%s, data in %s", ip, port, prefix, args.data_dir)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        server.stop()
        log.info("exchange service stopped")

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
