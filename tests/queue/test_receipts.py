"""Receipt signatures (kiosk.queue.receipts): what the kiosk accepts before it deletes a dossier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kiosk import pki
from kiosk.queue import protocol as proto
from kiosk.queue.receipts import canonical, sign_receipt, verify_receipt

BODY = {"v": 1, "type": "receipt", "submission_id": "abc123", "terminal_id": "KIOSK-T1", "sha256": "0" * 64,
        "status": "stored", "received_at": "2026-11-25T10:00:00+07:00", "receiver": "receiver-1",
        "files": 3, "validation": "deferred"}


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    return pki.issue("Test CA", "ca")


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_signed_receipt_verifies_and_is_deterministic(ca: pki.Issued, kind: str) -> None:
    leaf = pki.issue("receiver-1", "tls_client", ca, key_kind=kind)  # type: ignore[arg-type]
    signed = sign_receipt(BODY, leaf.key, leaf.cert)
    assert proto.validate("receipt", signed) == signed  # the wire schema takes the signed form
    assert verify_receipt(signed, [ca.cert], own_id="KIOSK-T1") is None
    assert canonical(signed) == canonical(BODY)
    if kind == "ec":  # RFC 6979: a duplicate submission gets byte-identical receipts
        assert sign_receipt(BODY, leaf.key, leaf.cert) == signed


def test_refusals(ca: pki.Issued) -> None:
    leaf = pki.issue("receiver-1", "tls_client", ca)
    signed = sign_receipt(BODY, leaf.key, leaf.cert)
    assert verify_receipt(BODY, [ca.cert], own_id="KIOSK-T1") == "unsigned or unreadable signature"
    assert verify_receipt({**signed, "signature": "%%%"}, [ca.cert], own_id="KIOSK-T1") == \
        "unsigned or unreadable signature"
    assert verify_receipt(signed, [pki.issue("Other CA", "ca").cert], own_id="KIOSK-T1") == \
        "signer certificate not issued by a trusted CA"
    assert verify_receipt(signed, [], own_id="KIOSK-T1") == "signer certificate not issued by a trusted CA"
    later = datetime.now(UTC) + timedelta(days=900)  # past the 825-day certificate
    assert verify_receipt(signed, [ca.cert], own_id="KIOSK-T1", now=later) == \
        "signer certificate not valid now"
    for field, value in (("status", "rejected"), ("sha256", "1" * 64), ("submission_id", "abc124")):
        assert verify_receipt({**signed, field: value}, [ca.cert], own_id="KIOSK-T1") == \
            "signature does not match the receipt"
    # a terminal's own certificate (same CA) cannot vouch for its own receipt
    own = pki.issue("KIOSK-T1", "tls_client", ca)
    self_signed = sign_receipt({**BODY, "receiver": "KIOSK-T1"}, own.key, own.cert)
    assert verify_receipt(self_signed, [ca.cert], own_id="KIOSK-T1") == \
        "signer is not the receiver the receipt names"
