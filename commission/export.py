"""The commission's NIST SP 1500-100 v2 export: every counted protocol in the
database as one precinct-level results report (election/nist.py), `Status`
unofficial-complete when every precinct of the definition counts, else
unofficial-partial."""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import select

from sailau.election.nist import nist_results_report
from sailau.election.protocol import SignedProtocol

from . import models
from .db import CommissionDB


def counted_protocols(db: CommissionDB) -> list[SignedProtocol]:
    """The signed protocol that counts for each precinct, parsed from its stored bytes."""
    V, P = models.protocol_versions, models.protocols
    q = select(V.c.signed).join(P, (P.c.precinct == V.c.precinct) & (P.c.digest == V.c.digest)).order_by(V.c.precinct)
    with db.begin() as conn:
        return [SignedProtocol.from_canonical_json(bytes(raw)) for (raw,) in conn.execute(q)]


def commission_nist_report(db: CommissionDB, issuer: str, issuer_abbreviation: str,
                           generated: datetime.datetime | None = None) -> dict[str, Any]:
    election, _ = db.bound_election()
    protocols = [s.protocol for s in counted_protocols(db)]
    status = "unofficial-complete" if len(protocols) == len(election.precincts) else "unofficial-partial"
    return nist_results_report(protocols, election, issuer=issuer, issuer_abbreviation=issuer_abbreviation,
                               generated=generated, status=status)
