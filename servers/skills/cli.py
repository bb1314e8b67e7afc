"""`realtime-mcp skills validate PATH...`: check skills against the Agent Skills spec."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    skills: argparse.ArgumentParser = subparsers.add_parser("skills", help="Work with skill folders.")
    commands = skills.add_subparsers(dest="skills_command", metavar="COMMAND", required=True)
    validate = commands.add_parser(
        "validate",
        help="Check skills against the Agent Skills spec (exit 1 on errors).",
        description="Check skill folders, one-file skills (<name>.md) or folders of skills. Every problem "
        "is printed with its file and reason; warnings do not fail the check.",
    )
    validate.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    validate.add_argument("--quiet", "-q", action="store_true", help="Print only problems and the summary.")
    validate.set_defaults(func=run_validate)


def run_validate(args: argparse.Namespace) -> int:
    from servers.skills.validation import validate_paths

    reports = validate_paths(args.paths)
    errors = warnings = 0
    for report in reports:
        for problem in report.problems:
            if problem.severity == "error":
                errors += 1
            else:
                warnings += 1
            print(problem, file=sys.stdout)
        if report.ok and not args.quiet:
            print(f"{report.path}: ok")
    failed = sum(1 for report in reports if not report.ok)
    print(f"{len(reports)} skill(s) checked: {failed} with errors ({errors} errors, {warnings} warnings)")
    return 1 if failed else 0
