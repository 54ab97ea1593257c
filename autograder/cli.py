"""Command line: ``autograder <command>`` (also ``python -m autograder``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .course import CourseError


def _demo(args) -> int:
    from .demo.run import run

    return run(Path(args.dir), grader=args.grader, assignments=args.assignment or None)


def _autograde(args) -> int:
    import signal
    import time

    entered = time.time()
    _skip_format_grammar()

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
    from rich.text import Text

    from .batch.zygote import Zygote
    from .course import Course

    course = Course.find()
    zygote = Zygote(course.root)  # warms up while the grader imports nbgrader and torch

    from .batch.runner import autograde, write_timings
    from .batch.summary import print_summary

    def terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    console = Console()
    class Rate(ProgressColumn):
        def render(self, task):
            return Text(f"{task.speed:.2f} notebooks/s" if task.speed else "… notebooks/s")

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False) as progress:
        report = autograde(course, args.assignment, students=args.student or None, workers=args.workers,
                           force=args.force, progress=progress, zygote=zygote)
    print_summary(console, course.db_url, report)
    report.marks.update(cli=entered, summary=time.time())  # benchmarks: when the command began and ended its work
    write_timings(report)
    if report.interrupted:
        return 130
    return 1 if any("grader error" in reason for _, reason in report.failures) else 0


def _report(args) -> int:
    from rich.console import Console

    from .course import Course
    from .reporting.class_report import build, print_table, write

    course = Course.find()
    report = build(course, args.assignment)
    console = Console()
    print_table(console, report)
    for path in write(course, report):
        console.print(f"wrote {path}")
    return 0


def _gradescope(args) -> int:
    from .course import Course
    from .gradescope.package import build_zip

    course = Course.find()
    out = build_zip(course, args.assignment, Path(args.output) if args.output else None)
    print(f"wrote {out}: upload it as the Gradescope autograder of {args.assignment}")
    return 0


def _hub(args) -> int:
    from .classroom.launcher import run

    return run(args)


def _serve(args) -> int:
    if args.status:  # a status look reads one file: it need not import the service (nbgrader)
        from .instant.state import print_status

        return print_status(args)
    if args.restart:  # the service in a child process, started again whenever it dies
        from .instant.supervisor import supervise

        return supervise([sys.executable, "-m", "autograder", "serve", *_serve_options(args)])
    from .instant.service import serve

    return serve(args)


def _serve_options(args) -> list[str]:
    """``args`` (of ``autograder serve``) as the command line of the supervised service, ``--restart`` left out."""
    options = ["--poll", repr(args.poll), "--workers", str(args.workers), "--queue-bound", str(args.queue_bound)]
    for flag, value in (("--state-dir", args.state_dir), ("--exchange-url", args.exchange_url)):
        if value:
            options += [flag, value]
    for assignment in args.assignment or []:
        options += ["--assignment", assignment]
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the full instructor cycle on a sample cohort")
    demo.add_argument("--dir", default="build/demo", help="throwaway course directory (default: build/demo)")
    demo.add_argument("--grader", choices=("autograder", "nbgrader"), default="autograder",
                      help="grade with `autograder autograde` (fast) or plain `nbgrader autograde`")
    demo.add_argument("--assignment", action="append", help="only these assignments (repeatable)")
    demo.set_defaults(handler=_demo)

    grade = commands.add_parser("autograde", help="grade submitted/ into the gradebook, fast and resumably")
    grade.add_argument("assignment")
    grade.add_argument("--student", action="append", help="only this student (repeatable)")
    grade.add_argument("--workers", type=int, default=None, help="parallel notebooks (default: CPU count)")
    grade.add_argument("--force", action="store_true", help="regrade submissions already graded")
    grade.set_defaults(handler=_autograde)

    report = commands.add_parser("report", help="per function: full marks and misconceptions (table + PNG)")
    report.add_argument("assignment")
    report.set_defaults(handler=_report)

    gradescope = commands.add_parser("gradescope", help="build a Gradescope autograder zip for an assignment")
    gradescope.add_argument("assignment")
    gradescope.add_argument("--output", help="zip path (default: gradescope/<assignment>.zip)")
    gradescope.set_defaults(handler=_gradescope)

    hub = commands.add_parser("hub", help="run the course on a real JupyterHub (foreground; see docs/classroom.md)")
    hub.add_argument("--ip", default="", help="address to listen on (default: all)")
    hub.add_argument("--port", type=int, default=8000, help="public port (default: 8000)")
    hub.add_argument("--demo", action="store_true", help="known passwords for every account (never with real students)")
    hub.add_argument("--add-student", metavar="NAME",
                     help="add a student (roster, account, unix user) or reset their password; prints it, then exits")
    hub.add_argument("--no-users", action="store_true",
                     help="create no unix users: every server runs as the hub's user (no isolation)")
    hub.add_argument("--fix-permissions", action="store_true",
                     help="open the folders above the Python environment to other users (o+x) instead of "
                          "exposing it in a private mount namespace")
    hub.add_argument("--no-exchange", action="store_true", help="do not start the exchange service")
    hub.add_argument("--no-instant", action="store_true",
                     help="do not start the instant feedback service (it starts when nbgrader_config.py turns "
                          "instant feedback on for an assignment)")
    hub.add_argument("--state-dir", help="where the hub keeps its database and secrets (default: <course>/.hub)")
    hub.set_defaults(handler=_hub)

    serve = commands.add_parser("serve", help="instant feedback: grade each submission as it arrives and answer it "
                                              "through the exchange (docs/instant_feedback.md)")
    serve.add_argument("--status", action="store_true", help="print the running service's status and exit")
    serve.add_argument("--state-dir", help="where the service keeps its state (default: <course>/.instant-feedback)")
    serve.add_argument("--exchange-url", help="the exchange service's URL (default: $AUTOGRADER_EXCHANGE_URL)")
    serve.add_argument("--poll", type=float, default=0.5,
                       help="seconds between looks at the exchange (default: 0.5)")
    serve.add_argument("--workers", type=int, default=max(1, os.cpu_count() or 1),
                       help="submissions graded at once by the warm pool (default: CPU count)")
    serve.add_argument("--queue-bound", type=int, default=1000, help="most submissions waiting (default: 1000)")
    serve.add_argument("--assignment", action="append", help="serve only this assignment (repeatable)")
    serve.add_argument("--restart", action="store_true",
                       help="run the service as a child process and start it again whenever it dies (the hub's way)")
    serve.set_defaults(handler=_serve)
    return parser


def _skip_format_grammar() -> None:
    """Spare the grader the 0.7 s in which ``rfc3987_syntax`` builds its grammar when jsonschema imports it.

    jsonschema imports it only to register the "iri" format checks. Formats are checked only when a
    FormatChecker is passed, and nothing ``autograder autograde`` runs passes one (nbformat, nbgrader,
    nbconvert and nbclient validate without); nor does any of their schemas use those formats. So no
    validation result changes: jsonschema already does without the module when it is not installed.
    The course's install pins jsonschema below 4.24, which never imports it (pyproject.toml); this keeps an
    environment with a newer jsonschema as fast.
    """
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # its import raises ImportError, which jsonschema expects


def _exit_now(code: int) -> None:
    """End ``autograder autograde`` or ``autograder serve`` without the interpreter's teardown of torch,
    nbgrader and the judge (1-2 s; a hub stopping its instant feedback service waits for it): by now every
    grade is committed, every file written and closed (the service writes its state when it stops), the
    zygote stopped and the workers told to stop (they also die with us); only the output buffers remain."""
    import logging

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    from .tool_path import ensure_console_scripts_on_path

    ensure_console_scripts_on_path()
    args = build_parser().parse_args(argv)
    try:
        code = args.handler(args)
        if argv is None and args.handler in (_autograde, _serve):
            _exit_now(code)
        return code
    except CourseError as exc:
        print(f"autograder: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("autograder: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
