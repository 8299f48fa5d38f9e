"""Benchmark: the board driver's vectorised fixed-point encode and decode rate on this CPU (issue E target: >= 1M values/s).

    python bench/driver_codec.py [--values 1000000] [--repeats 5]

Times FixedPoint.encode and .decode (flow/deploy/pynq_driver.py, shipped as bundle/driver.py) on
normally distributed values, for the precisions the shipped builds stream. Best of --repeats.
Writes bench/results/driver_codec.json.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from common import git_commit, write_result

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from flow.deploy.pynq_driver import FixedPoint  # noqa: E402

PRECISIONS = ("fixed<32,16,TRN,WRAP,0>", "fixed<16,6,TRN,WRAP,0>", "fixed<8,6,RND_CONV,SAT,0>")


def best_seconds(work, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--values", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    commit, started = git_commit(), time.perf_counter()
    values = np.random.default_rng(args.seed).normal(scale=4.0, size=args.values).astype(np.float32)
    rates = {}
    for precision in PRECISIONS:
        codec = FixedPoint(precision)
        codes = codec.encode(values)
        rates[precision] = {
            "encode_values_per_s": round(args.values / best_seconds(lambda: codec.encode(values), args.repeats)),
            "decode_values_per_s": round(args.values / best_seconds(lambda: codec.decode(codes), args.repeats)),
        }
    slowest = min(min(rate.values()) for rate in rates.values())
    cells = "; ".join(f"{p}: encode {r['encode_values_per_s'] / 1e6:.0f}M/s, decode "
                      f"{r['decode_values_per_s'] / 1e6:.0f}M/s" for p, r in rates.items())
    rows = [{"key": "driver_codec_rate", "label": "driver encode/decode rate",
             "value": f"{cells} ({args.values:,} values, best of {args.repeats}, this CPU; target >= 1M/s)"}]
    print(write_result("driver_codec", {"rates": rates, "slowest_values_per_s": slowest, "values": args.values},
                       rows, args.seed, started, commit))


if __name__ == "__main__":
    main()
