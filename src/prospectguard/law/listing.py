"""The law in force on a date, as rows for people and programs (`prospectguard rules`, `GET /v1/rules`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from prospectguard.law import LAW


def rules_in_force(day: date) -> list[dict[str, Any]]:
    law_at = LAW.at(day)
    rows = []
    for rule in sorted(LAW.rules.values(), key=lambda r: (r.id[0], len(r.id), r.id)):
        params = {name: law_at.value(rule.id, name) for name in rule.parameters}
        references = {name: p.reference_at(day) for name, p in rule.parameters.items()}
        in_force = any(v not in (None, False) for v in params.values())
        rows.append(
            {
                "rule": rule.id,
                "title": rule.title,
                "kind": rule.kind,
                "reference": rule.reference,
                "confidence": rule.confidence,
                "in_force": in_force,
                "values": params,
                "value_references": references,
            }
        )
    return rows
