"""A warm parent for students' kernels.

Started once per batch (``python -P -m autograder.batch.zygote_process FD``, FD the inherited end of a socket
pair), it imports torch, IPython, ipykernel, matplotlib and the probe, warms them up, and then forks one
child per notebook on request. Requests come only over connections the grader hands it through that
pair (checked by peer credentials): there is no socket path a kernel could find or connect to.
Each child confines itself (``autograder.sandbox``) and becomes an ordinary ipykernel on the
connection file it was given, so the notebook is executed exactly as ``nbgrader autograde`` would,
minus the interpreter start and ``import torch`` that a fresh kernel pays.

The zygote never imports the judge, the rubrics or the gradebook: a student's child process can only
find in memory what it could have imported itself.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time

_children: dict[int, int | None] = {}   # pid -> exit status (None while running)

# Modules ipykernel (6.x/7.x) imports inside ``IPKernelApp.initialize``, not when it is imported: the
# debugger (debugpy, ≈60 ms alone), the shell's history (sqlite3), pdb, tornado's queues. Imported once in
# the zygote, a forked kernel initializes in a third of the time; the state is what the kernel's own
# import would have made (debugpy runs `uname -p` once and sets sys.breakpointhook, as in every kernel; the
# variables it puts in the zygote's environment never reach a kernel, which gets its plan's environment).
KERNEL_START_MODULES = ("ipykernel.debugger", "IPython.extensions.storemagic", "IPython.core.history",
                        "IPython.core.completerlib", "IPython.core.debugger", "IPython.core.oinspect", "sqlite3", "pdb",
                        "faulthandler", "tornado.gen", "tornado.locks", "tornado.queues",
                        "tornado.platform.asyncio", "http.server",
                        "xmlrpc.client", "xmlrpc.server", "mimetypes", "pydoc", "encodings.idna")


def warm_up() -> None:
    """Import and exercise what every grading kernel needs, single-threaded (fork-safe)."""
    import torch

    torch.set_num_threads(1)
    import ipykernel.ipkernel  # noqa: F401
    import ipykernel.kernelapp  # noqa: F401
    import IPython  # noqa: F401
    import matplotlib
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401
    import matplotlib.font_manager  # noqa: F401  (loads the font cache)
    import numpy  # noqa: F401

    import autograder.probe.session  # noqa: F401  (the library only: each kernel loads its own assignment's scenarios)
    import autograder.sandbox.confine  # noqa: F401  (each child confines itself first)

    # debugpy (imported by ipykernel.debugger) warns about frozen modules unless told not to: ipykernel's own
    # kernel spec sets this for interpreters that use frozen modules; it only concerns debugging
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    for name in KERNEL_START_MODULES:  # what ipykernel imports while a kernel initializes: once, here
        try:
            importlib.import_module(name)
        except ImportError:  # another ipykernel release: its kernels import what they need themselves
            pass
    from autograder.probe.warm import warm_up as warm_torch

    warm_torch()  # torch._dynamo, the forward-AD decompositions, first torch.func calls, the method tap
    _warm_matplotlib()
    _warm_tracebacks()
    del matplotlib


def _warm_matplotlib() -> None:
    """Render one figure with text, an image and a colour bar: loads fonts and caches for every child."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4, 2))
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    image = left.imshow([[0.0, 1.0], [2.0, 3.0]])
    figure.colorbar(image, ax=left, label="value")
    right.plot([0, 1], [1, 0], label="line")
    right.legend()
    for axis in (left, right):
        axis.set_title("warm-up $x^2$")
        axis.set_xlabel("x")
        axis.set_ylabel("y")
    figure.savefig(io.BytesIO(), format="png", bbox_inches="tight")


def _warm_tracebacks() -> None:
    """Format one traceback as a kernel's shell does (its default mode and colours): the first one loads
    pygments' formatter and styles (≈0.2 s), and every hidden test a submission fails raises."""
    from IPython.core.ultratb import AutoFormattedTB

    try:
        try:
            formatter = AutoFormattedTB(mode="Context", theme_name="neutral", tb_offset=1)  # IPython 9
        except TypeError:
            formatter = AutoFormattedTB(mode="Context", color_scheme="Neutral", tb_offset=1)  # IPython 8
        try:
            raise ValueError("warm-up")
        except ValueError:
            formatter.structured_traceback(*sys.exc_info())
    except Exception:  # noqa: BLE001 (a warm-up only: the first failing test then pays the cost itself)
        pass


def _reap(signum=None, frame=None) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _children[pid] = os.waitstatus_to_exitcode(status)


def _become_kernel(request: dict, keep: list[int]) -> None:
    """In the forked child: confine, then run an ipykernel until it is shut down."""
    code = 1
    try:
        os.setsid()
        for fd in keep:
            try:
                os.close(fd)
            except OSError:
                pass
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        log = request.get("log")
        if log:
            out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.dup2(out, 1)
            os.dup2(out, 2)
        env = dict(request["env"])
        if request.get("plan"):
            from autograder.sandbox.confine import confine
            from autograder.sandbox.plan import Plan, kernel_environment

            plan = Plan.load(request["plan"])
            confine(plan)  # from here on this is the confined kernel process; its keeper stays outside
            env = kernel_environment(plan, env)
            _forget_grader_modules()
        else:
            os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(env)
        import warnings

        warnings.filterwarnings("ignore", "Couldn't bind IOPub Pipe")  # TCP is denied in the sandbox
        extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        course = os.path.abspath(request.get("course") or "/nonexistent")
        base = [p for p in sys.path if p and os.path.abspath(p) != course]  # (-P: no working folder in it)
        sys.path[:] = ["", *extra, *base]
        sys.argv = ["ipykernel_launcher", *request["argv"]]
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance()
        app.initialize(request["argv"])
        # matplotlib read MPLBACKEND when the zygote imported it; re-read it as a fresh kernel would
        import matplotlib

        matplotlib.use(os.environ.get("MPLBACKEND", "module://matplotlib_inline.backend_inline"))
        app.start()
        code = 0
    except BaseException:  # the child must never return into the zygote's loop
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _forget_grader_modules() -> None:
    """Drop the grader's own modules from a confined kernel: it imports the probe from its scratch copy
    (its own assignment's scenarios only), as a fresh kernel would."""
    for name in [n for n in sys.modules if n == "autograder" or n.startswith("autograder.")]:
        del sys.modules[name]


def _handle(request: dict, keep: list[int]) -> dict:
    op = request.get("op")
    if op == "fork":
        pid = os.fork()
        if pid == 0:
            _become_kernel(request, keep)
        _children[pid] = None
        return {"pid": pid}
    if op == "status":
        _reap()
        pid = int(request["pid"])
        return {"pid": pid, "running": _children.get(pid, 0) is None, "exit": _children.get(pid)}
    return {"error": f"unknown op {op!r}"}


def _from_grader(sock: socket.socket, grader: int) -> bool:
    """True if the peer of ``sock`` is the grader process that started us (pid and uid)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", creds)
    return pid == grader and uid == os.getuid()


def _kill_children() -> None:
    for pid, status in list(_children.items()):
        if status is None:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass


def die_with_parent(parent: int, signum: int = signal.SIGTERM) -> None:
    """PR_SET_PDEATHSIG, and exit at once if our parent is no longer ``parent`` (the pid of the process that
    started us, which the caller knows: it died before the signal was armed). Being the child of pid 1 is no
    sign of that by itself: a grader may be a container's first process."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signum, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)


def serve(control_fd: int, idle_seconds: float | None = None) -> None:
    """Fork kernels on request until the grader stops us, goes away, or (``idle_seconds``) leaves us idle:
    no request and no running kernel for that long."""
    grader = os.getppid()
    die_with_parent(grader)  # (had the grader gone already, the control pair's peer check below refuses)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the grader's to handle
    control = socket.socket(fileno=control_fd)
    if not _from_grader(control, grader):
        sys.stderr.write("autograder zygote: the control channel does not come from the grader\n")
        os._exit(2)
    warm_up()
    signal.signal(signal.SIGCHLD, _reap)

    def stop(signum, frame):
        _kill_children()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    buffers: dict[socket.socket, bytes] = {}
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    last_request = time.monotonic()
    while True:
        events = selector.select(timeout=None if idle_seconds is None else max(1.0, idle_seconds / 10))
        if not events and idle_seconds is not None and time.monotonic() - last_request > idle_seconds:
            _reap()
            if all(status is not None for status in _children.values()):
                os._exit(0)
        for key, _ in events:
            last_request = time.monotonic()
            sock = key.fileobj
            if sock is control:
                _accept(control, grader, selector, buffers)
                continue
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                selector.unregister(sock)
                buffers.pop(sock, None)
                sock.close()
                continue
            buffers[sock] += data
            while b"\n" in buffers[sock]:
                line, buffers[sock] = buffers[sock].split(b"\n", 1)
                keep = [control.fileno(), *(s.fileno() for s in buffers)]
                try:
                    reply = _handle(json.loads(line), keep)
                except Exception as exc:
                    reply = {"error": f"{type(exc).__name__}: {exc}"}
                sock.sendall(json.dumps(reply).encode() + b"\n")


def _accept(control: socket.socket, grader: int, selector, buffers: dict) -> None:
    """Take the connections the grader hands over; the grader gone, stop."""
    try:
        message, fds, _flags, _addr = socket.recv_fds(control, 16, 16)
    except OSError:
        message, fds = b"", []
    if not message:
        _kill_children()
        os._exit(0)
    for fd in fds:
        conn = socket.socket(fileno=fd)
        if conn.family != socket.AF_UNIX or not _from_grader(conn, grader):
            conn.close()
            continue
        selector.register(conn, selectors.EVENT_READ)
        buffers[conn] = b""


if __name__ == "__main__":
    serve(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else None)
