"""What a sandboxed kernel may touch, decided in the trusted process and applied in the kernel's."""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import shutil
import site
import stat
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import identity
from .limits import Limits

SYSTEM_READ = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/proc", "/sys", "/dev/null", "/dev/zero",
               "/dev/full", "/dev/urandom", "/dev/random"]
ETC_READ = ["ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "passwd", "group",
            "nsswitch.conf", "hosts", "host.conf", "os-release", "mime.types", "matplotlibrc"]
DEVICE_WRITE = ["/dev/null", "/dev/full"]
# JPY_PARENT_PID is not kept: the kernel's parent is its keeper, which ends it when the grader ends
# (see kernel_environment).
ENV_KEEP = ("PATH", "LANG", "LANGUAGE", "TERM", "TZ", "PYTHONHASHSEED", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
            "JPY_SESSION_NAME", "MPLBACKEND", "PYDEVD_DISABLE_FILE_VALIDATION")
ENV_KEEP_PREFIXES = ("LC_", "NBGRADER_", "AUTOGRADER_", "JUPYTER_PLATFORM", "PYTHONWARN")
MAX_COPY_BYTES = 256 * 1024 * 1024
MAX_COPY_FILES = 2000
IPC_MB = 4                         # the folder of the kernel's sockets and connection file


class SandboxError(RuntimeError):
    pass


# Confinement levels, weakest first (``c.Sandbox.require`` names one): checked by the host preflight
# before grading and by each kernel as it confines itself.
LEVELS = {"none": 0, "landlock": 1, "full": 2}


def confinement_level(landlock: bool, namespaces: bool) -> str:
    return "full" if landlock and namespaces else "landlock" if landlock else "none"


@dataclass
class Plan:
    scratch: str
    workdir: str
    readable: list[str]
    writable: list[str]
    env: dict[str, str]
    limits: Limits = field(default_factory=Limits)
    network: bool = False
    cgroup: str | None = None
    require: str = "none"          # "none", "landlock" or "full": refuse to run below that level
    private_dirs: dict[str, int] = field(default_factory=dict)   # folder -> MiB of its private tmpfs
    stage: str = ""                # prepared contents, copied into the private dirs after mounting
    uid: int = 0                   # the kernel's own uid and gid (see ``identity``)
    gid: int = 0
    connection_file: str = ""      # the kernel's connection file, rewritten for its own view ...
    kernel_ip: str = ""            # ... with this socket path prefix
    report: str = ""               # where the keeper writes the confinement report for the grader

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: str) -> Plan:
        data = json.loads(Path(path).read_text())
        data["limits"] = Limits(**data["limits"])
        return cls(**data)


def python_paths() -> list[str]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable))}
    paths.update(p for p in site.getsitepackages() if os.path.isdir(p))
    return sorted(paths)


def _matplotlib_cache() -> Path:
    if os.environ.get("MPLCONFIGDIR"):
        return Path(os.environ["MPLCONFIGDIR"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "matplotlib"


def _probe_package() -> Path:
    return Path(__file__).resolve().parents[1]


class Scratch:
    """A private directory tree for one kernel: ``work`` (its cwd, a copy of the submission folder),
    ``home``, ``tmp`` and ``ipc`` (writable, each a private tmpfs inside the kernel's mount namespace)
    and ``lib`` (a read-only copy of the probe, owned by the kernel's uid).

    ``work`` and ``home`` are prepared under ``stage``; the kernel's launcher copies them in place after
    it has mounted its private file systems. The grader reaches the kernel's sockets through ``kipc``,
    a link into the kernel's own view of ``ipc`` (``/proc/<keeper>/root/...``), renewed at each start.
    The root is closed to listing (0711); the kernel uid can only pass through it.
    """

    def __init__(self, root: Path, uid: int, gid: int) -> None:
        self.root, self.uid, self.gid = root, uid, gid
        self.work, self.home, self.tmp, self.ipc, self.lib = (root / n for n in ("work", "home", "tmp", "ipc", "lib"))
        self.stage = root / "stage"
        self.kipc = root / "kipc"
        self.report = root / "confinement.json"

    @classmethod
    def create(cls, submission: Path | str | None) -> Scratch:
        scratch = cls(Path(tempfile.mkdtemp(prefix="agsb-", dir=_scratch_base())), *identity.kernel_ids())
        scratch.root.chmod(0o711)
        for folder in (scratch.work, scratch.home, scratch.tmp, scratch.ipc, scratch.lib, scratch.stage,
                       scratch.stage / "work", scratch.stage / "home"):
            folder.mkdir(mode=0o700)
        if submission:
            scratch._copy_submission(Path(submission))
        scratch._copy_probe(Path(submission).name if submission else "")  # autograded/<student>/<assignment>
        scratch._copy_font_cache()
        return scratch

    def link_ipc(self, keeper_pid: int) -> None:
        """Point ``kipc`` at the ``ipc`` folder as the kernel whose keeper is ``keeper_pid`` sees it."""
        temporary = self.root / f"kipc.{keeper_pid}"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(f"/proc/{keeper_pid}/root{self.ipc}")
        os.replace(temporary, self.kipc)

    def _copy_submission(self, source: Path) -> None:
        """Copy the submission's own files (not notebooks, never following symlinks, bounded size)."""
        if not source.is_dir():
            return
        budget, files = MAX_COPY_BYTES, 0
        for path in sorted(source.rglob("*")):
            if files >= MAX_COPY_FILES:
                break
            rel = path.relative_to(source)
            if path.is_symlink() or any(part.startswith(".") for part in rel.parts):
                continue
            target = self.stage / "work" / rel
            if path.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            elif path.is_file() and path.suffix != ".ipynb":
                size = path.stat().st_size
                if size > budget:
                    continue
                budget -= size
                files += 1
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)

    def _copy_probe(self, assignment: str) -> None:
        """The probe library and the scenarios of ``assignment`` only (no other assignment's hidden tests)."""
        package = _probe_package()
        target = self.lib / "autograder"
        scenarios = package / "probe" / "scenarios"

        def ignore(folder: str, names: list[str]) -> set[str]:
            skipped = {n for n in names if n == "__pycache__" or n.endswith(".pyc")}
            if Path(folder) == scenarios:
                skipped |= {n for n in names if n.endswith(".py") and n not in ("__init__.py", f"{assignment}.py")}
            return skipped

        shutil.copytree(package / "probe", target / "probe", ignore=ignore)
        shutil.copyfile(package / "__init__.py", target / "__init__.py")
        for path in [self.lib, target, *target.rglob("*")]:
            path.chmod(stat.S_IRUSR | stat.S_IXUSR if path.is_dir() else stat.S_IRUSR)
            if os.geteuid() == 0:
                os.chown(path, self.uid, self.gid)

    def _copy_font_cache(self) -> None:
        mpl = self.stage / "home" / ".matplotlib"
        mpl.mkdir()
        cache = _matplotlib_cache()
        if cache.is_dir():
            for font_list in cache.glob("fontlist-*.json"):
                shutil.copyfile(font_list, mpl / font_list.name)

    def environment(self, base: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in base.items() if k in ENV_KEEP or k.startswith(ENV_KEEP_PREFIXES)}
        env.setdefault("PATH", os.defpath)
        env.update(HOME=str(self.home), TMPDIR=str(self.tmp), PYTHONPATH=str(self.lib),
                   USER="student", LOGNAME="student",  # the kernel's uid has no account
                   MPLCONFIGDIR=str(self.home / ".matplotlib"), IPYTHONDIR=str(self.home / ".ipython"),
                   JUPYTER_CONFIG_DIR=str(self.home / ".jupyter"), JUPYTER_DATA_DIR=str(self.home / ".jupyter-data"),
                   JUPYTER_RUNTIME_DIR=str(self.ipc), PYTHONNOUSERSITE="1", PYTHONDONTWRITEBYTECODE="1",
                   # ipykernel's pipe for subprocess output needs TCP, which the sandbox denies
                   PYTHONWARNINGS="ignore:Couldn't bind IOPub Pipe:UserWarning")
        return env

    def plan(self, env: dict[str, str], *, limits: Limits, network: bool = False, extra_read=(),
             require: str = "none", cgroup: str | None = None, disk_mb: int = 512) -> Plan:
        readable = [*python_paths(), *SYSTEM_READ, *(f"/etc/{n}" for n in ETC_READ), str(self.lib), *extra_read]
        writable = [str(self.work), str(self.home), str(self.tmp), str(self.ipc), *DEVICE_WRITE]
        private = {str(self.work): disk_mb, str(self.home): disk_mb, str(self.tmp): disk_mb, str(self.ipc): IPC_MB}
        return Plan(scratch=str(self.root), workdir=str(self.work), readable=readable, writable=writable,
                    env=self.environment(env), limits=limits, network=network, cgroup=cgroup, require=require,
                    private_dirs=private, stage=str(self.stage), uid=self.uid, gid=self.gid,
                    connection_file=str(self.ipc / "kernel.json"), kernel_ip=str(self.ipc / "k"),
                    report=str(self.report))

    def cleanup(self) -> None:
        remove_tree(self.root)


_RUN_FOLDERS: list[str] = []   # the folders of the runs under way in this process (``RunScratch``), newest last


def _system_base() -> str:
    return "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()  # short: unix socket paths


def _scratch_base() -> str:
    """The open run folder (the newest); outside any run, this process's own, removed when it exits."""
    if not _RUN_FOLDERS:
        atexit.register(RunScratch().close)
    return _RUN_FOLDERS[-1]


def remove_tree(root: Path) -> None:
    """Delete a scratch tree, read-only parts (a kernel's probe copy) included."""
    for path in [root, *root.rglob("*")] if root.is_dir() else []:
        if path.is_dir() and not path.is_symlink():
            try:
                path.chmod(0o700)
            except OSError:
                pass
    shutil.rmtree(root, ignore_errors=True)


class RunScratch:
    """One folder for every scratch folder a run's kernels get: those this process creates while it is open,
    and those of the workers it forks meanwhile (a process that grades outside any run, e.g.
    ``nbgrader autograde``, gets one of its own with its first kernel, removed when it exits).
    ``close()`` deletes it with whatever is left in it, so a run that was interrupted — its workers
    terminated mid-notebook, its zygote killing their kernels — leaves no student's files in /tmp either
    (a finished run's workers have removed their own already).

    The folder's ``.lock`` is locked (flock) for as long as the run or a worker it forked lives; a new run
    first removes every run folder whose lock nobody holds any more (its run was killed outright)."""

    LOCK = ".lock"

    def __init__(self) -> None:
        sweep_abandoned_runs()
        self.folder = Path(tempfile.mkdtemp(prefix="agsb-run-", dir=_system_base()))
        self.folder.chmod(0o711)   # kernels pass through to their own folder, as through /tmp
        self._lock = os.open(self.folder / (self.LOCK + ".new"), os.O_CREAT | os.O_WRONLY, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        os.rename(self.folder / (self.LOCK + ".new"), self.folder / self.LOCK)  # seen by others only locked
        _RUN_FOLDERS.append(str(self.folder))
        self._owner = os.getpid()

    def close(self) -> None:
        """Remove the folder (only in the process that made it: a forked worker never does)."""
        if os.getpid() != self._owner:
            return
        if str(self.folder) in _RUN_FOLDERS:
            _RUN_FOLDERS.remove(str(self.folder))
        remove_tree(self.folder)
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def __enter__(self) -> RunScratch:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def kernel_environment(plan: Plan, launcher_env: dict[str, str]) -> dict[str, str]:
    """The kernel's environment: the plan's, plus what jupyter_client adds for the session (not the
    parent pid: the kernel's parent is its keeper, outside its pid namespace)."""
    extra = {k: v for k, v in launcher_env.items() if k.startswith("JPY_") and k != "JPY_PARENT_PID"}
    return {**plan.env, **extra, "JPY_PARENT_PID": "1"}  # "1": ipykernel watches no parent


def read_connection(plan: Plan) -> dict | None:
    """The connection file jupyter_client wrote (read before ``ipc`` is covered by the kernel's tmpfs)."""
    try:
        return json.loads(Path(plan.connection_file).read_text())
    except (OSError, ValueError):
        return None


def unstage(plan: Plan, connection: dict | None) -> None:
    """Put the staged work and home folders and the kernel's connection file in place, owned by the
    kernel's uid (run by the launcher, after mounting)."""
    for name in ("work", "home"):
        source, target = Path(plan.stage) / name, Path(plan.scratch) / name
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True, symlinks=True)
    if connection is not None:  # the kernel binds its sockets where it sees its ipc folder
        Path(plan.connection_file).write_text(json.dumps({**connection, "ip": plan.kernel_ip}))
    if os.geteuid() == 0 and plan.uid != 0:
        for name in ("work", "home", "tmp", "ipc"):
            top = Path(plan.scratch) / name
            for path in [top, *top.rglob("*")]:
                os.lchown(path, plan.uid, plan.gid)


def grader_readable_by_kernel(plan: Plan) -> str | None:
    """Where the trusted ``autograder`` package lies inside a path the kernel may read, if it does."""
    package = str(_probe_package())
    for path in plan.readable:
        if path not in (str(Path(plan.scratch) / "lib"),) and (package + "/").startswith(path.rstrip("/") + "/"):
            return path
    return None


def sweep_abandoned_runs() -> list[Path]:
    """Remove the run folders (``RunScratch``) of runs that are gone: their lock can be taken. Folders of
    other users, and of runs still alive, are left alone. Returns what was removed."""
    removed = []
    for folder in Path(_system_base()).glob("agsb-run-*"):
        try:
            fd = os.open(folder / RunScratch.LOCK, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        try:
            if os.fstat(fd).st_uid == os.geteuid():
                remove_tree(folder)
                removed.append(folder)
        finally:
            os.close(fd)
    return removed
