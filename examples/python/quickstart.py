"""The README's Python example: link a pair, apply a change, commit, read the audit.

    .venv/bin/python examples/python/quickstart.py
"""

from __future__ import annotations

from typing import Any

import cosell

referral: dict[str, Any] = {
    "id": "6513270e-269e-4d37-b2a7-4de452e6b438",
    "name": "Contoso - analytics migration",
    "status": "Active",
    "substatus": "Accepted",
    "details": {"dealValue": 48000, "currency": "USD", "notes": "landing zone"},
    "eTag": '"1"',
}
opportunity: dict[str, Any] = {
    "attributes": {"type": "Opportunity"},
    "Id": "006Hs00001AbCdEIAV",
    "Name": "Contoso - analytics migration",
    "Amount": 48000.0,
    "CurrencyIsoCode": "USD",
    "Description": "landing zone",
    "StageName": "Qualification",
    "Sync_with_Partner_Center__c": True,
    "Referral_Identifier__c": "6513270e-269e-4d37-b2a7-4de452e6b438",
    "LastModifiedDate": "2026-11-01T09:00:00.000+0000",
}


def main() -> None:
    mapping = cosell.Mapping.builtin("salesforce")
    with cosell.Engine(":memory:", mapping) as engine:
        # First sync: both sides agree, so the base is recorded and nothing is written.
        engine.commit(engine.plan(referral, opportunity))

        # The deal grows in Partner Center: the plan updates the CRM.
        referral["details"]["dealValue"] = 52000
        referral["eTag"] = '"2"'
        plan = engine.plan(referral, opportunity)
        print(plan)  # the readable dry-run
        assert plan.crm_patch is not None

        # The host writes plan.crm_patch["fields"] to Salesforce, then reports the record's new version.
        opportunity.update(plan.crm_patch["fields"])
        opportunity["LastModifiedDate"] = "2026-11-02T10:00:00.000+0000"
        report = engine.commit(plan, crm_version=opportunity["LastModifiedDate"])
        print(report)

        # Echo suppression: with both sides as they now are, there is nothing to do.
        assert engine.plan(referral, opportunity).is_empty

        for entry in engine.store.audit(referral_id=referral["id"]):
            for change in entry["changes"]:
                print(entry["action"], change["field"], change["before"], "->", change["after"])


if __name__ == "__main__":
    main()
