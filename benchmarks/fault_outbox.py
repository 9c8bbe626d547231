"""Fault drill: 30 packages of 1-5 MB, the uplink killed with SIGKILL 20 times, the broker restarted
3 times; the receiver must end with exactly 30 verified packages and the outbox with none.

    .venv/bin/python benchmarks/fault_outbox.py [--packages 30] [--kills 20] [--broker-restarts 3]
                                                [--seed 1] [--workdir DIR]

Prints one JSON report (see kiosk/queue/faultrun.py); exit status 0 when every check holds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from kiosk.queue.faultrun import FaultPlan, run_fault_drill


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packages", type=int, default=30)
    ap.add_argument("--min-mb", type=float, default=1.0)
    ap.add_argument("--max-mb", type=float, default=5.0)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--broker-restarts", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=600.0, help="bound for the final delivery (seconds)")
    ap.add_argument("--workdir", help="keep everything here (default: a temporary folder)")
    args = ap.parse_args()
    plan = FaultPlan(packages=args.packages, min_mb=args.min_mb, max_mb=args.max_mb, kills=args.kills,
                     broker_restarts=args.broker_restarts, seed=args.seed, timeout_s=args.timeout)
    if args.workdir:
        report = run_fault_drill(Path(args.workdir), plan)
    else:
        with tempfile.TemporaryDirectory(prefix="kiosk-fault-") as tmp:
            report = run_fault_drill(Path(tmp), plan)
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
