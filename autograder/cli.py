"""Command line: ``autograder <command>`` (also ``python -m autograder``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .course import CourseError


def _demo(args) -> int:
    from .demo.run import run

    return run(Path(args.dir), grader=args.grader, assignments=args.assignment or None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the full instructor cycle on a sample cohort")
    demo.add_argument("--dir", default="build/demo", help="throwaway course directory (default: build/demo)")
    demo.add_argument("--grader", choices=("autograder", "nbgrader"), default="nbgrader",
                      help="grade with `autograder autograde` (fast) or plain `nbgrader autograde`")
    demo.add_argument("--assignment", action="append", help="only these assignments (repeatable)")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except CourseError as exc:
        print(f"autograder: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("autograder: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
