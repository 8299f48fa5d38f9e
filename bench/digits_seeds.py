"""Benchmark: the shipped default model's quantization cost over seeds.

    python bench/digits_seeds.py --seeds 0 1 2

Per seed, models/recipes/lenet-digits.yaml (4-bit weights, 8-bit activations at every site: input,
after conv1, conv2 and fc1, and the signed 8-bit output; power-of-two scales) and its float twin
models/recipes/lenet-digits-float.yaml (the same network and training without quantizers), on
scikit-learn's 8x8 digits; accuracy on the 359 held-out images (one image is 0.28 pp). Run dirs go
under runs/bench-digits/; a finished run (its model.pt exists) is reused. Writes
bench/results/digits_seeds.json.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from common import git_commit, write_result

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from flow.compress.recipe import RECIPES_DIR  # noqa: E402
from flow.train import COMPRESSION, TrainConfig, train  # noqa: E402

RECIPES = {"quantized": "lenet-digits.yaml", "float": "lenet-digits-float.yaml"}
ACTIVATION_BITS = "8-bit input, conv1, conv2 and fc1 activations, 8-bit signed output"


def trained_accuracy(run_dir: Path, recipe: str, seed: int) -> float:
    import json

    if not (run_dir / "model.pt").is_file():
        train(TrainConfig(recipe=RECIPES_DIR / recipe, overrides=(f"seed={seed}",), out=run_dir, show_progress=False))
    return json.loads((run_dir / COMPRESSION).read_text())["metrics"]["test_accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--runs", default="runs/bench-digits")
    args = parser.parse_args()
    commit, started = git_commit(), time.perf_counter()
    per_seed = {}
    for seed in args.seeds:
        accuracy = {kind: trained_accuracy(Path(args.runs) / f"{kind}-s{seed}", recipe, seed) for kind, recipe in RECIPES.items()}
        per_seed[seed] = {**accuracy, "drop_pp": round(100 * (accuracy["float"] - accuracy["quantized"]), 2)}
    mean_drop = round(sum(record["drop_pp"] for record in per_seed.values()) / len(per_seed), 2)
    cells = "; ".join(f"seed {seed}: {r['quantized']:.4f} vs float {r['float']:.4f} ({r['drop_pp']:+.2f} pp)"
                      for seed, r in per_seed.items())
    rows = [{"key": "digits_quantization_drop", "label": "default model (4-bit weights, 8-bit activations) vs its float twin",
             "value": f"{cells}; mean drop {mean_drop:+.2f} pp over {len(per_seed)} seeds (359 held-out digits)"}]
    metrics = {"per_seed": per_seed, "mean_drop_pp": mean_drop, "activation_bits": ACTIVATION_BITS}
    print(write_result("digits_seeds", metrics, rows, args.seeds[0], started, commit))


if __name__ == "__main__":
    main()
