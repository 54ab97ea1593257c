"""The JupyterHub configuration of the course, built from a plain dict of settings the launcher writes
(``<state>/settings.json``); the hub's config file only calls :func:`configure`.

- NativeAuthenticator: passwords in the hub's database; instructors are hub admins and approve sign-ups.
- Groups ``formgrade-<course>`` (instructors) and ``nbgrader-<course>`` (students), as nbgrader expects.
- As root, each server runs as its user's own unix account (LocalProcessSpawner); otherwise all run as
  the hub's user (SimpleLocalProcessSpawner, no isolation).
- Each server gets a Jupyter config folder written by the hub (``JUPYTER_CONFIG_DIR``): students have
  formgrader, the course list and the create-assignment toolbar switched off; instructors keep them.
- The exchange service (``autograder.exchange.service``) is registered when it is installed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pwd
import sys
from pathlib import Path

ADMIN_SERVICE = "classroom-admin"   # the token the `autograder hub` command itself uses (state dir, 0600)
CONFIG_FOLDER = ".jupyter-classroom"
MIGRATED_MARKER = "migrated"
STUDENT_OFF_SERVER = ("nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list")
STUDENT_OFF_LAB = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                   "@jupyter/nbgrader:course-list")


def exchange_available() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("autograder.exchange.service") is not None
    except ImportError:
        return False


def exchange_url(settings: dict) -> str:
    from ..exchange.protocol import SERVICE_NAME

    host = settings["ip"] if settings["ip"] not in ("", "0.0.0.0", "::") else "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings['port']}/services/{SERVICE_NAME}/"


# ------------------------------------------------------------------------------------ per-user Jupyter config
def user_config(settings: dict, instructor: bool) -> dict[str, str]:
    """The files of a user's Jupyter config folder, by relative path."""
    server = {"ServerApp": {"jpserver_extensions": {name: instructor for name in STUDENT_OFF_SERVER}}}
    lab = {"disabledExtensions": {} if instructor else {name: True for name in STUDENT_OFF_LAB}}
    lines = ['"""Written by `autograder hub` at each start of this server; edits are lost."""',
             "c = get_config()  # noqa: F821",
             f"c.CourseDirectory.course_id = {settings['course_id']!r}"]
    if instructor:
        lines.append(f"c.CourseDirectory.root = {settings['course_root']!r}")
    lines += ["try:",
              "    from autograder.exchange.config import use_service_exchange",
              "except ImportError:  # the exchange service is not installed: nbgrader's default exchange",
              "    pass",
              "else:",
              "    use_service_exchange(c)"]
    return {"jupyter_server_config.json": json.dumps(server, indent=1),
            "labconfig/page_config.json": json.dumps(lab, indent=1),
            "nbgrader_config.py": "\n".join(lines) + "\n",
            # jupyter_core writes this marker into the config folder the first time an app starts (nbgrader's
            # formgrader is one); the folder is root's, so without it formgrader fails to load (PermissionError)
            MIGRATED_MARKER: ""}


def write_user_config(folder: Path, files: dict[str, str], owner_uid: int) -> None:
    """Write the folder owned by the hub's user (root) and readable by the server's user: a student
    cannot edit it in place (they could replace it, which only changes what their own server shows)."""
    folder.mkdir(mode=0o755, exist_ok=True)
    if folder.stat().st_uid != os.getuid():  # made by the user: set it aside, ours replaces it
        folder.rename(folder.with_name(folder.name + f".replaced-{os.getpid()}"))
        folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(exist_ok=True)
        os.chmod(path.parent, 0o755)  # explicitly: the hub runs with umask 077
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)


# ------------------------------------------------------------------------------------------------- hooks
def make_pre_spawn_hook(settings: dict):
    instructors = set(settings["instructors"])
    roster = set(settings["students"])
    isolated = settings["isolation"] == "unix-users"

    def pre_spawn_hook(spawner):
        from jupyterhub import orm

        from .accounts import created_here, ensure_unix_user

        name = spawner.user.name
        instructor = name in instructors
        if isolated:
            if not (instructor or name in roster or created_here(name) or _unix_missing(name)):
                raise RuntimeError(f"{name} is a unix account this course did not create: refusing to run a "
                                   "server as it (add it to classroom.toml or roster.csv to allow it)")
            entry, _ = ensure_unix_user(name, settings["course_id"], settings["home_base"])
            home = Path(entry.pw_dir)
        else:
            home = Path(spawner.home_dir)
            home.mkdir(parents=True, exist_ok=True, mode=0o700)
        groups = {g.name for g in spawner.user.groups}
        wanted = settings["instructor_group"] if instructor else settings["student_group"]
        if wanted not in groups:  # an approved sign-up: a student from now on
            group = orm.Group.find(spawner.db, wanted) or orm.Group(name=wanted)
            spawner.user.orm_user.groups.append(group)
            spawner.db.commit()
        folder = home / CONFIG_FOLDER
        write_user_config(folder, user_config(settings, instructor), os.getuid())
        env = dict(spawner.environment)
        env["JUPYTER_CONFIG_DIR"] = str(folder)
        # JupyterLab keeps the user's settings and workspaces under JUPYTER_CONFIG_DIR unless told otherwise; that
        # folder is root's, so they go where a plain JupyterLab keeps them, in the user's own ~/.jupyter
        env["JUPYTERLAB_SETTINGS_DIR"] = str(home / ".jupyter" / "lab" / "user-settings")
        env["JUPYTERLAB_WORKSPACES_DIR"] = str(home / ".jupyter" / "lab" / "workspaces")
        env["AUTOGRADER_COURSE_ID"] = settings["course_id"]
        spawner.environment = env
        if instructor and settings.get("instructor_root"):
            spawner.notebook_dir = settings["instructor_root"]
        else:
            spawner.notebook_dir = str(home)

    return pre_spawn_hook


def _unix_missing(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return True
    return False


# ------------------------------------------------------------------------------------------------ exchange
def write_courses_file(settings: dict, path: Path) -> Path:
    """The exchange's view of the course: instructors, the roster, and each assignment's due date from the
    gradebook (a submission after it is accepted and marked late). The hub's groups are consulted too, so a
    student added while the hub runs can submit before this file is written again."""
    deadlines = {}
    gradebook = Path(settings["course_root"]) / "gradebook.db"
    if gradebook.is_file():
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{gradebook}") as gb:
            for assignment in gb.assignments:
                if assignment.duedate is not None:
                    due = assignment.duedate
                    deadlines[assignment.name] = (due if due.tzinfo else due.replace(tzinfo=dt.UTC)).isoformat()
    from ..exchange.protocol import INSTANT_SERVICE_NAME

    course = {"instructors": sorted(settings["instructors"]), "students": sorted(settings["students"]),
              "graders": [INSTANT_SERVICE_NAME] if settings.get("instant") else [], "deadlines": deadlines}
    if settings.get("submissions_per_hour"):
        course["submissions_per_hour"] = settings["submissions_per_hour"]
    path.write_text(json.dumps({"courses": {settings["course_id"]: course}}, indent=1))
    path.chmod(0o600)
    return path


def instant_service(c, settings: dict) -> None:
    """``autograder serve`` as a managed service of the hub: started and stopped with it, in the course folder,
    as the course folder's owner, with a hub token of its own that the exchange knows as a grader of the
    course (it may read submissions and publish feedback, nothing else)."""
    from ..exchange.protocol import ACCESS_SCOPE, INSTANT_SERVICE_NAME, URL_ENV

    service = {
        "name": INSTANT_SERVICE_NAME,
        "command": [sys.executable, "-m", "autograder", "serve", "--restart"],   # back within a second if it dies
        "cwd": settings["course_root"],
        "environment": {URL_ENV: exchange_url(settings),
                        "PYTHONPATH": os.environ.get("PYTHONPATH", ""), "PYTHONUNBUFFERED": "1"},
    }
    if settings.get("instant_user"):
        service["user"] = settings["instant_user"]
    c.JupyterHub.services = [*[s for s in c.JupyterHub.services if s.get("name") != INSTANT_SERVICE_NAME],
                             service]
    c.JupyterHub.load_roles = [*c.JupyterHub.load_roles,
                               {"name": f"{INSTANT_SERVICE_NAME}-service", "scopes": [ACCESS_SCOPE],
                                "services": [INSTANT_SERVICE_NAME]}]


# ------------------------------------------------------------------------------------------------ config
def configure(c, settings: dict) -> None:
    from ..exchange.protocol import URL_ENV
    from .settings import USERNAME_PATTERN

    state = Path(settings["state_dir"])
    c.JupyterHub.ip = settings["ip"]
    c.JupyterHub.port = settings["port"]
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = settings["hub_port"]
    c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
    c.JupyterHub.cleanup_servers = True
    c.ConfigurableHTTPProxy.command = [settings["proxy_command"]]
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings['proxy_api_port']}"
    c.ConfigurableHTTPProxy.auth_token = Path(settings["proxy_token_file"]).read_text().strip()
    c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")

    c.JupyterHub.authenticator_class = "autograder.classroom.authenticator.CourseAuthenticator"
    c.Authenticator.admin_users = set(settings["instructors"])
    c.Authenticator.allow_all = True          # NativeAuthenticator lets in only accounts it has authorized
    c.Authenticator.blocked_users = {"root"}
    c.Authenticator.username_pattern = f"^{USERNAME_PATTERN}$"
    c.NativeAuthenticator.enable_signup = bool(settings["signup"])
    c.NativeAuthenticator.open_signup = False  # each sign-up waits for an instructor at /hub/authorize
    c.NativeAuthenticator.minimum_password_length = 8
    c.NativeAuthenticator.check_common_password = True
    c.NativeAuthenticator.allowed_failed_logins = 10
    c.NativeAuthenticator.seconds_before_next_try = 60

    c.JupyterHub.load_groups = {
        settings["instructor_group"]: {"users": list(settings["instructors"])},
        settings["student_group"]: {"users": list(settings["students"])},
    }
    services = [{"name": ADMIN_SERVICE, "api_token": Path(settings["admin_token_file"]).read_text().strip()}]
    roles = [{"name": "classroom-admin", "services": [ADMIN_SERVICE],
              "scopes": ["admin:users", "admin:groups", "admin:servers", "admin:server_state", "access:servers",
                         "tokens", "list:services", "read:services", "read:hub"]}]
    c.JupyterHub.services = services
    c.JupyterHub.load_roles = roles
    if settings["exchange"]:
        from ..exchange.config import hub_service

        hub_service(c, state / "exchange", write_courses_file(settings, state / "exchange-courses.json"),
                    port=settings["exchange_port"])
        if settings.get("instant"):
            instant_service(c, settings)

    isolated = settings["isolation"] == "unix-users"
    c.JupyterHub.spawner_class = "localprocess" if isolated else "simple"
    singleuser = Path(sys.executable).with_name("jupyterhub-singleuser")
    c.Spawner.cmd = [str(singleuser)] if singleuser.exists() else [sys.executable, "-m", "jupyterhub.singleuser"]
    if not isolated and os.getuid() == 0:
        c.Spawner.args = ["--allow-root"]
    if not isolated:
        c.SimpleLocalProcessSpawner.home_dir_template = str(state / "homes" / "{username}")
    c.Spawner.default_url = "/lab"
    c.Spawner.environment = {URL_ENV: exchange_url(settings)}
    c.Spawner.start_timeout = 120
    c.Spawner.http_timeout = 120
    c.Spawner.pre_spawn_hook = make_pre_spawn_hook(settings)
