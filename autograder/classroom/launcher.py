"""``autograder hub``: prepare the accounts, the permissions and the configuration, then run JupyterHub
in the foreground until Ctrl-C (or SIGTERM), and stop it with everything it started."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..course import Course, CourseError
from . import accounts, permissions, roster
from .hub_config import exchange_available
from .settings import PASSWORD_COSTS, STATE_DIR, check_username
from .settings import load as load_settings

RULE = "!" * 100


def loud(*lines: str) -> None:
    print("\n".join([RULE, *(f"!! {line}" for line in lines), RULE]), flush=True)


def proxy_command() -> str:
    path = Path(sys.prefix) / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
    if path.exists():
        return str(path)
    import shutil

    found = shutil.which("configurable-http-proxy")
    if not found:
        raise CourseError(f"configurable-http-proxy is not installed (looked for {path}): run `make install`, "
                          "or `npm install --prefix <venv>/node configurable-http-proxy@5`")
    return found


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int, avoid: set[int] | frozenset[int] = frozenset()) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1, none of them in ``avoid``. They are held open together
    while they are chosen: ports asked for one at a time can come back twice (each is released before the
    next is asked for), and a hub and its proxy's API on one port is a hub that cannot start."""
    held: list[socket.socket] = []
    chosen: list[int] = []
    try:
        while len(chosen) < count:
            probe = socket.socket()
            held.append(probe)   # open until all are chosen: never handed out twice
            probe.bind(("127.0.0.1", 0))
            if probe.getsockname()[1] not in avoid:
                chosen.append(probe.getsockname()[1])
        return chosen
    finally:
        for probe in held:
            probe.close()


def wait_for(check, what: str, timeout: float, process: subprocess.Popen | None = None,
             log=None, error: type[Exception] = TimeoutError):
    """Poll ``check()`` until it returns something true (returned), for at most ``timeout`` seconds; raise
    ``error`` if ``process`` (the hub) ends first or time runs out. A check that cannot connect yet (OSError)
    counts as not ready. ``log()`` adds the hub's last lines to the message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise error(f"the hub exited ({process.returncode}) before {what}\n{log() if log else ''}")
        try:
            value = check()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise error(f"{what}: not within {timeout:.0f} s\n{log() if log else ''}")


def secret_file(path: Path) -> Path:
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path


def state_dir(course: Course, given: str | None) -> Path:
    path = Path(given).resolve() if given else course.root / STATE_DIR
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    for item in path.iterdir():
        if item.is_file() and not item.is_symlink():
            os.chmod(item, 0o600)
    return path


def hub_api(settings_file: Path, method: str, route: str, body: dict | None = None):
    """Call the running hub's REST API with the classroom's admin token; None if no hub answers."""
    saved = json.loads(settings_file.read_text())
    token = Path(saved["admin_token_file"]).read_text().strip()
    host = "127.0.0.1" if saved["ip"] in ("", "0.0.0.0", "::") else saved["ip"]
    request = urllib.request.Request(f"http://{host}:{saved['port']}/hub/api/{route}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def _password_cost(args, settings) -> int:
    """bcrypt's work factor: the course's, except in a demo, whose password is published, so that hashing it
    slowly would protect nothing (bcrypt's least work instead)."""
    return PASSWORD_COSTS.start if args.demo else settings.password_cost


# ------------------------------------------------------------------------------------------- add a student
def add_student(args, course: Course, settings, state: Path, isolated: bool) -> int:
    name = check_username(args.add_student)
    if name in settings.instructors:
        raise CourseError(f"{name} is an instructor (classroom.toml), not a student")
    students, _ = roster.load(course)
    added = roster.append(course, name, students)
    roster.sync_gradebook(course, [roster.Student(name)])
    if isolated:
        accounts.ensure_unix_user(name, settings.course_id, settings.home_base)
    password = accounts.new_password(args.demo)
    accounts.set_passwords(f"sqlite:///{state / 'jupyterhub.sqlite'}", {name: password}, _password_cost(args, settings))
    permissions.tighten_private(course.root, state)
    print(f"{name}: {'added to' if added else 'already in'} {course.root / roster.ROSTER_FILE}")
    settings_file = state / "settings.json"
    if settings_file.is_file():
        created = hub_api(settings_file, "POST", f"users/{name}")
        if created is not None:
            hub_api(settings_file, "POST", f"groups/{settings.student_group}/users", {"users": [name]})
            print(f"{name}: added to the running hub's group {settings.student_group}")
    print(f"one-time password of {name}: {password}")
    print("(shown once; the student can change it at /hub/change-password after logging in)")
    return 0


# ------------------------------------------------------------------------------------------------- run
def run(args) -> int:
    sys.stdout.reconfigure(line_buffering=True)
    os.umask(0o077)  # the hub's database, secrets and everything the hub writes: its owner's only
    course = Course.find()
    settings = load_settings(course)
    state = state_dir(course, args.state_dir)
    is_root = os.geteuid() == 0
    isolated = is_root and not args.no_users
    if args.add_student:
        return add_student(args, course, settings, state, isolated)

    if args.demo:
        loud("DEMO MODE: every account's password is the published demo password "
             f"{accounts.DEMO_PASSWORD!r}.", "Anyone who can reach this hub can log in as any student or instructor.",
             "Never use --demo with real students or on a network others can reach.")
    if not isolated:
        loud("NO ISOLATION: " + ("--no-users was given" if is_root else "the hub is not running as root") +
             f", so every server runs as the unix user {_me()}.",
             "Students can read each other's work, the solutions in source/, the gradebook and the hub's "
             "state,", "and can change their own nbgrader configuration (formgrader included). Run as root "
             "(e.g. with sudo) to give each student a unix account of their own.")

    students, roster_source = roster.load(course)
    student_names = [s.id for s in students if s.id not in settings.instructors]
    names = [*settings.instructors, *student_names]
    db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
    existing = accounts.has_password(db_url, names)
    passwords = {n: accounts.new_password(args.demo) for n in names if args.demo or n not in existing}
    accounts.set_passwords(db_url, passwords, _password_cost(args, settings))
    roster.sync_gradebook(course, [s for s in students if s.id in student_names])

    created = []
    if isolated:
        for name in names:
            if accounts.created_here(name) or accounts.unix_user(name) is None or name in settings.instructors:
                _, new = accounts.ensure_unix_user(name, settings.course_id, settings.home_base)
                if new:
                    created.append(name)
            else:
                raise CourseError(f"{name} is already a unix account on this machine that the course did not "
                                  "create: rename the student in roster.csv")
    for change in permissions.tighten_private(course.root, state):
        print(f"closed to other users: {change}")
    if isolated:
        for change in permissions.give_to_course_owner(course.root):
            print(f"made by the hub, given to the course folder's owner: {change}")

    instructor_root = str(course.root)
    if isolated:
        instructor_root = _instructor_root(course, settings)
        environment = permissions.environment_paths()
        closed = permissions.closed_folders(environment)
        unreadable = permissions.unreadable_environment(environment)
        if closed or unreadable:
            if args.fix_permissions:
                for change in permissions.fix_environment(closed, unreadable):
                    print(f"--fix-permissions: {change}")
            else:
                print(permissions.advice(closed, unreadable))
                private = [str(p) for p in (course.root, state)
                           if any(str(p) == c or str(p).startswith(c.rstrip("/") + "/") for c in closed)]
                covered = permissions.expose_environment(environment, private)
                print(f"exposing the environment read-only to the hub's servers under {', '.join(covered)} "
                      "(a private mount namespace; nothing changed on disk)")

    port, ip = args.port, args.ip
    use_exchange = exchange_available() and not args.no_exchange
    use_instant = use_exchange and not getattr(args, "no_instant", False) and instant_wanted(course)
    hub_port, proxy_api_port, exchange_port = free_ports(3, avoid={port})
    hub_settings = {
        "course_root": str(course.root), "course_id": settings.course_id, "instructors": settings.instructors,
        "students": student_names, "instructor_group": settings.instructor_group,
        "student_group": settings.student_group, "ip": ip, "port": port, "hub_port": hub_port,
        "proxy_api_port": proxy_api_port, "exchange_port": exchange_port, "state_dir": str(state),
        "isolation": "unix-users" if isolated else "shared", "signup": settings.signup,
        "home_base": settings.home_base, "exchange": use_exchange, "instructor_root": instructor_root,
        "instant": use_instant, "instant_user": instant_user(course, isolated) if use_instant else None,
        "submissions_per_hour": settings.submissions_per_hour,
        "admin_token_file": str(secret_file(state / "admin_token")),
        "proxy_token_file": str(secret_file(state / "proxy_token")), "proxy_command": proxy_command(),
    }
    (state / "settings.json").write_text(json.dumps(hub_settings, indent=1))
    config_file = state / "jupyterhub_config.py"
    config_file.write_text(
        '"""Written by `autograder hub` at each start; edit classroom.toml instead."""\n'
        "import json\n\nfrom autograder.classroom.hub_config import configure\n\n"
        f"configure(get_config(), json.loads(open({str(state / 'settings.json')!r}).read()))  # noqa: F821\n")

    host = "localhost" if ip in ("", "0.0.0.0", "::", "127.0.0.1") else ip
    url = f"http://{host}:{port}/"
    print(f"course {settings.course_id}: {len(student_names)} students from {roster_source}; "
          f"instructors {', '.join(settings.instructors)}")
    print("accounts (user / password; a password is shown only when it is set):")
    for name in names:
        role = "instructor" if name in settings.instructors else "student"
        shown = f"password: {passwords[name]}" if name in passwords else "(password set earlier)"
        print(f"  {role:<10}  {name:<20}  {shown}")
    if created:
        print(f"unix users created (home 0700 under {settings.home_base}): {', '.join(created)}")
    print(f"exchange service: {'registered' if use_exchange else 'not installed, not registered'}")
    if use_instant:
        print(f"instant feedback service: started by the hub (as {hub_settings['instant_user'] or _me()}); "
              f"status: autograder serve --status")
    print(f"hub state: {state}")
    return _serve(config_file, state, url, port, ip)


def instant_wanted(course: Course) -> bool:
    """Whether the course's config turns instant feedback on for any assignment."""
    from ..instant.policy import policies

    return any(p.active for p in policies(course.config()).values())


def instant_user(course: Course, isolated: bool) -> str | None:
    """The unix user the instant feedback service runs as: the course folder's owner (it writes only under
    ``<course>/.instant-feedback`` and reads the course), or None (the hub's own user) without unix users."""
    import pwd

    owner = course.root.stat().st_uid
    if not isolated or os.getuid() != 0 or owner in (0, os.getuid()):
        return None
    try:
        return pwd.getpwuid(owner).pw_name
    except KeyError:
        return None


def _me() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _instructor_root(course: Course, settings) -> str | None:
    owner = course.root.stat().st_uid
    for name in settings.instructors:
        entry = accounts.unix_user(name)
        if entry is None or entry.pw_uid != owner:
            loud(f"The formgrader of instructor {name} runs as the unix user {name}, who does not own the course",
                 f"folder {course.root}: it cannot open the gradebook there. Make {name} its owner",
                 f"(`chown -R {name} {course.root}`), or name the folder's owner as instructor in classroom.toml.",
                 f"{name}'s server starts in their home folder instead.")
            return None
    return str(course.root)


def _serve(config_file: Path, state: Path, url: str, port: int, ip: str) -> int:
    env = dict(os.environ)
    package_parent = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    hub = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(config_file)], cwd=state, env=env)
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        if hub.poll() is None:
            hub.send_signal(signal.SIGKILL if stopping else signal.SIGTERM)  # a second Ctrl-C: at once
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host = "127.0.0.1" if ip in ("", "0.0.0.0", "::") else ip
    deadline = time.monotonic() + 120
    ready = False
    while hub.poll() is None and not stopping and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/hub/api", timeout=2) as answer:
                ready = answer.status == 200
        except OSError:
            pass
        if ready:
            print(f"\nThe course's JupyterHub is ready at {url}  (Ctrl-C stops it)\n", flush=True)
            break
        time.sleep(0.25)
    if not ready and hub.poll() is None and not stopping:
        print("autograder: the hub did not answer within 120 s; stopping it", file=sys.stderr)
        stop(signal.SIGTERM, None)
    try:
        while True:
            try:
                code = hub.wait(timeout=30 if stopping else None)
                break
            except subprocess.TimeoutExpired:
                hub.kill()
    finally:
        if hub.poll() is None:
            hub.kill()
            hub.wait()
    return 0 if stopping or code in (0, -signal.SIGTERM) else code
