"""nbgrader exchange plugins that talk to the exchange service over HTTP (switch them on with
``autograder.exchange.config.use_service_exchange(c)``).

Files land where nbgrader's default exchange puts them: fetched assignments in ``<assignment_dir>/<assignment>``
(``<course>/<assignment>`` with ``path_includes_course``), collected submissions in
``submitted/<student>/<assignment>/`` with the service's ``timestamp.txt``, fetched feedback in
``<assignment>/feedback/<timestamp>/<notebook>.html``. ``list`` answers in the default exchange's format
(the Assignments tab and formgrader read it). Who the caller is comes from the token alone: ``--student``
and ``$JUPYTERHUB_USER`` do not change whose submission it is."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from nbgrader.exchange import abc
from nbgrader.exchange.abc.exchange import ExchangeError
from nbgrader.utils import ignore_patterns, parse_utc
from traitlets import Bool, Float, Unicode, default

from autograder.exchange import archive, protocol


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


class ServiceExchange(abc.Exchange):
    url = Unicode(help=f"URL of the exchange service (default: ${protocol.URL_ENV})").tag(config=True)
    token = Unicode(help=f"the user's hub token (default: ${protocol.TOKEN_ENV})")
    timeout = Float(120.0, help="seconds to wait for the exchange service").tag(config=True)
    path_includes_course = Bool(False, help="fetch and submit <course>/<assignment> rather than <assignment>").tag(
        config=True)

    @default("url")
    def _url_default(self):
        return os.environ.get(protocol.URL_ENV, "")

    @default("token")
    def _token_default(self):
        return os.environ.get(protocol.TOKEN_ENV, "")

    # -- HTTP ----------------------------------------------------------------------------------------------
    def call(self, method: str, route: str, body: bytes | None = None, query: dict | None = None,
             raw: bool = False):
        if not self.url:
            self.fail(f"The exchange service's URL is not set (${protocol.URL_ENV} or c.ServiceExchange.url)")
        if not self.token:
            self.fail(f"No hub token (${protocol.TOKEN_ENV}): the exchange works only from a JupyterHub session")
        address = f"{self.url.rstrip('/')}/{protocol.API}/{route}"
        if query:
            address += "?" + urllib.parse.urlencode(query)
        request = urllib.request.Request(address, data=body, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        if body is not None:
            request.add_header("Content-Type", "application/zip")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310 (URL from config)
                data = answer.read()
        except urllib.error.HTTPError as error:
            text = error.read().decode("utf-8", "replace")
            try:
                message = json.loads(text)["error"]
            except (ValueError, KeyError, TypeError):
                message = text.strip()[:300] or error.reason
            self.fail(f"The exchange refused ({error.code}): {message}")
        except (urllib.error.URLError, OSError) as error:
            self.fail(f"The exchange service at {self.url} cannot be reached: {error}")
        return data if raw else json.loads(data)

    def course_route(self, *parts: str) -> str:
        return "/".join(["courses", _quote(self.coursedir.course_id), *(_quote(p) for p in parts)])

    def need_course(self) -> None:
        if not self.coursedir.course_id:
            self.fail("No course id specified. Re-run with --course flag.")

    def local_dir(self, course_id: str, assignment_id: str) -> str:
        root = os.path.join(course_id, assignment_id) if self.path_includes_course else assignment_id
        return os.path.abspath(os.path.join(self.assignment_dir, root))

    def unpack_to(self, data: bytes, limits: archive.Limits) -> Path:
        """Unpack into a fresh temporary folder (removed by the caller)."""
        work = Path(tempfile.mkdtemp(prefix="exchange-"))
        try:
            archive.unpack(data, work / "files", limits)
        except archive.Refused as error:
            shutil.rmtree(work, ignore_errors=True)
            self.fail(f"The exchange sent an archive that breaks its own limits: {error.message}")
        return work

    def init_src(self):
        pass

    def init_dest(self):
        pass

    def copy_files(self):
        pass


class ServiceReleaseAssignment(ServiceExchange, abc.ExchangeReleaseAssignment):
    def init_src(self):
        self.need_course()
        self.src_path = self.coursedir.format_path(self.coursedir.release_directory, ".", self.coursedir.assignment_id)
        if not os.path.isdir(self.src_path):
            source = self.coursedir.format_path(self.coursedir.source_directory, ".", self.coursedir.assignment_id)
            if os.path.isdir(source):
                self.fail(f"Assignment found in '{source}' but not '{self.src_path}', run `nbgrader "
                          "generate_assignment` first.")
            self.fail(f"Assignment not found at: {self.src_path}")

    def copy_files(self):
        skip = ignore_patterns(exclude=self.coursedir.ignore, include=self.coursedir.include,
                               max_file_size=self.coursedir.max_file_size, log=self.log)
        data = archive.pack(archive.files_of(Path(self.src_path), skip))
        self.call("PUT", self.course_route("assignments", self.coursedir.assignment_id), data,
                  {"force": "1"} if self.force else None)
        self.log.info("Released as: %s %s", self.coursedir.course_id, self.coursedir.assignment_id)


class ServiceFetchAssignment(ServiceExchange, abc.ExchangeFetchAssignment):
    def init_dest(self):
        self.need_course()
        self.dest_path = self.local_dir(self.coursedir.course_id, self.coursedir.assignment_id)
        if os.path.isdir(self.dest_path) and not self.replace_missing_files:
            self.fail(f"You already have a copy of the assignment in this directory: {self.coursedir.assignment_id}")

    def copy_files(self):
        data = self.call("GET", self.course_route("assignments", self.coursedir.assignment_id), raw=True)
        work = self.unpack_to(data, archive.RELEASE)
        try:
            files = work / "files"
            if not os.path.isdir(self.dest_path):
                os.makedirs(os.path.dirname(self.dest_path), exist_ok=True)
                shutil.move(str(files), self.dest_path)
            else:
                for name, path in archive.files_of(files):
                    target = Path(self.dest_path, name)
                    if not target.exists():
                        self.log.warning("Replacing missing file '%s'", name)
                        target.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy(path, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        self.log.info("Fetched as: %s %s", self.coursedir.course_id, self.coursedir.assignment_id)


class ServiceSubmit(ServiceExchange, abc.ExchangeSubmit):
    def init_src(self):
        self.need_course()
        self.src_path = self.local_dir(self.coursedir.course_id, self.coursedir.assignment_id)
        self.coursedir.assignment_id = os.path.basename(self.src_path)
        if not os.path.isdir(self.src_path):
            self.fail(f"Assignment not found at: {self.src_path}")

    def copy_files(self):
        released = {a["assignment_id"]: a["notebooks"] for a in self.call("GET", self.course_route("assignments"))}
        if self.coursedir.assignment_id not in released:
            self.fail(f"Assignment not found: {self.coursedir.assignment_id} is not released in "
                      f"{self.coursedir.course_id}")
        skip = ignore_patterns(exclude=[*self.coursedir.ignore, ".*"], include=self.coursedir.include,
                               max_file_size=self.coursedir.max_file_size, log=self.log)
        files = [(n, p) for n, p in archive.files_of(Path(self.src_path), skip) if n != protocol.TIMESTAMP_FILE]
        here = {Path(n).stem for n, _ in files if n.endswith(".ipynb") and "/" not in n}
        missing = sorted(set(released[self.coursedir.assignment_id]) - here)
        if missing:
            message = f"Missing notebooks in the submission of {self.coursedir.assignment_id}: {', '.join(missing)}"
            if self.strict:
                self.fail(f"Assignment {self.coursedir.assignment_id} not submitted. {message}")
            self.log.warning(message)
        try:
            data = archive.pack(files)
        except archive.Unpackable as error:
            self.fail(f"Assignment {self.coursedir.assignment_id} not submitted: {error}")
        answer = self.call("POST", self.course_route("assignments", self.coursedir.assignment_id, "submissions"),
                           data)
        if self.coursedir.student_id not in ("*", "", answer["student_id"]):
            self.log.warning("Submitted as %s, the owner of the hub token (not %s)", answer["student_id"],
                             self.coursedir.student_id)
        self.timestamp = answer["timestamp"]
        if answer["late"]:
            self.log.warning("The submission is late: it arrived after the deadline of %s",
                             self.coursedir.assignment_id)
        self.log.info("Submitted as: %s %s %s", self.coursedir.course_id, self.coursedir.assignment_id,
                      answer["timestamp"])


class ServiceCollect(ServiceExchange, abc.ExchangeCollect):
    def init_src(self):
        self.need_course()
        query = {"student": self.coursedir.student_id} if self.coursedir.student_id not in ("", "*") else None
        subs = self.call("GET", self.course_route("assignments", self.coursedir.assignment_id, "submissions"),
                         query=query)
        latest: dict[str, dict] = {}
        for sub in subs:
            if sub["student_id"] not in latest or parse_utc(sub["timestamp"]) > parse_utc(
                    latest[sub["student_id"]]["timestamp"]):
                latest[sub["student_id"]] = sub
        self.src_records = [latest[s] for s in sorted(latest)]
        if self.before_duedate:
            self.log.warning("--before-duedate is not supported by the service exchange: collecting the latest")

    def copy_files(self):
        if not self.src_records:
            self.log.warning("No submissions of '%s' for course '%s' to collect", self.coursedir.assignment_id,
                             self.coursedir.course_id)
            return
        self.log.info("Processing %d submissions of '%s' for course '%s'", len(self.src_records),
                      self.coursedir.assignment_id, self.coursedir.course_id)
        for rec in self.src_records:
            student = rec["student_id"]
            dest = self.coursedir.format_path(self.coursedir.submitted_directory, student, self.coursedir.assignment_id)
            if os.path.isdir(dest):
                existing = self.coursedir.get_existing_timestamp(dest)
                if not (self.update and (existing is None or parse_utc(rec["timestamp"]) > existing)):
                    self.log.info("Submission already exists, use --update to update: %s %s"
                                  if not self.update else "No newer submission to collect: %s %s",
                                  student, self.coursedir.assignment_id)
                    continue
            data = self.call("GET", self.course_route("assignments", self.coursedir.assignment_id, "submissions",
                                                      student, "latest"), raw=True)
            work = self.unpack_to(data, archive.SUBMISSION)
            try:
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                if os.path.isdir(dest):
                    self.log.info("Updating submission: %s %s", student, self.coursedir.assignment_id)
                    shutil.rmtree(dest)
                else:
                    self.log.info("Collecting submission: %s %s", student, self.coursedir.assignment_id)
                shutil.move(str(work / "files"), dest)
            finally:
                shutil.rmtree(work, ignore_errors=True)


class ServiceReleaseFeedback(ServiceExchange, abc.ExchangeReleaseFeedback):
    def init_src(self):
        self.need_course()
        student = self.coursedir.student_id if self.coursedir.student_id else "*"
        self.src_path = self.coursedir.format_path(self.coursedir.feedback_directory, student,
                                                   self.coursedir.assignment_id)

    def copy_files(self):
        exclude = set(filter(None, (self.coursedir.student_id_exclude or "").split(",")))
        for folder in sorted(glob.glob(self.src_path)):
            student = Path(folder).parent.name
            if student in exclude:
                self.log.debug("Skipping student '%s'", student)
                continue
            stamp_file = Path(folder, protocol.TIMESTAMP_FILE)
            html = sorted(Path(folder).glob("*.html"))
            if not html:
                continue
            if not stamp_file.is_file():
                self.log.error("No %s in %s: cannot tell which submission the feedback is for", stamp_file.name,
                               folder)
                continue
            timestamp = stamp_file.read_text().strip()
            self.call("PUT", self.course_route("assignments", self.coursedir.assignment_id, "feedback", student,
                                               timestamp), archive.pack((p.name, p) for p in html))
            self.log.info("Releasing feedback for student '%s' on assignment '%s/%s' (%s)", student,
                          self.coursedir.course_id, self.coursedir.assignment_id, timestamp)


class ServiceFetchFeedback(ServiceExchange, abc.ExchangeFetchFeedback):
    def init_dest(self):
        self.need_course()
        self.dest_path = os.path.join(self.local_dir(self.coursedir.course_id, self.coursedir.assignment_id),
                                      "feedback")

    def copy_files(self):
        me = self.call("GET", "courses")["user"]
        data = self.call("GET", self.course_route("assignments", self.coursedir.assignment_id, "feedback", me),
                         raw=True)
        work = self.unpack_to(data, archive.RELEASE)
        try:
            for graded in sorted(p for p in (work / "files").iterdir() if p.is_dir()) if (work / "files").is_dir() \
                    else []:
                stamp = graded / protocol.TIMESTAMP_FILE
                if not stamp.is_file():
                    continue
                timestamp = stamp.read_text().strip()
                if not timestamp or "/" in timestamp or timestamp.startswith("."):
                    self.fail(f"The exchange sent feedback with an unusable timestamp: {timestamp!r}")
                target = Path(self.dest_path, timestamp)
                target.mkdir(parents=True, exist_ok=True)
                for html in sorted(graded.glob("*.html")):
                    shutil.copy(html, target / html.name)
                    self.log.info("Fetched feedback: %s", target / html.name)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class ServiceList(ServiceExchange, abc.ExchangeList):
    def courses(self) -> list[str]:
        if self.coursedir.course_id:
            return [self.coursedir.course_id]
        return [c["course_id"] for c in self.call("GET", "courses")["courses"]]

    def released(self, course: str) -> list[dict]:
        found = self.call("GET", f"courses/{_quote(course)}/assignments")
        wanted = self.coursedir.assignment_id
        return [a for a in found if not wanted or a["assignment_id"] == wanted]

    def outbound(self) -> list[dict]:
        infos = []
        for course in self.courses():
            for assignment in self.released(course):
                info = {"course_id": course, "assignment_id": assignment["assignment_id"]}
                local = self.local_dir(course, assignment["assignment_id"])
                if os.path.isdir(local) and not self.remove:
                    info.update(status="fetched", path=local)
                    notebooks = [(Path(p).stem, os.path.abspath(p)) for p in sorted(glob.glob(f"{local}/*.ipynb"))]
                else:
                    a_id = info["assignment_id"]
                    remote = f"{self.url.rstrip('/')}/{protocol.API}/courses/{course}/assignments/{a_id}"
                    info.update(status="removed" if self.remove else "released", path=remote)
                    notebooks = [(nb, f"{remote}/{nb}.ipynb") for nb in assignment["notebooks"]]
                info["notebooks"] = [{"notebook_id": nb, "path": path} for nb, path in notebooks]
                infos.append(info)
        return infos

    def submitted(self) -> list[dict]:
        infos = []
        for course in self.courses():
            for assignment in self.released(course):
                a_id = assignment["assignment_id"]
                query = {"student": self.coursedir.student_id} if self.coursedir.student_id not in ("", "*") else None
                subs = self.call("GET", f"courses/{_quote(course)}/assignments/{_quote(a_id)}/submissions",
                                 query=query)
                for sub in subs:
                    infos.append(self.submission_info(course, a_id, sub))
        groups: dict[tuple, list[dict]] = {}
        for info in infos:
            groups.setdefault((info["course_id"], info["student_id"], info["assignment_id"]), []).append(info)
        return [{"course_id": c, "student_id": s, "assignment_id": a, "status": "submitted",
                 "submissions": sorted(subs, key=lambda x: x["timestamp"])}
                for (c, s, a), subs in sorted(groups.items())]

    def submission_info(self, course: str, assignment: str, sub: dict) -> dict:
        local = self.local_dir(course, assignment)
        feedback_dir = os.path.join(local, "feedback", sub["timestamp"])
        notebooks = []
        for nb in sub["notebooks"]:
            local_feedback = os.path.join(feedback_dir, f"{nb}.html")
            has_local = os.path.isfile(local_feedback)
            remote = sub["feedback"].get(nb)
            notebooks.append({
                "notebook_id": nb, "path": os.path.join(local, f"{nb}.ipynb"),
                "has_local_feedback": has_local, "has_exchange_feedback": remote is not None,
                "local_feedback_path": local_feedback if has_local else None,
                "feedback_updated": bool(has_local and remote is not None and _sha256(local_feedback) != remote),
            })
        has_local = bool(notebooks) and all(nb["has_local_feedback"] for nb in notebooks)
        return {
            "course_id": course, "student_id": sub["student_id"], "assignment_id": assignment,
            "timestamp": sub["timestamp"], "late": sub["late"], "status": "submitted", "path": local,
            "notebooks": notebooks,
            "has_local_feedback": has_local,
            "has_exchange_feedback": bool(notebooks) and all(nb["has_exchange_feedback"] for nb in notebooks),
            "feedback_updated": any(nb["feedback_updated"] for nb in notebooks),
            "local_feedback_path": feedback_dir if has_local else None,
        }

    def list_files(self):
        if self.inbound or self.cached:
            found = self.submitted()
            for assignment in found:
                for info in assignment["submissions"]:
                    self.log.info("%s %s %s %s%s", info["course_id"], info["student_id"], info["assignment_id"],
                                  info["timestamp"], " (late)" if info["late"] else "")
            return found
        found = self.outbound()
        for info in found:
            self.log.info("%s %s%s", info["course_id"], info["assignment_id"],
                          " (already downloaded)" if info["status"] == "fetched" else "")
        return found

    def remove_files(self):
        if self.inbound or self.cached:
            self.fail("The service exchange keeps every submission: they cannot be removed")
        found = self.outbound()
        for info in found:
            self.call("DELETE", f"courses/{_quote(info['course_id'])}/assignments/{_quote(info['assignment_id'])}")
            self.log.info("Removed: %s %s", info["course_id"], info["assignment_id"])
        return found


__all__ = ["ExchangeError", "ServiceCollect", "ServiceExchange", "ServiceFetchAssignment", "ServiceFetchFeedback",
           "ServiceList", "ServiceReleaseAssignment", "ServiceReleaseFeedback", "ServiceSubmit"]
