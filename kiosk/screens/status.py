"""What the staff screen shows about the devices and the outbox (pure, no Kivy).

``Workflow.device_status()`` / ``Workflow.outbox_status()`` are used when the workflow has them;
otherwise the device manager's ``health()`` (one dict per device: name, kind, backend, status) and the
outbox's ``counts()`` (entries per state), ``queued_bytes()`` and ``accepting_new_sessions()``.
Nothing here is personal data.
"""

from __future__ import annotations

from typing import Any

MB = 1024 * 1024


def device_status(workflow: Any) -> list[dict[str, Any]]:
    fn = getattr(workflow, "device_status", None)
    if callable(fn):
        return [dict(d) for d in fn()]
    health = getattr(getattr(workflow, "devices", None), "health", None)
    if not callable(health):
        return []
    out: list[dict[str, Any]] = []
    for d in health():
        d = dict(d)
        d.setdefault("ok", d.get("status") == "ok")
        out.append(d)
    return out


def outbox_status(workflow: Any) -> dict[str, Any]:
    fn = getattr(workflow, "outbox_status", None)
    if callable(fn):
        return dict(fn())
    outbox = getattr(workflow, "outbox", None)
    if outbox is None:
        return {}
    out: dict[str, Any] = {}
    counts = getattr(outbox, "counts", None)
    if callable(counts):
        out.update(counts())
    queued = getattr(outbox, "queued_bytes", None)
    if callable(queued):
        out["queued_mb"] = round(queued() / MB, 1)
    accepting = getattr(outbox, "accepting_new_sessions", None)
    if callable(accepting):
        ok, reason = accepting()
        out["accepting_new_sessions"] = bool(ok)
        if reason:
            out["not_accepting_reason"] = reason
    return out
