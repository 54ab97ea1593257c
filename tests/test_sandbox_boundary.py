"""The boundary around a kernel, checked from the grader's side with real kernels and a real zygote:
who a kernel runs as, what it can see, what trusted code imports, and who can talk to the zygote."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_core.utils import run_sync
from nbclient import NotebookClient

from autograder.batch.zygote import Zygote, ZygoteClient
from autograder.sandbox.config import Sandbox
from autograder.sandbox.kernel_manager import SandboxedKernelManager

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="own uids per kernel need root")

REPORT = r"""
import json, os
status = {l.split(":")[0]: l.split(":")[1].strip() for l in open("/proc/self/status") if ":" in l}
print(json.dumps({"uid": os.getuid(), "gid": os.getgid(), "pid": os.getpid(), "caps": status["CapEff"],
                  "processes": sorted(p for p in os.listdir("/proc") if p.isdigit()),
                  "cwd": os.getcwd()}))
"""


def _kernel(folder: Path) -> tuple[SandboxedKernelManager, object]:
    km = SandboxedKernelManager(kernel_name="python3")
    km.sandbox = Sandbox()
    run_sync(km.start_kernel)(cwd=str(folder))
    client = km.client()
    client.start_channels()
    run_sync(client.wait_for_ready)(timeout=120)
    return km, client


def _stop(km, client) -> None:
    client.stop_channels()
    run_sync(km.shutdown_kernel)(now=True)


def _run(client, code: str) -> str:
    out = []
    reply = run_sync(client.execute_interactive)(
        code, output_hook=lambda m: out.append(m["content"].get("text", "")), timeout=120)
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(out)


@root_only
def test_each_kernel_has_its_own_uid_no_capabilities_and_sees_only_itself(tmp_path):
    kernels = [_kernel(tmp_path) for _ in range(2)]
    try:
        seen = [json.loads(_run(client, REPORT)) for _, client in kernels]
    finally:
        for km, client in kernels:
            _stop(km, client)
    uids = {s["uid"] for s in seen}
    assert len(uids) == 2 and 0 not in uids and os.getuid() not in uids, seen
    for s in seen:
        assert s["gid"] == s["uid"] and int(s["caps"], 16) == 0, s
        assert s["pid"] == 1 and s["processes"] == ["1"], s   # its own pid namespace and /proc


def test_the_launcher_never_imports_what_a_kernel_wrote(tmp_path):
    """A kernel writes a fake ``autograder`` package, ``sitecustomize.py`` and ``json.py`` into its working
    folder as the grader sees it (possible where there are no namespaces), then dies: the launcher that
    starts the next kernel must not run any of them."""
    marker = tmp_path / "launcher-ran-student-code"
    plant = f"open({str(marker)!r}, 'w').write('pwned')\n"
    km, client = _kernel(tmp_path)
    try:
        work = km._scratch.work
        for name in ("autograder/__init__.py", "autograder/sandbox/__init__.py", "autograder/sandbox/launch.py",
                     "sitecustomize.py", "json.py", "ctypes.py"):
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            (work / name).write_text(plant)
        run_sync(km.restart_kernel)(now=True)
        run_sync(client.wait_for_ready)(timeout=120)
        assert _run(client, "print(1 + 1)").strip() == "2"
    finally:
        _stop(km, client)
    assert not marker.exists()


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def _named_unix_sockets() -> dict[str, str]:
    named = {}
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8:
            named[fields[6]] = fields[7]
    return named


def test_the_zygote_has_no_socket_path_and_accepts_only_the_graders_connections(tmp_path):
    zygote = Zygote(tmp_path)
    try:
        mine = ZygoteClient(zygote.connect())
        zygote.wait_ready()
        assert mine.request(op="status", pid=1)["running"] is False
        named = _named_unix_sockets()
        assert not _socket_inodes(zygote.process.pid) & set(named), "the zygote listens on a path"
        # A connection made by another process (as a kernel would have to) is refused even if it
        # reached the zygote: its peer is not the grader.
        here, there = socket.socketpair()
        stranger = subprocess.Popen(
            [sys.executable, "-c", "import socket, sys\n"
             "link = socket.socket(fileno=int(sys.argv[1]))\n"
             "a, b = socket.socketpair()\n"
             # The request is written before the connection is handed over, so it is already
             # waiting when the zygote looks at the peer: no race between the send and the refusal.
             "a.sendall(b'{\"op\": \"status\", \"pid\": 1}\\n')\n"
             "socket.send_fds(link, [b'x'], [b.fileno()])\n"
             "b.close()\n"
             "a.settimeout(120)\n"
             "try:\n    said = a.recv(100)\n"
             "except ConnectionResetError:\n    said = b''\n"   # closed by the zygote with the request unread
             "print('answered' if said else 'refused')\n", str(there.fileno())],
            pass_fds=(there.fileno(),), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        there.close()
        _, fds, _, _ = socket.recv_fds(here, 1, 1)
        socket.send_fds(zygote._control, [b"c"], fds)   # hand the stranger's connection to the zygote
        os.close(fds[0])
        out, err = stranger.communicate(timeout=180)
        assert stranger.returncode == 0, f"the stranger process failed: {err}"
        assert out.strip() == "refused", "the zygote answered a connection that the grader did not make"
        assert mine.request(op="status", pid=1)["running"] is False  # and it still serves the grader
    finally:
        zygote.close()


def test_a_forked_kernel_holds_none_of_the_zygotes_connections(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os\nprint(os.getpid())")])
    zygote = Zygote(tmp_path)
    try:
        from autograder.batch.forked_kernel import ForkedKernelManager

        ForkedKernelManager.zygote = ZygoteClient(zygote.connect())
        zygote.wait_ready()
        km = ForkedKernelManager(kernel_name="python3")
        km.sandbox = Sandbox()
        client = NotebookClient(nb, km=km, timeout=120, resources={"metadata": {"path": str(tmp_path)}})
        with client.setup_kernel(cwd=str(tmp_path)):
            keeper = km.provisioner.pid
            kernel = int(Path(f"/proc/{keeper}/task/{keeper}/children").read_text().split()[0])
            leaked = _socket_inodes(kernel) & _socket_inodes(zygote.process.pid)
            assert not leaked, f"the kernel holds the zygote's sockets {leaked}"
    finally:
        ForkedKernelManager.zygote = None
        zygote.close()


def test_this_host_confines_fully_and_a_weaker_host_is_refused_with_the_setting_to_change():
    from autograder.sandbox import preflight

    if os.geteuid() == 0:  # root can always create namespaces; Landlock is in every kernel we support
        assert preflight.missing_layers() == () and preflight.level(()) == "full"
        preflight.check("full")
    no_namespaces = ("namespaces (disabled)",)
    assert preflight.level(no_namespaces) == "landlock"
    assert preflight.level(("Landlock (missing)", *no_namespaces)) == "none"
    message = preflight.refusal("full", "landlock", no_namespaces)
    assert "Nothing was graded" in message and "c.Sandbox.require = 'landlock'" in message
    assert "namespaces (disabled)" in message


@root_only
def test_the_grader_reads_each_kernels_confinement_report(tmp_path):
    """nbconvert starts the kernel client through the synchronous call: it must reach GuardedExecute's own
    start, which reads the sandbox's report (a degraded kernel is then named in the run's problems)."""
    from types import SimpleNamespace

    from autograder.nbgrader_plugins import warm_kernels
    from autograder.nbgrader_plugins.execute import GuardedExecute

    reads = []

    class Watched(GuardedExecute):
        def _report_confinement(self):
            reads.append(self.km)
            super()._report_confinement()

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    pp = Watched(timeout=120)
    try:
        pp.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    finally:
        warm_kernels.stop()  # the kernel came from this process's zygote: no need to keep it
    assert len(reads) == 1 and pp.confinement_problems == []  # this host confines fully (preflight test)

    report = tmp_path / "report.json"
    report.write_text(json.dumps({"missing": ["landlock (not in this kernel)"], "level": "none", "layers": []}))
    pp.km = SimpleNamespace(_scratch=SimpleNamespace(report=report))
    pp._report_confinement()
    assert pp.confinement_problems == ["landlock (not in this kernel)"]
