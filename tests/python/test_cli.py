"""The ``cosell`` command line, run as a subprocess (``python -m cosell``): plan, mapping, audit, conflicts, help,
and the one-line errors (never a traceback)."""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import cosell
from cosell.engine import AUDIT_COLUMNS

# --- records -----------------------------------------------------------------------------------------------------

REFERRAL: dict[str, Any] = {
    "id": "r-1",
    "name": "Contoso",
    "status": "Active",
    "substatus": "Accepted",
    "details": {"dealValue": 1000, "currency": "USD", "notes": "hi"},
    "eTag": '"1"',
}

OPPORTUNITY: dict[str, Any] = {
    "attributes": {"type": "Opportunity"},
    "Id": "006A",
    "Name": "Contoso",
    "Amount": 1000.0,
    "CurrencyIsoCode": "USD",
    "Description": "hi",
    "StageName": "Qualification",
    "Sync_with_Partner_Center__c": True,
    "Referral_Identifier__c": "r-1",
    "LastModifiedDate": "2026-11-01T00:00:00.000+0000",
}

D365_REFERRAL: dict[str, Any] = {
    "id": "r-2",
    "name": "Fabrikam",
    "status": "Active",
    "substatus": "Accepted",
    "details": {"dealValue": 5000, "currency": "EUR", "notes": "n"},
    "eTag": '"1"',
}

D365_OPPORTUNITY: dict[str, Any] = {
    "@odata.etag": 'W/"100"',
    "opportunityid": "7f6e5d4c-1234-4321-abcd-00000000d365",
    "name": "Fabrikam",
    "estimatedvalue": 5000.0,
    "transactioncurrencyid": {"isocurrencycode": "EUR"},
    "description": "n",
    "statecode": 0,
    "statuscode": 1,
    "cosell_syncwithpartnercenter": True,
    "cosell_referralidentifier": "r-2",
    "versionnumber": 100,
    "modifiedon": "2026-11-01T00:00:00Z",
}

REVIEW_MAPPING: dict[str, Any] = {"extends": "salesforce", "fields": {"deal_value": {"conflict": "review"}}}
"""The Salesforce profile with deal-value conflicts held for review."""


# --- helpers -----------------------------------------------------------------------------------------------------


def run(
    *args: str | os.PathLike[str], stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs ``python -m cosell ARGS``; asserts that it never prints a traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "cosell", *map(str, args)],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        timeout=60,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert "Traceback" not in result.stdout, result.stdout
    return result


def assert_one_line_error(result: subprocess.CompletedProcess[str], *, contains: str = "") -> None:
    """The command failed at run time (exit status 1) with one ``cosell: error:`` line on stderr."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cosell: error: "), lines[0]
    assert contains in lines[0], lines[0]


def write_json(path: Path, value: Any) -> Path:
    """Writes ``value`` as JSON to ``path``; returns the path."""
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    """The test records and the review mapping as files."""
    return {
        "referral": write_json(tmp_path / "referral.json", REFERRAL),
        "opportunity": write_json(tmp_path / "opportunity.json", OPPORTUNITY),
        "d365_referral": write_json(tmp_path / "d365_referral.json", D365_REFERRAL),
        "d365_opportunity": write_json(tmp_path / "d365_opportunity.json", D365_OPPORTUNITY),
        "review_mapping": write_json(tmp_path / "review.json", REVIEW_MAPPING),
    }


def edited(referral_value: int, crm_value: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The linked pair after both sides changed the deal value differently (and moved their versions)."""
    referral = copy.deepcopy(REFERRAL)
    referral["details"]["dealValue"] = referral_value
    referral["eTag"] = '"2"'
    opportunity = dict(OPPORTUNITY, Amount=crm_value, LastModifiedDate="2026-11-02T00:00:00.000+0000")
    return referral, opportunity


@pytest.fixture()
def store(tmp_path: Path, files: dict[str, Path]) -> Path:
    """A store with the Salesforce pair linked and one open review (deal value: PC 2000 vs CRM 3000)."""
    path = tmp_path / "state.db"
    mapping = cosell.Mapping.from_file(files["review_mapping"])
    with cosell.Engine(path, mapping) as engine:
        plan = engine.plan(REFERRAL, OPPORTUNITY)
        assert plan.summary == "link"
        engine.commit(plan)
        plan = engine.plan(*edited(2000, 3000.0))
        assert plan.conflicts, str(plan)
        engine.commit(plan)
        assert [r["status"] for r in engine.store.reviews()] == ["open"]
    return path


# --- version and help --------------------------------------------------------------------------------------------


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith(f"cosell {cosell.__version__}")


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["plan"],
        ["mapping"],
        ["mapping", "show"],
        ["mapping", "validate"],
        ["audit"],
        ["conflicts"],
        ["conflicts", "list"],
        ["conflicts", "resolve"],
        ["conflicts", "dismiss"],
    ],
    ids=lambda c: " ".join(c) or "cosell",
)
def test_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: cosell {' '.join(command)}".rstrip())
    assert result.stderr == ""


@pytest.mark.parametrize("command", [[], ["mapping"], ["conflicts"]])
def test_missing_command_is_a_usage_error(command: list[str]) -> None:
    result = run(*command)
    assert result.returncode == 2
    assert "usage: cosell" in result.stderr


# --- plan --------------------------------------------------------------------------------------------------------


def test_plan_salesforce(files: dict[str, Path]) -> None:
    result = run("plan", files["referral"], files["opportunity"], "--mapping", "salesforce")
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("plan ")
    assert "referral r-1" in first and "salesforce opportunity 006A" in first
    assert first.endswith(": link")


def test_plan_dynamics365(files: dict[str, Path]) -> None:
    result = run("plan", files["d365_referral"], files["d365_opportunity"], "--mapping", "dynamics365")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].endswith(": link")
    # The referral alone: the opportunity is to be created.
    result = run("plan", files["d365_referral"], "none", "--mapping", "dynamics365")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].endswith(": create_crm")
    assert "create CRM opportunity" in result.stdout


@pytest.mark.parametrize("crm, records", [("salesforce", "salesforce"), ("dynamics365", "dynamics")])
def test_plan_workload_records(crm: str, records: str, tmp_path: Path) -> None:
    # Full-size records of both sides from the project's workload generator; the v1 records agree.
    workload = Path(__file__).resolve().parents[2] / "bench" / "workload.py"
    subprocess.run([sys.executable, str(workload), "2", str(tmp_path)], check=True, capture_output=True, timeout=60)
    referral = tmp_path / "referral.json"
    referral.write_text((tmp_path / "referrals_v1.jsonl").read_text(encoding="utf-8").splitlines()[0], "utf-8")
    crm_line = (tmp_path / f"{records}_v1.jsonl").read_text(encoding="utf-8").splitlines()[0]
    result = run("plan", referral, "-", "--mapping", crm, stdin=crm_line)
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert f"{crm} opportunity" in first and first.endswith(": link")


def test_plan_json(files: dict[str, Path]) -> None:
    result = run("plan", files["referral"], files["opportunity"], "--mapping", "salesforce", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["summary"] == "link"
    assert plan["crm"] == "salesforce"
    assert plan["referral_id"] == "r-1" and plan["crm_id"] == "006A"
    assert result.stdout.startswith("{\n  ")  # pretty


def test_plan_reads_stdin(files: dict[str, Path]) -> None:
    result = run("plan", files["referral"], "-", "--mapping", "salesforce", stdin=json.dumps(OPPORTUNITY))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].endswith(": link")
    result = run("plan", "-", "-", "--mapping", "salesforce", stdin="{}")
    assert result.returncode == 2
    assert "standard input" in result.stderr


def test_plan_with_a_mapping_file_against_a_store(store: Path, files: dict[str, Path], tmp_path: Path) -> None:
    # After the review is resolved, planning the pair against the store writes the chosen value to both sides.
    assert run("conflicts", "resolve", "1", "--db", store, "--value", "1500").returncode == 0
    referral, opportunity = edited(2000, 3000.0)
    result = run(
        "plan",
        write_json(tmp_path / "r2.json", referral),
        write_json(tmp_path / "o2.json", opportunity),
        "--mapping",
        files["review_mapping"],
        "--db",
        store,
    )
    assert result.returncode == 0, result.stderr
    assert "1500" in result.stdout and "resolved by review" in result.stdout


# --- mapping -----------------------------------------------------------------------------------------------------


def test_mapping_show(files: dict[str, Path]) -> None:
    result = run("mapping", "show", "dynamics365")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["crm"] == "dynamics365"
    result = run("mapping", "show", files["review_mapping"])
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["crm"] == "salesforce"
    assert shown["fields"]["deal_value"]["conflict"] == "review"


def test_mapping_validate(files: dict[str, Path], tmp_path: Path) -> None:
    fields = len(cosell.Mapping.builtin("salesforce").field_names())
    result = run("mapping", "validate", files["review_mapping"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{files['review_mapping']}: valid mapping for salesforce, {fields} fields\n"
    toml = tmp_path / "custom.toml"
    toml.write_text('extends = "dynamics365"\n\n[fields.notes]\nconflict = "newest"\n', encoding="utf-8")
    result = run("mapping", "validate", toml)
    assert result.returncode == 0, result.stderr
    assert "valid mapping for dynamics365" in result.stdout


def test_mapping_validate_invalid(tmp_path: Path) -> None:
    bad = write_json(tmp_path / "bad.json", {"extends": "salesforce", "fields": {"notes": {"conflict": "bogus"}}})
    result = run("mapping", "validate", bad)
    assert_one_line_error(result, contains="bogus")
    assert result.stdout == ""
    no_crm = write_json(tmp_path / "no_crm.json", {})
    assert_one_line_error(run("mapping", "validate", no_crm), contains=str(no_crm))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    assert_one_line_error(run("mapping", "validate", broken), contains=str(broken))
    assert_one_line_error(run("mapping", "validate", tmp_path / "missing.json"))


def test_unknown_mapping(files: dict[str, Path]) -> None:
    result = run("plan", files["referral"], files["opportunity"], "--mapping", "hubspot")
    assert_one_line_error(result, contains="hubspot")
    assert_one_line_error(run("mapping", "show", "hubspot"), contains="salesforce, dynamics365")


# --- audit -------------------------------------------------------------------------------------------------------


def test_audit_table(store: Path) -> None:
    result = run("audit", "--db", store)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:6] == ["ID", "AT", "ACTION", "OUTCOME", "REFERRAL", "FIELD"]
    assert len(lines) == 3  # header, link (no field change), conflict (deal_value)
    assert lines[1].split()[2:6] == ["link", "applied", "r-1", "-"]
    assert lines[2].split()[2:6] == ["conflict", "queued", "r-1", "deal_value"]
    assert "→" in lines[2]
    assert run("audit", "--db", store, "--referral", "nobody").stdout == "no audit entries\n"


def test_audit_csv(store: Path) -> None:
    result = run("audit", "--db", store, "--csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == AUDIT_COLUMNS
    records = [dict(zip(AUDIT_COLUMNS, row)) for row in rows[1:]]
    assert [r["action"] for r in records] == ["link", "conflict"]
    assert records[0]["field"] == "" and records[0]["dry_run"] == "false"
    assert records[1]["field"] == "deal_value"
    assert json.loads(records[1]["before"]) == 1000
    assert records[1]["referral_id"] == "r-1" and records[1]["crm_id"] == "006A"
    # --limit counts decisions.
    limited = list(csv.reader(io.StringIO(run("audit", "--db", store, "--csv", "--limit", "1").stdout)))
    assert len(limited) == 2
    # A window with nothing in it still writes the header.
    empty = run("audit", "--db", store, "--csv", "--until", "2000-01-01")
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout.splitlines() == [",".join(AUDIT_COLUMNS)]


def test_audit_json_and_filters(store: Path) -> None:
    result = run("audit", "--db", store, "--json", "--referral", "r-1", "--since", "2000-01-01")
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    assert [e["action"] for e in entries] == ["link", "conflict"]
    assert_one_line_error(run("audit", "--db", store, "--since", "yesterday"), contains="yesterday")
    assert run("audit", "--db", store, "--limit", "0").returncode == 2
    assert run("audit", "--db", store, "--csv", "--json").returncode == 2


# --- conflicts ---------------------------------------------------------------------------------------------------


def test_conflicts_list(store: Path) -> None:
    result = run("conflicts", "list", "--db", store)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "STATUS", "REFERRAL", "FIELD"]
    assert lines[1].split()[:7] == ["1", "open", "r-1", "deal_value", "1000", "2000", "3000"]
    reviews = json.loads(run("conflicts", "list", "--db", store, "--json", "--referral", "r-1").stdout)
    assert [(r["id"], r["field"], r["partner_center"], r["crm"]) for r in reviews] == [(1, "deal_value", 2000, 3000)]
    assert run("conflicts", "list", "--db", store, "--status", "resolved").stdout == "no resolved conflicts\n"
    assert run("conflicts", "list", "--db", store, "--status", "bogus").returncode == 2


def test_conflicts_resolve(store: Path) -> None:
    result = run("conflicts", "resolve", "1", "--db", store, "--crm", "--note", "CRM is right")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("review 1 resolved: deal_value")
    reviews = json.loads(run("conflicts", "list", "--db", store, "--status", "all", "--json").stdout)
    assert reviews[0]["status"] == "resolved" and reviews[0]["note"] == "CRM is right"
    assert reviews[0]["resolution"] == 3000
    # Not open any more; no such review.
    assert_one_line_error(run("conflicts", "resolve", "1", "--db", store, "--partner-center"), contains="not open")
    assert_one_line_error(run("conflicts", "resolve", "9", "--db", store, "--crm"), contains="9")
    # The audit shows the resolution.
    assert "review_resolved" in run("audit", "--db", store).stdout


def test_conflicts_resolve_value(store: Path) -> None:
    # Not JSON, or no choice, or two choices: usage errors.
    assert run("conflicts", "resolve", "1", "--db", store, "--value", "abc").returncode == 2
    assert run("conflicts", "resolve", "1", "--db", store).returncode == 2
    assert run("conflicts", "resolve", "1", "--db", store, "--crm", "--partner-center").returncode == 2
    result = run("conflicts", "resolve", "1", "--db", store, "--value", "2500")
    assert result.returncode == 0, result.stderr
    assert "= 2500" in result.stdout
    reviews = json.loads(run("conflicts", "list", "--db", store, "--status", "resolved", "--json").stdout)
    assert reviews[0]["resolution"] == 2500


def test_conflicts_dismiss(store: Path) -> None:
    result = run("conflicts", "dismiss", "1", "--db", store, "--note", "leave it")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("review 1 dismissed")
    assert run("conflicts", "list", "--db", store).stdout == "no open conflicts\n"
    reviews = json.loads(run("conflicts", "list", "--db", store, "--status", "dismissed", "--json").stdout)
    assert reviews[0]["note"] == "leave it"
    assert_one_line_error(run("conflicts", "dismiss", "1", "--db", store), contains="not open")


# --- errors ------------------------------------------------------------------------------------------------------


def test_missing_record_file(files: dict[str, Path], tmp_path: Path) -> None:
    result = run("plan", tmp_path / "nope.json", files["opportunity"], "--mapping", "salesforce")
    assert_one_line_error(result, contains="nope.json")


def test_invalid_json_record(files: dict[str, Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"id": "r-1",', encoding="utf-8")
    result = run("plan", files["referral"], broken, "--mapping", "salesforce")
    assert_one_line_error(result, contains="broken.json")
    assert "not valid JSON" in result.stderr
    result = run("plan", "-", "none", "--mapping", "salesforce", stdin="[1, 2")
    assert_one_line_error(result, contains="<stdin>")


def test_record_with_a_bad_field(files: dict[str, Path], tmp_path: Path) -> None:
    bad = write_json(tmp_path / "bad.json", dict(REFERRAL, status="Bogus"))
    result = run("plan", bad, files["opportunity"], "--mapping", "salesforce")
    assert_one_line_error(result, contains="status")
    result = run("plan", write_json(tmp_path / "array.json", [1]), "none", "--mapping", "salesforce")
    assert_one_line_error(result)
    assert_one_line_error(run("plan", "none", "none", "--mapping", "salesforce"), contains="nothing to plan")


def test_not_a_store(files: dict[str, Path], tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_text("this is not a database\n" * 50, encoding="utf-8")
    assert_one_line_error(run("audit", "--db", junk), contains="not a cosell store")
    assert_one_line_error(run("conflicts", "list", "--db", junk), contains="not a cosell store")
    result = run("plan", files["referral"], files["opportunity"], "--mapping", "salesforce", "--db", junk)
    assert_one_line_error(result, contains="not a cosell store")


def test_missing_store_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    assert_one_line_error(run("audit", "--db", missing), contains="missing.db")
    assert_one_line_error(run("conflicts", "dismiss", "1", "--db", missing), contains="missing.db")
    assert not missing.exists()


def test_keyboard_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from cosell import cli

    class Interrupted(io.StringIO):
        def read(self, size: int | None = -1) -> str:
            raise KeyboardInterrupt

    monkeypatch.setattr(sys, "stdin", Interrupted())
    assert cli.main(["plan", "-", "none", "--mapping", "salesforce"]) == 130
    assert capsys.readouterr().err == ""
