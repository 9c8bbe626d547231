"""The end-to-end demo on simulated devices, run as a user runs it: ``kiosk demo`` in a fresh data
directory. It starts its own Mosquitto, receiver process and PKI; it must end with a stored, verified
package, no package left in the outbox, and the session wiped."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path


def test_kiosk_demo_end_to_end(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("KIOSK_CONFIG", "KIOSK_DATA_DIR")}
    run = subprocess.run([sys.executable, "-m", "kiosk.cli", "demo", "--data-dir", str(data)],
                         capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "DEMO OK" in run.stdout
    assert "rejected (blur)" in run.stdout  # the bad sample frame is refused with its reason
    result = json.loads([ln for ln in run.stdout.splitlines() if ln.startswith("{")][-1])
    stored = Path(result["stored_package"])
    manifest = json.loads((stored / "manifest.json").read_text("utf-8"))
    assert manifest["submission_id"] == result["submission_id"]
    assert sorted(p.name for p in (stored / "papers").glob("*.pdf")) == sorted(result["papers"])
    assert len(result["papers"]) == 2
    # the declaration's fields were read from the camera photo (OCR + form extraction, R5) exactly
    form = next(p for p in manifest["papers"] if p["component_id"] == "to_khai")["metadata"]
    assert form["paper_name"] == "Tờ khai đăng ký khai sinh"
    expected = {"child_name": "NGUYỄN MINH AN", "child_birth_date": "2026-10-02",
                "requester_id": "001090012345", "mother_name": "TRẦN THỊ HOA"}
    assert {k: form["extra"].get(k) for k in expected} == expected
    # the officer confirmed it on the kiosk (R12): the decision is in the manifest, signed by the officer
    assert manifest["staff_review"]["decision"] == "confirmed"
    assert (stored / "manifest.json.staff.p7s").is_file()
    # pdfsig, independently of the demo's own check: the seal and the officer's countersignature are there
    # and valid on every paper, and the countersignature covers the whole document
    for pdf in (stored / "papers").glob("*.pdf"):
        out = subprocess.run(["pdfsig", str(pdf)], capture_output=True, text=True, timeout=60).stdout
        blocks = out.split("Signature #")[1:]
        assert len(blocks) == 2 and all("Signature is Valid." in b for b in blocks), out
        assert "KioskSeal" in blocks[0] and "StaffSignature" in blocks[1]
        assert "Total document signed" in blocks[1] and "Not total document signed" in blocks[0]
    # nothing personal left on the kiosk: outbox blobs purged, staging and session folders empty
    for folder in ("outbox/blobs", "staging", "sessions", "review"):
        path = data / folder
        assert not path.exists() or not any(path.iterdir()), folder
    assert Path(result["receipt"]).is_file()
    # the back end numbered the confirmed dossier (R15) in its signed receipt
    assert re.fullmatch(r"000\.00\.00\.H00-[0-9]{6}-[0-9]{4}", result["dossier_code"])
