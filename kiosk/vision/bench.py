"""``kiosk bench vision``: time frame assessment and still processing on one core.

Frames are synthetic (``kiosk.synth.camera``), so the benchmark runs anywhere. Reported per size
(1280x720 and 1920x1080): median and 95th percentile of ``assess_frame`` over N frames, the split of the
median frame into stages (downscale, coarse quad, edge refinement, text-sharpness patches, page
statistics), and a baseline measured in the same process: the textbook blur check (full-frame grey
conversion + variance of the Laplacian), to put the figures in proportion. Stills (3840x2160) report
``process_still`` per page and its stages.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import cv2
import numpy as np


def _pct(v: list[float], p: float) -> float:
    return round(float(np.percentile(v, p)), 2)


def _stages(frame: np.ndarray) -> dict[str, float]:
    """Time the stages of one assessment (same calls as ``assess_frame``), in ms."""
    from kiosk.vision import assess as A
    from kiosk.vision import geometry as G

    out: dict[str, float] = {}
    t0 = time.perf_counter()
    small, f = G.work_copy(frame)
    t1 = time.perf_counter()
    found = G.coarse_quad(small)
    t2 = time.perf_counter()
    out["downscale"] = (t1 - t0) * 1e3
    out["coarse_quad"] = (t2 - t1) * 1e3
    if found is None:
        return out
    q = G.order_corners((found[0] + 0.5) * f)
    q, _, _, _ = G.refine_quad(frame, q, radius=max(8.0, 2.5 * f + 4))
    t3 = time.perf_counter()
    long_px = float(max(np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[2] - q[1])))
    A.text_sharpness(frame, q, int(min(64, max(24, long_px / 16))))
    t4 = time.perf_counter()
    A._page_stats(small, q / f - 0.5)
    t5 = time.perf_counter()
    out["refine_edges"] = (t3 - t2) * 1e3
    out["text_sharpness"] = (t4 - t3) * 1e3
    out["page_stats"] = (t5 - t4) * 1e3
    return out


def _baseline(frame: np.ndarray) -> float:
    g = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(g, cv2.CV_32F).var())


def bench_frames(size: tuple[int, int], n_frames: int, n_distinct: int) -> dict[str, Any]:
    from kiosk.synth.camera import make_frame
    from kiosk.vision.assess import assess_frame

    defects = [None, None, None, "blur", "glare", "dark", "cutoff", "small"]
    frames = [make_frame(size=size, seed=1000 + i, defect=defects[i % len(defects)]).image
              for i in range(n_distinct)]
    for fr in frames[:3]:  # warm-up
        assess_frame(fr)
    times: list[float] = []
    base: list[float] = []
    for i in range(n_frames):
        fr = frames[i % len(frames)]
        t0 = time.perf_counter()
        assess_frame(fr)
        times.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        _baseline(fr)
        base.append((time.perf_counter() - t0) * 1e3)
    stage_runs: dict[str, list[float]] = {}
    for fr in frames:
        for k, v in _stages(fr).items():
            stage_runs.setdefault(k, []).append(v)
    med = statistics.median(times)
    bmed = statistics.median(base)
    return {
        "size": f"{size[0]}x{size[1]}",
        "frames": n_frames,
        "median_ms": round(med, 2),
        "p95_ms": _pct(times, 95),
        "stages_median_ms": {k: round(statistics.median(v), 2) for k, v in stage_runs.items()},
        "baseline_laplacian_var_median_ms": round(bmed, 2),
        "ratio_to_baseline": round(med / bmed, 2) if bmed > 0 else None,
    }


def bench_stills(n_pages: int) -> dict[str, Any]:
    from kiosk.synth.camera import make_frame, page_bgr
    from kiosk.vision.still import process_still

    times: list[float] = []
    stages: dict[str, list[float]] = {}
    for i in range(n_pages):
        sf = make_frame(size=(3840, 2160), still_size=(3840, 2160), seed=2000 + i,
                        page=page_bgr(seed=i, dpi=200))
        t0 = time.perf_counter()
        page = process_still(sf.image)
        times.append((time.perf_counter() - t0) * 1e3)
        for k, v in page.timings_ms.items():
            stages.setdefault(k, []).append(v)
    return {
        "size": "3840x2160",
        "pages": n_pages,
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": _pct(times, 95),
        "stages_median_ms": {k: round(statistics.median(v), 1) for k, v in stages.items()},
    }


def run_bench(frames: int = 200, n_frames: int = 24, pages: int = 5) -> dict[str, Any]:
    """The whole benchmark on one core (OpenCV threads 1, Tesseract OMP_THREAD_LIMIT=1)."""
    prev = cv2.getNumThreads()
    cv2.setNumThreads(1)
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    try:
        out: dict[str, Any] = {"threads": 1, "assess": [bench_frames(s, frames, n_frames)
                                                       for s in ((1280, 720), (1920, 1080))]}
        if pages > 0:
            out["still"] = bench_stills(pages)
        return out
    finally:
        cv2.setNumThreads(prev)
