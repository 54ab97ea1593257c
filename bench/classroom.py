"""Benchmark: the course's hub, headless, under a class: figures printed, nothing asserted.

    python bench/classroom.py [--students 30] [--assignment ps2_vjp] [--no-memory]

1. Latency: N students submit at once (threads, each as their own hub user through the exchange), then the
   instructor collects: p50/p95 of the submit call and of submit -> collected (in ``submitted/``).
2. Memory: one student's Jupyter server, started through the hub's REST API (``--no-users``: the hub's
   simple spawner), and a kernel started through that server's REST API (``/api/kernels``) that runs
   ``import torch`` and a 1000x1000 matmul (sent through the kernel's own connection file). RSS is summed over
   each process tree (psutil). Then: how many students a machine of 24 GiB holds, memory-bound.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.classroom import load  # noqa: E402
from autograder.classroom.headless import HeadlessClassroom  # noqa: E402

MIB = 2**20
TORCH_CODE = "import torch\nx = torch.randn(1000, 1000)\ny = x @ x\nprint(torch.__version__, float(y.sum()))"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def tree_rss(pid: int, skip: set[int] = frozenset()) -> int:
    """RSS in bytes of a process and its descendants, leaving out the subtrees rooted at ``skip``."""
    total, stack = 0, [psutil.Process(pid)]
    while stack:
        process = stack.pop()
        if process.pid in skip:
            continue
        try:
            total += process.memory_info().rss
            stack.extend(process.children())
        except psutil.NoSuchProcess:
            pass
    return total


def latency(room: HeadlessClassroom, course, assignment: str, students: list[str], homes: Path) -> dict:
    room.exchange("instructor", "ServiceReleaseAssignment", course.root, assignment)
    wall = time.time() - time.monotonic()
    submitted = load.submit_all(room, course, assignment, students, homes)
    start = time.monotonic()
    room.exchange("instructor", "ServiceCollect", course.root, assignment)
    collect_seconds = time.monotonic() - start
    calls = [s.finished - s.started for s in submitted.values()]
    waits = [(course.submitted / s / assignment).stat().st_mtime - (sub.started + wall)
             for s, sub in submitted.items()]
    return {"students": len(students), "submit_p50": percentile(calls, 0.5), "submit_p95": percentile(calls, 0.95),
            "collected_p50": percentile(waits, 0.5), "collected_p95": percentile(waits, 0.95),
            "collect_seconds": collect_seconds}


def user_api(room: HeadlessClassroom, user: str, method: str, route: str, body: dict | None = None):
    request = urllib.request.Request(f"{room.url}/user/{user}/api/{route}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"token {room.admin_token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310 (our own hub)
        return json.loads(answer.read() or b"null")


def memory(room: HeadlessClassroom, user: str) -> dict:
    from jupyter_client import BlockingKernelClient

    hub_before = tree_rss(room.process.pid)
    status, answer = room.hub_api("POST", f"users/{user}/server")
    if status not in (201, 202):
        raise RuntimeError(f"starting {user}'s server: {status} {answer}")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        model = room.hub_api("GET", f"users/{user}")[1]
        server = (model.get("servers") or {}).get("")
        if server and server.get("ready"):
            break
        time.sleep(0.5)
    else:
        raise RuntimeError(f"{user}'s server was not ready within 300 s")
    pid = server["state"]["pid"]
    time.sleep(2)
    server_idle = tree_rss(pid)
    kernel = user_api(room, user, "POST", "kernels", {"name": "python3"})
    kernel_pids, connection = set(), None
    for child in psutil.Process(pid).children():   # the kernel names its connection file on its command line
        line = child.cmdline()
        if any(f"kernel-{kernel['id']}.json" in part for part in line):
            kernel_pids.add(child.pid)
            connection = next(part for part in line if part.endswith(f"kernel-{kernel['id']}.json"))
    if connection is None:
        raise RuntimeError(f"no process of kernel {kernel['id']} under the server {pid}")
    client = BlockingKernelClient()
    client.load_connection_file(connection)
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        kernel_idle = sum(tree_rss(k) for k in kernel_pids)
        start = time.monotonic()
        reply = client.execute_interactive(TORCH_CODE, timeout=600, output_hook=lambda msg: None)
        import_seconds = time.monotonic() - start
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"the kernel failed: {reply['content']}")
        time.sleep(1)
        kernel_torch = sum(tree_rss(k) for k in kernel_pids)
        server_only = tree_rss(pid, skip=kernel_pids)
    finally:
        client.stop_channels()
        user_api(room, user, "DELETE", f"kernels/{kernel['id']}")
        room.hub_api("DELETE", f"users/{user}/server")
    return {"hub_tree": hub_before, "server_idle": server_idle, "server": server_only, "kernel_idle": kernel_idle,
            "kernel_torch": kernel_torch, "import_seconds": import_seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--assignment", default="ps2_vjp")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--machine-gib", type=float, default=24.0)
    parser.add_argument("--reserve-gib", type=float, default=2.0, help="kept for the OS, page cache, grading")
    args = parser.parse_args()
    students = load.student_names(args.students)
    with tempfile.TemporaryDirectory(prefix="bench-classroom-") as temporary:
        base = Path(temporary)
        course = load.make_course(ROOT, base / "course", args.assignment, students)
        room = HeadlessClassroom(course.root, base / "state")
        start = time.monotonic()
        with room:
            print(f"hub + exchange up in {time.monotonic() - start:.1f} s "
                  f"(load average {' '.join(f'{x:.1f}' for x in psutil.getloadavg())}, {psutil.cpu_count()} CPUs)")
            got = latency(room, course, args.assignment, students, base / "homes")
            print(f"{got['students']} students submit {args.assignment} at once:")
            print(f"  submit call        p50 {got['submit_p50']:.2f} s   p95 {got['submit_p95']:.2f} s")
            print(f"  submit->collected  p50 {got['collected_p50']:.2f} s   p95 {got['collected_p95']:.2f} s "
                  f"(the collect of all {got['students']} took {got['collect_seconds']:.2f} s)")
            if args.no_memory:
                return 0
            mem = memory(room, students[0])
        per_student = mem["server"] + mem["kernel_torch"]
        usable = (args.machine_gib - args.reserve_gib) * 2**30 - mem["hub_tree"]
        print(f"hub + proxy + exchange service (process tree): {mem['hub_tree'] / MIB:.0f} MB")
        print(f"one student's Jupyter server (jupyterhub-singleuser, JupyterLab, nbgrader extensions): "
              f"{mem['server_idle'] / MIB:.0f} MB idle, {mem['server'] / MIB:.0f} MB with a kernel open")
        print(f"one kernel: {mem['kernel_idle'] / MIB:.0f} MB idle, {mem['kernel_torch'] / MIB:.0f} MB after "
              f"`import torch` and a 1000x1000 matmul ({mem['import_seconds']:.1f} s)")
        print(f"per student (server + one torch kernel): {per_student / MIB:.0f} MB")
        print(f"a machine of {args.machine_gib:g} GiB, {args.reserve_gib:g} GiB kept for the OS and grading, "
              f"minus the hub: {int(usable // per_student)} students with one torch kernel each open at once "
              "(memory-bound; RSS counts torch's shared libraries once per kernel, so this is pessimistic)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
