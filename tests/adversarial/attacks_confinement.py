"""Attacks on the boundary around a kernel (issue: confinement as a boundary).

* the warm parent (zygote) of the fast grader: found by socket path, by process, asked for work;
* other kernels and the grader: seen in /proc, signalled, their connection files read, their uid shared;
* the probe material of other assignments: imported, listed, or the trusted package imported.

Trusted code importing from a folder the student writes to is attacked in ``tests/test_sandbox_boundary.py``
(it needs files planted where only a kernel without namespaces could write).

Each attack cell prints ATTACK-BLOCKED when the boundary holds (see ``attack_kit.guarded``).
Code is passed through ``str.format``: braces are doubled.
"""

from __future__ import annotations

from attack_kit import Attack, _with_cell, guarded

# Every unix socket this kernel can name, minus its own: connect and ask for a kernel.
ZYGOTE_BY_SOCKET = r"""
import os, socket, stat, json
own = os.path.realpath(os.environ.get("JUPYTER_RUNTIME_DIR", "/nonexistent"))
candidates = set()
try:
    for line in open("/proc/net/unix").read().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[-1].startswith("/"):
            candidates.add(fields[-1])
except OSError:
    pass
scratch = os.path.dirname(os.getcwd())
for top in ("/tmp", "/run", "/var/run", "/dev/shm", os.path.dirname(scratch), scratch):
    for root, dirs, files in os.walk(top):
        for name in files + dirs:
            path = os.path.join(root, name)
            try:
                if stat.S_ISSOCK(os.lstat(path).st_mode):
                    candidates.add(path)
            except OSError:
                pass
answered = []
for path in sorted(candidates):
    if os.path.realpath(path).startswith(own):
        continue
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(3)
        s.connect(path)
        s.sendall(json.dumps({{"op": "status", "pid": 1}}).encode() + b"\n")
        if s.recv(4096):
            answered.append(path)
    except OSError:
        pass
if not answered:
    raise PermissionError(f"no grader socket among {{len(candidates)}} candidates")
print("reached", answered)
"""

ZYGOTE_BY_PROCESS = r"""
import os
found = []
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) != os.getpid():
        try:
            cmdline = open(f"/proc/{{pid}}/cmdline", "rb").read()
        except OSError:
            continue
        if b"zygote" in cmdline or b"nbgrader" in cmdline or b"autograder" in cmdline:
            os.kill(int(pid), 0)
            found.append(pid)
if not found:
    raise PermissionError("no grader process visible")
print("grader processes", found)
"""

OTHER_PROCESSES = r"""
import os
others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
try:
    os.kill(-1, 0)  # succeeds if any other process can be signalled
    signalled = True
except OSError:
    signalled = False
if not others and not signalled:
    raise PermissionError("alone in its pid namespace")
print("visible", others, "signalled", signalled)
"""

OTHER_CONNECTION_FILES = r"""
import glob, os
own = os.path.realpath(os.environ.get("JUPYTER_RUNTIME_DIR", "/nonexistent"))
read = []
for pattern in ("/tmp/agsb-*/ipc/*.json", "/tmp/agsb-*/kipc/*.json", "/tmp/agsb-*/*.json",
                "/tmp/agsb-*/agsb-*/ipc/*.json", "/tmp/agsb-*/agsb-*/kipc/*.json", "/tmp/agsb-*/agsb-*/*.json",
                "/proc/*/root/tmp/agsb-*/ipc/*.json", "/proc/*/root/tmp/agsb-*/agsb-*/ipc/*.json",
                "/proc/*/cwd/*.ipynb", "/root/.local/share/jupyter/runtime/*"):
    for path in glob.glob(pattern):
        if os.path.realpath(path).startswith(own):
            continue
        try:
            read.append((path, open(path).read(80)))
        except OSError:
            pass
if not read:
    raise PermissionError("no other kernel's files reachable")
print(read)
"""

PRIVILEGED_UID = r"""
import os, sys
caps = int([l for l in open("/proc/self/status") if l.startswith("CapEff")][0].split()[1], 16)
shares_owner = os.stat(sys.executable).st_uid == os.getuid() or os.stat(os.getcwd() + "/..").st_uid == os.getuid()
escalated = False
try:
    os.setuid(0)
    escalated = True
except OSError:
    pass
if os.getuid() == 0 or caps or escalated or shares_owner:
    print("uid", os.getuid(), "caps", hex(caps), "escalated", escalated, "shares owner", shares_owner)
else:
    raise PermissionError(f"uid {{os.getuid()}} without capabilities")
"""

OTHER_SCENARIOS = r"""
import importlib, sys
got = [n for n in sys.modules if n.startswith("autograder.probe.scenarios.") and not n.endswith("ps2_vjp")]
for name in {other_assignments}:
    try:
        importlib.import_module(f"autograder.probe.scenarios.{{name}}")
        got.append(name)
    except Exception:
        pass
if not got:
    raise PermissionError("no other assignment's scenarios")
print(got)
"""

LIST_PROBE_FILES = r"""
import os, autograder.probe
folder = os.path.join(os.path.dirname(autograder.probe.__file__), "scenarios")
names = [n for n in os.listdir(folder) if n.endswith(".py") and n not in ("__init__.py", "ps2_vjp.py")]
if not names:
    raise PermissionError("only this assignment's scenarios")
print(names, open(os.path.join(folder, names[0])).read()[:200])
"""

TRUSTED_PACKAGE = r"""
import importlib, sys
saved = list(sys.path), {{n: m for n, m in sys.modules.items() if n.split(".")[0] == "autograder"}}
try:
    for name in saved[1]:
        del sys.modules[name]
    sys.path[:] = [p for p in sys.path if "agsb-" not in p]
    judge = importlib.import_module("autograder.judge.rubrics.ps2_vjp")
finally:  # leave this kernel's probe as it was, so that the hidden tests still run
    for name in [n for n in sys.modules if n.split(".")[0] == "autograder"]:
        del sys.modules[name]
    sys.modules.update(saved[1])
    sys.path[:] = saved[0]
print(judge.__file__)
"""


ATTACKS = [
    Attack("zygote-by-socket", "finds the fast grader's control socket by path and asks it for work",
           _with_cell(guarded(ZYGOTE_BY_SOCKET)), attack_cell=True),
    Attack("zygote-by-process", "finds the grader's processes in /proc and signals them",
           _with_cell(guarded(ZYGOTE_BY_PROCESS)), attack_cell=True),
    Attack("other-processes", "sees or signals processes outside its own kernel",
           _with_cell(guarded(OTHER_PROCESSES)), attack_cell=True),
    Attack("other-connection-files", "reads other kernels' connection files and runtime folders",
           _with_cell(guarded(OTHER_CONNECTION_FILES)), attack_cell=True),
    Attack("privileged-uid", "runs as root, with capabilities, or as the grader's own uid",
           _with_cell(guarded(PRIVILEGED_UID)), attack_cell=True),
    Attack("other-scenarios", "imports the hidden scenarios of the other problem sets",
           _with_cell(guarded(OTHER_SCENARIOS)), attack_cell=True),
    Attack("list-probe-files", "lists and reads the probe's scenario files of other problem sets",
           _with_cell(guarded(LIST_PROBE_FILES)), attack_cell=True),
    Attack("trusted-package", "imports the judge's rubrics from the installed package",
           _with_cell(guarded(TRUSTED_PACKAGE)), attack_cell=True),
]
