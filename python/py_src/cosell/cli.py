"""The ``cosell`` command line: dry-run a pair, show and validate mappings, read the audit, work the review queue.

Usage (``cosell COMMAND --help`` for each command's options)::

    cosell plan REFERRAL.json CRM.json --mapping salesforce [--db state.db] [--json]
    cosell mapping show NAME_OR_FILE
    cosell mapping validate FILE
    cosell audit --db state.db [--referral ID] [--since T] [--until T] [--limit N] [--csv | --json]
    cosell conflicts list --db state.db [--status open] [--referral ID] [--json]
    cosell conflicts resolve ID --db state.db (--partner-center | --crm | --value JSON) [--note TEXT]
    cosell conflicts dismiss ID --db state.db [--note TEXT]

A mapping (``--mapping``) is a built-in profile name (``salesforce``, ``dynamics365``) or the path of a mapping file
(``.json`` or ``.toml``). The audit and the review queue do not depend on the mapping, so ``audit`` and
``conflicts`` take ``--mapping`` only to open the store and default it to ``salesforce``.

Errors are reported as one line on stderr, ``cosell: error: <message>``: the exit status is 2 for usage errors
(as argparse reports them) and 1 for everything else (a missing file, invalid JSON, a record or mapping that cannot
be read, a store that cannot be opened). An interrupt (Ctrl-C) exits with 130.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import IO, Any, Literal, NoReturn

from ._native import SCHEMA_VERSION, Mapping, __version__
from .engine import AUDIT_COLUMNS, Engine
from .errors import CosellError

__all__ = ["main"]

PROG = "cosell"

MEMORY = ":memory:"
"""The ``--db`` value of a private, empty, in-memory store."""

STDIN = "-"
"""The record argument that reads the record from standard input."""

ABSENT = "none"
"""The record argument for a record that does not exist (not created yet, or deleted)."""

TABLE_VALUE_WIDTH = 60
"""Values longer than this are shortened in the readable tables (never in ``--csv`` or ``--json``)."""


class CliError(Exception):
    """An error to report as one line and exit status 1."""


# --- helpers ---------------------------------------------------------------------------------------------------------


def _write(out: IO[str], text: str) -> None:
    """Writes ``text`` to ``out``, ending it with exactly one newline."""
    out.write(text if text.endswith("\n") else text + "\n")


def _dumps(value: Any, *, pretty: bool = False) -> str:
    """JSON text of ``value``: compact on one line, or indented when ``pretty``."""
    if pretty:
        return json.dumps(value, indent=2, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _shorten(text: str, width: int = TABLE_VALUE_WIDTH) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    text = text.replace("\r", " ").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain text table: the columns padded to their widest cell, the last one left ragged."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = []
    for row in [header, *rows]:
        cells = [str(cell).ljust(w) for cell, w in zip(row[:-1], widths[:-1])]
        lines.append("  ".join([*cells, str(row[-1])]).rstrip())
    return "\n".join(lines)


def _resolve_mapping(name: str) -> Mapping:
    """The mapping named by ``--mapping``: a built-in profile name, or the path of a ``.json``/``.toml`` file."""
    if name in Mapping.builtin_names():
        return Mapping.builtin(name)
    if os.path.exists(name) or name.lower().endswith((".json", ".toml")):
        return Mapping.from_file(name)
    builtins = ", ".join(Mapping.builtin_names())
    raise CliError(f"mapping {name!r}: not a built-in profile ({builtins}) and no such file")


def _open_engine(db: str, mapping: Mapping | str, *, must_exist: bool = True) -> Engine:
    """Opens the store ``db`` with ``mapping``; a store file that does not exist is an error (rather than being
    created empty) unless ``must_exist`` is false. ``:memory:`` is always a fresh, empty store."""
    if must_exist and db != MEMORY and not os.path.exists(db):
        raise CliError(f"store {db}: no such file")
    if isinstance(mapping, str):
        mapping = _resolve_mapping(mapping)
    return Engine(db, mapping)


def _read_record(arg: str, what: str) -> str | None:
    """The JSON text of a record argument: a file path, ``-`` (standard input) or ``none`` (no record). The text is
    checked to be JSON here, so that the error names the file; the engine reads it as given (exact numbers)."""
    if arg == ABSENT:
        return None
    if arg == STDIN:
        source = "<stdin>"
        text = sys.stdin.read()
    else:
        source = arg
        try:
            with open(arg, encoding="utf-8-sig") as f:
                text = f.read()
        except OSError as e:
            raise CliError(f"{what} {arg}: {e.strerror or e}") from e
        except UnicodeDecodeError as e:
            raise CliError(f"{what} {arg}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        raise CliError(f"{what} {source}: not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    return text


# --- plan ------------------------------------------------------------------------------------------------------------


def cmd_plan(args: argparse.Namespace) -> int:
    """``cosell plan``: prints the dry-run of one pair."""
    if args.referral == STDIN and args.crm_record == STDIN:
        raise _UsageError(args.parser, "only one of REFERRAL and CRM can be read from standard input (-)")
    referral = _read_record(args.referral, "referral")
    crm_record = _read_record(args.crm_record, "CRM record")
    mapping = _resolve_mapping(args.mapping)
    with _open_engine(args.db, mapping) as engine:
        plan = engine.plan(referral, crm_record)
    if args.json:
        _write(sys.stdout, _dumps(json.loads(plan.to_json()), pretty=True))
    else:
        _write(sys.stdout, str(plan))
    return 0


# --- mapping ---------------------------------------------------------------------------------------------------------


def cmd_mapping_show(args: argparse.Namespace) -> int:
    """``cosell mapping show``: prints the resolved mapping as JSON."""
    mapping = _resolve_mapping(args.mapping)
    _write(sys.stdout, _dumps(mapping.to_dict(), pretty=True))
    return 0


def cmd_mapping_validate(args: argparse.Namespace) -> int:
    """``cosell mapping validate``: checks a mapping file and prints one line about it."""
    path: str = args.file
    if not os.path.exists(path) and path in Mapping.builtin_names():
        builtin = Mapping.builtin(path)
        fields = len(builtin.field_names("opportunity"))
        _write(sys.stdout, f"{path}: valid built-in mapping for {builtin.crm}, {fields} fields")
        return 0
    try:
        mapping = Mapping.from_file(path)
    except CosellError as e:
        message = str(e)
        raise CliError(message if path in message else f"{path}: {message}") from e
    fields = len(mapping.field_names("opportunity"))
    _write(sys.stdout, f"{path}: valid mapping for {mapping.crm}, {fields} field{'s' if fields != 1 else ''}")
    return 0


# --- audit -----------------------------------------------------------------------------------------------------------


def _json_cell(value: Any) -> str:
    """A before/after value as JSON text, as in the store's ``audit_log`` view."""
    return json.dumps(value, ensure_ascii=False)


def _audit_rows(entries: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """One row per field change (a decision without changes is one row with empty field, before and after), in the
    order of ``AUDIT_COLUMNS``."""
    rows: list[list[Any]] = []
    for entry in entries:
        head = [entry[k] for k in ("id", "at", "link_id", "referral_id", "crm_entity", "crm_id", "direction")]
        head += [entry[k] for k in ("action", "outcome", "reason")]
        tail = [entry["error_kind"], entry["error_message"], entry["cause"], bool(entry["dry_run"]), entry["plan_id"]]
        changes = entry.get("changes") or []
        if not changes:
            rows.append([*head, None, None, None, *tail])
        for change in changes:
            rows.append([*head, change["field"], _json_cell(change["before"]), _json_cell(change["after"]), *tail])
    return rows


def _csv_cell(value: Any) -> str:
    """A CSV cell: empty for a missing value, ``true``/``false`` for a bool, the text of anything else."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _audit_table(entries: Sequence[dict[str, Any]]) -> str:
    """The readable audit: one line per field change."""
    rows: list[list[str]] = []
    for entry in entries:
        outcome = str(entry["outcome"]) + (" (dry run)" if entry["dry_run"] else "")
        head = [str(entry["id"]), str(entry["at"]), str(entry["action"]), outcome, str(entry["referral_id"] or "-")]
        changes = entry.get("changes") or []
        if entry.get("error_kind") or entry.get("error_message"):
            note = f"error {entry.get('error_kind') or ''}: {entry.get('error_message') or ''}"
        else:
            note = str(entry.get("reason") or "")
        if not changes:
            rows.append([*head, "-", _shorten(note, 2 * TABLE_VALUE_WIDTH)])
        for change in changes:
            before = _shorten(_json_cell(change["before"]))
            after = _shorten(_json_cell(change["after"]))
            rows.append([*head, str(change["field"]), f"{before} → {after}"])
    header = ["ID", "AT", "ACTION", "OUTCOME", "REFERRAL", "FIELD", "BEFORE → AFTER"]
    return _table(header, rows)


def cmd_audit(args: argparse.Namespace) -> int:
    """``cosell audit``: prints the audit trail as a table, CSV or JSON."""
    with _open_engine(args.db, args.mapping) as engine:
        entries = engine.store.audit(referral_id=args.referral, since=args.since, until=args.until, limit=args.limit)
    if args.json:
        _write(sys.stdout, _dumps(entries, pretty=True))
    elif args.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(AUDIT_COLUMNS)
        for row in _audit_rows(entries):
            writer.writerow([_csv_cell(v) for v in row])
    elif entries:
        _write(sys.stdout, _audit_table(entries))
    else:
        _write(sys.stdout, "no audit entries")
    return 0


# --- conflicts -------------------------------------------------------------------------------------------------------


def _review_table(reviews: Sequence[dict[str, Any]]) -> str:
    """The readable review queue: one line per review."""
    rows = []
    for r in reviews:
        resolution = "-" if r["status"] in ("open", "dismissed") else _shorten(_json_cell(r.get("resolution")))
        values = [_shorten(_json_cell(r.get(k)), TABLE_VALUE_WIDTH // 2) for k in ("base", "partner_center", "crm")]
        head = [str(r["id"]), str(r["status"]), str(r["referral_id"]), str(r["field"])]
        rows.append([*head, *values, str(r["created_at"]), resolution])
    header = ["ID", "STATUS", "REFERRAL", "FIELD", "BASE", "PARTNER CENTER", "CRM", "CREATED", "RESOLUTION"]
    return _table(header, rows)


def cmd_conflicts_list(args: argparse.Namespace) -> int:
    """``cosell conflicts list``: prints the review queue."""
    status = None if args.status == "all" else args.status
    with _open_engine(args.db, args.mapping) as engine:
        reviews = engine.store.reviews(status, args.referral)
    if args.json:
        _write(sys.stdout, _dumps(reviews, pretty=True))
    elif reviews:
        _write(sys.stdout, _review_table(reviews))
    else:
        which = "" if status is None else f"{status} "
        _write(sys.stdout, f"no {which}conflicts")
    return 0


def _json_value(text: str) -> Any:
    """Parses ``--value`` (argparse type): JSON text such as ``1500``, ``"Contoso"`` or ``null``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(
            f"not valid JSON ({e.msg}): {text!r}; quote text as JSON, e.g. --value '\"Contoso\"'"
        ) from e


def cmd_conflicts_resolve(args: argparse.Namespace) -> int:
    """``cosell conflicts resolve``: resolves a review by choosing a side or a value."""
    choice: Literal["partner_center", "crm"] | dict[str, Any]
    if args.partner_center:
        choice = "partner_center"
    elif args.crm:
        choice = "crm"
    else:
        choice = {"value": args.value}
    with _open_engine(args.db, args.mapping) as engine:
        review = engine.resolve_review(args.id, choice, args.note)
    source = {"partner_center": "Partner Center's value", "crm": "the CRM's value"}.get(
        choice if isinstance(choice, str) else "", "the given value"
    )
    _write(
        sys.stdout,
        f"review {review['id']} resolved: {review['field']} of referral {review['referral_id']} = "
        f"{_json_cell(review.get('resolution'))} ({source}); the next plan of the pair writes it",
    )
    return 0


def cmd_conflicts_dismiss(args: argparse.Namespace) -> int:
    """``cosell conflicts dismiss``: dismisses a review; the field stays as it is on both sides."""
    with _open_engine(args.db, args.mapping) as engine:
        review = engine.dismiss_review(args.id, args.note)
    _write(
        sys.stdout,
        f"review {review['id']} dismissed: {review['field']} of referral {review['referral_id']} "
        "stays as it is on both sides",
    )
    return 0


# --- the parser ------------------------------------------------------------------------------------------------------


class _UsageError(Exception):
    """A usage error found after parsing: reported by the parser (usage line, exit status 2)."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


def _positive_int(text: str) -> int:
    """Parses a positive integer (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


_MAPPING_HELP = "a built-in profile (salesforce, dynamics365) or a mapping file (.json or .toml)"
_STORE_MAPPING_HELP = (
    "the mapping to open the store with: a built-in profile or a mapping file (default: salesforce). The audit and "
    "the review queue do not depend on it"
)
_FORMATTER = argparse.RawDescriptionHelpFormatter


def _add_store_args(parser: argparse.ArgumentParser) -> None:
    """``--db`` (required, an existing store) and ``--mapping`` (default salesforce) of the store commands."""
    parser.add_argument("--db", required=True, metavar="PATH", help="the state store (an existing SQLite file)")
    parser.add_argument("--mapping", default="salesforce", metavar="NAME_OR_FILE", help=_STORE_MAPPING_HELP)


def _paragraphs(text: str, width: int = 79) -> str:
    """``text`` with each paragraph (separated by blank lines) filled to ``width`` columns, for a description."""
    return "\n\n".join(textwrap.fill(p, width) for p in text.split("\n\n"))


def _subparser(
    subparsers: Any, name: str, handler: Callable[[argparse.Namespace], int], help: str, description: str
) -> argparse.ArgumentParser:
    """Adds a subcommand whose handler is ``handler``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help, description=_paragraphs(description), formatter_class=_FORMATTER
    )
    parser.set_defaults(handler=handler, parser=parser)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``cosell`` command."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=_paragraphs(
            "Two-way sync of Microsoft Partner Center co-sell referrals with Salesforce and Dynamics 365: dry-run a "
            "pair, inspect mappings, read the audit trail and work the conflict review queue."
        ),
        epilog="Run 'cosell COMMAND --help' for the options of a command.",
        formatter_class=_FORMATTER,
    )
    parser.add_argument(
        "--version", action="version", version=f"{PROG} {__version__} (store schema {SCHEMA_VERSION})"
    )
    parser.set_defaults(handler=None, parser=parser)
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")

    # plan
    plan = _subparser(
        commands,
        "plan",
        cmd_plan,
        help="dry-run one referral/CRM record pair (nothing is written)",
        description="Plans one pair and prints the dry-run: what would be written to each side and why. Nothing is "
        "written, not even to --db.\n\nEach record is a JSON file as the service returns it, '-' to read it from "
        "standard input (one of the two at most), or 'none' when the record does not exist (write './none' for a "
        "file named none).",
    )
    plan.add_argument("referral", metavar="REFERRAL", help="the Partner Center referral (JSON file, '-' or 'none')")
    plan.add_argument("crm_record", metavar="CRM", help="the CRM opportunity or lead (JSON file, '-' or 'none')")
    plan.add_argument("--mapping", required=True, metavar="NAME_OR_FILE", help=_MAPPING_HELP)
    plan.add_argument(
        "--db",
        default=MEMORY,
        metavar="PATH",
        help="an existing state store to plan against the pair's stored base (default: :memory:, no base)",
    )
    plan.add_argument("--json", action="store_true", help="print the plan as JSON instead of the readable dry-run")

    # mapping
    mapping = _subparser(
        commands,
        "mapping",
        _missing_subcommand,
        help="show or validate a mapping",
        description="Shows a resolved mapping or validates a mapping file.",
    )
    mapping_commands = mapping.add_subparsers(title="commands", dest="mapping_command", metavar="COMMAND")
    show = _subparser(
        mapping_commands,
        "show",
        cmd_mapping_show,
        help="print a resolved mapping as JSON",
        description="Prints the resolved mapping (a built-in profile, or a file with its overrides applied) as JSON.",
    )
    show.add_argument("mapping", metavar="NAME_OR_FILE", help=_MAPPING_HELP)
    validate = _subparser(
        mapping_commands,
        "validate",
        cmd_mapping_validate,
        help="check a mapping file",
        description="Checks a mapping file (.json or .toml) and prints one line: the CRM and the number of fields "
        "when it is valid, the error otherwise (exit status 1). A built-in profile name checks that profile.",
    )
    validate.add_argument("file", metavar="FILE", help="the mapping file (.json or .toml)")

    # audit
    audit = _subparser(
        commands,
        "audit",
        cmd_audit,
        help="print the audit trail of a store",
        description="Prints the audit trail, oldest first: by default a table with one line per field change (audit "
        "id, time, action, outcome, referral, field, before → after; long values shortened); --csv writes every "
        "column of the store's audit_log view, one row per field change.\n\nTimes are RFC 3339 UTC "
        "(2026-11-01T00:00:00Z) or dates (2026-11-01, midnight UTC).",
    )
    _add_store_args(audit)
    audit.add_argument("--referral", metavar="ID", help="only this referral")
    audit.add_argument("--since", metavar="TIME", help="only entries at or after TIME")
    audit.add_argument("--until", metavar="TIME", help="only entries before TIME")
    audit.add_argument("--limit", type=_positive_int, metavar="N", help="at most N decisions (not rows)")
    audit_format = audit.add_mutually_exclusive_group()
    audit_format.add_argument(
        "--csv", action="store_true", help="write CSV (the columns of cosell.engine.AUDIT_COLUMNS)"
    )
    audit_format.add_argument("--json", action="store_true", help="write the entries as JSON")

    # conflicts
    conflicts = _subparser(
        commands,
        "conflicts",
        _missing_subcommand,
        help="list, resolve or dismiss conflicts held for review",
        description="Works the review queue: the conflicts of fields whose policy is 'review'.",
    )
    conflict_commands = conflicts.add_subparsers(title="commands", dest="conflicts_command", metavar="COMMAND")
    listing = _subparser(
        conflict_commands,
        "list",
        cmd_conflicts_list,
        help="list the review queue",
        description="Lists the reviews: id, status, referral, field, the base and both sides' values, and the "
        "resolution.",
    )
    _add_store_args(listing)
    listing.add_argument(
        "--status",
        default="open",
        choices=["open", "resolved", "dismissed", "applied", "all"],
        help="only reviews in this status (default: open; 'all' for every status)",
    )
    listing.add_argument("--referral", metavar="ID", help="only this referral")
    listing.add_argument("--json", action="store_true", help="print the reviews as JSON")

    resolve = _subparser(
        conflict_commands,
        "resolve",
        cmd_conflicts_resolve,
        help="resolve an open review by choosing a side or a value",
        description="Resolves an open review: the next plan of the pair writes the chosen value to both sides. "
        "Audited.",
    )
    resolve.add_argument("id", type=_positive_int, metavar="ID", help="the review id (see 'conflicts list')")
    _add_store_args(resolve)
    choice = resolve.add_mutually_exclusive_group(required=True)
    choice.add_argument("--partner-center", action="store_true", help="take Partner Center's value")
    choice.add_argument("--crm", action="store_true", help="take the CRM's value")
    choice.add_argument(
        "--value", type=_json_value, metavar="JSON", help="take this value, as JSON (1500, '\"Contoso\"', null)"
    )
    resolve.add_argument("--note", metavar="TEXT", help="a note for the audit")

    dismiss = _subparser(
        conflict_commands,
        "dismiss",
        cmd_conflicts_dismiss,
        help="dismiss an open review",
        description="Dismisses an open review: the field stays as it is on both sides. Audited.",
    )
    dismiss.add_argument("id", type=_positive_int, metavar="ID", help="the review id (see 'conflicts list')")
    _add_store_args(dismiss)
    dismiss.add_argument("--note", metavar="TEXT", help="a note for the audit")
    return parser


def _missing_subcommand(args: argparse.Namespace) -> NoReturn:
    """The handler of a command group run without its subcommand: a usage error."""
    raise _UsageError(args.parser, "a command is required")


# --- main ------------------------------------------------------------------------------------------------------------


def _error(message: str) -> int:
    """Reports ``message`` as one line on stderr; returns exit status 1."""
    message = " ".join(str(message).split()) or "unknown error"
    sys.stderr.write(f"{PROG}: error: {message}\n")
    return 1


def _run(argv: Sequence[str] | None) -> int:
    """Parses ``argv`` and runs the command; returns the exit status. Usage errors exit (status 2) in argparse."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.handler is None:
        parser.print_help(sys.stderr)
        return 2
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except _UsageError as e:
        e.parser.error(str(e))  # exits with status 2
    except CliError as e:
        return _error(str(e))
    except CosellError as e:
        return _error(str(e))
    except json.JSONDecodeError as e:
        return _error(f"not valid JSON: {e}")
    except (ValueError, LookupError) as e:
        return _error(str(e))
    except BrokenPipeError:
        raise
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        return _error(f"{where}{e.strerror or e}")


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``cosell`` command with ``argv`` (default: the process's arguments); returns the exit status."""
    try:
        return _run(argv)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``cosell audit | head``): stop quietly, and keep Python from complaining when it
        # flushes stdout at exit.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1


if __name__ == "__main__":
    sys.exit(main())
