"""Throughput: one ~20 MB package end to end on loopback vs mosquitto_pub (same run, same bytes).

    .venv/bin/python benchmarks/bench_uplink.py [--size-mb 20] [--runs 5] [--chunk-size BYTES]

Same as ``kiosk bench uplink``; see kiosk/queue/bench.py for what is timed. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kiosk.queue.bench import run_uplink_bench


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=float, default=20.0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--chunk-size", type=int, default=0)
    ap.add_argument("--workdir")
    args = ap.parse_args()
    result = run_uplink_bench(Path(args.workdir) if args.workdir else None, size_mb=args.size_mb,
                              runs=args.runs, chunk_size=args.chunk_size)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
