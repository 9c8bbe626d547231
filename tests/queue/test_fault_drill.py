"""The fault drill, shortened for CI (the full one is benchmarks/fault_outbox.py): real uplink and
receiver processes, SIGKILL at random moments, broker restarts; exactly the queued packages arrive,
verified, and the outbox ends empty."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.queue.faultrun import FaultPlan, run_fault_drill


@pytest.mark.slow
def test_fault_drill_short(tmp_path: Path) -> None:
    plan = FaultPlan(packages=8, min_mb=1.0, max_mb=3.0, kills=6, broker_restarts=2, seed=7, timeout_s=90)
    report = run_fault_drill(tmp_path, plan)
    assert report["kills"] == 6 and report["broker_restarts"] == 2
    assert report["stored"] == 8 and report["verified"] == 8 and report["stored_ids_match"]
    assert report["deep_validated_ok"] == 8
    assert report["outbox_payloads_left"] == 0 and report["outbox_counts"]["purged"] == 8
    assert report["audit_chain_intact"] and report["receiver_audit_intact"]
    assert report["final_uplink_exit"] == 0
    assert report["ok"]
