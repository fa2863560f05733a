"""``wsgateway-report``: merge the JSON reports of several runs, or diff two.

    wsgateway-report merge eu.json us.json -o all.html      # one matrix: targets x cases, per vantage
    wsgateway-report merge a.json b.json --label eu --label us -o all.json
    wsgateway-report diff last-main.json this-run.json      # exit 1 when something regressed

The work is :mod:`pytest_wsgateway.reportmerge`; this module reads the arguments and files and
writes the output. Exit status: ``0`` done (``diff``: no new failure), ``1`` ``diff`` found a new
failure, ``4`` bad input (a missing file, not a report, an unsupported schema version, a bad
label or output name): one ``wsgateway-report: error: ...`` line on stderr, never a traceback.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import argparse
import os
import sys

USAGE_ERROR = 4
FORMATS = (".json", ".md", ".html")


class _Usage(Exception):
    """A bad argument (one line)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own exit status is 2; a usage error here is 4
        raise _Usage(message)


def parser() -> argparse.ArgumentParser:
    main = _Parser(prog="wsgateway-report", description="Merge pytest-wsgateway JSON reports (--gateway-report "
                   "PATH.json) of several runs into one matrix, or list what changed between two runs.")
    commands = main.add_subparsers(dest="command", metavar="{merge,diff}", parser_class=_Parser)
    merge = commands.add_parser("merge", help="join the reports of several runs: targets x cases, per vantage")
    merge.add_argument("reports", nargs="+", metavar="REPORT.json")
    merge.add_argument("-o", "--output", required=True, metavar="OUT",
                       help="the merged report; the format follows the extension: .html, .md or .json")
    merge.add_argument("--label", action="append", default=[], metavar="NAME",
                       help="the vantage name of each report, in order (default: the report's --gateway-vantage, "
                            "else its host name, else its file name)")
    diff = commands.add_parser("diff", help="what changed from OLD to NEW: new failures first; exit 1 if any")
    diff.add_argument("old", metavar="OLD.json")
    diff.add_argument("new", metavar="NEW.json")
    diff.add_argument("--limit", type=int, default=50, metavar="N", help="show at most N lines per section (default 50)")
    return main


def run(argv: list[str]) -> tuple[int, str]:
    """(exit status, text for stdout); raises :class:`_Usage` or ReportError for bad input."""
    from . import __version__
    from .reportmerge import diff, label_runs, merge, read_report, render, render_diff

    args = parser().parse_args(argv)
    if args.command is None:
        raise _Usage("a command is required: merge or diff (see --help)")
    if args.command == "merge":
        extension = os.path.splitext(args.output)[1].lower()
        if extension not in FORMATS:
            raise _Usage(f"-o {args.output}: unknown format {extension or '(no extension)'!r}; "
                         f"use a .html, .md or .json file name")
        if os.path.isdir(args.output):
            raise _Usage(f"-o {args.output}: is a directory")
        runs = label_runs([(path, read_report(path)) for path in args.reports], args.label)
        text = render(merge(runs, version=__version__), extension)
        try:
            with open(args.output, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise _Usage(f"-o {args.output}: cannot write: {exc.strerror or exc}") from None
        return 0, (f"wsgateway-report: merged {len(runs)} run(s) ({', '.join(run.vantage for run in runs)}) "
                   f"into {args.output}\n")
    if args.limit < 1:
        raise _Usage(f"--limit {args.limit}: expected a number of lines, 1 or more")
    found = diff(read_report(args.old), read_report(args.new))
    return (1 if found.regressed else 0), render_diff(found, args.old, args.new, limit=args.limit)


def main(argv: list[str] | None = None) -> int:
    from .reportmerge import ReportError

    try:
        status, text = run(sys.argv[1:] if argv is None else argv)
    except (_Usage, ReportError) as exc:
        message = " ".join(str(exc).split())
        sys.stderr.write(f"wsgateway-report: error: {message[:500]}\n")
        return USAGE_ERROR
    sys.stdout.write(text)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
