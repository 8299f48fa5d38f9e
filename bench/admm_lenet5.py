"""Benchmark: ADMM-NN on Caffe LeNet-5 / MNIST through `flow train`, as a user runs it.

    python bench/admm_lenet5.py sweep --data-dir ../shared/data/mnist [--device cuda] [--jobs 6] [--seeds 0 1]
    python bench/admm_lenet5.py full --data-dir ../shared/data/mnist          # the whole joint recipe, timed
    python bench/admm_lenet5.py quantstep --data-dir ../shared/data/mnist --seeds 0 --jobs 2
    python bench/admm_lenet5.py targets --data-dir ../shared/data/mnist --seeds 0 1 --jobs 2
    python bench/admm_lenet5.py learnstep --data-dir ../shared/data/mnist --seeds 0 1 --jobs 2
    python bench/admm_lenet5.py sensitivity --data-dir ../shared/data/mnist --seeds 0 1
    python bench/admm_lenet5.py joint --data-dir ../shared/data/mnist --seeds 0 1 2 3 4 5 --jobs 2 --runs runs/bench-long --ablation-seeds
    python bench/admm_lenet5.py binary --data-dir ../shared/data/mnist --seeds 0 1 2 --jobs 3

sweep: one pretrained model per seed, then from it ADMM pruning at 85x / 167x / 250x, the
magnitude-pruning baseline at the same ratios and the same epoch budget, progressive ADMM
(85x -> 167x -> 250x, accuracy after each step), and joint prune + quantize
by the whole joint recipe, pretraining included. Writes bench/results/admm_lenet5_sweep.json.
full: lenet5-admm-joint.yaml from scratch (pretrain included) on this machine's CPU, for the
wall-time target. Writes bench/results/admm_lenet5_full.json.
targets: the issue's accuracy targets with the shipped recipes (distillation included): per seed,
ADMM pruning to 85x and the magnitude baseline at 85x from one pretrained model; the joint recipe
from scratch for --joint-seeds (default the first seed; the same run dir as `full`, so a finished
`full` run is reused: 50 epochs are 30 minutes here).
Writes bench/results/admm_lenet5_targets.json.
quantstep: from one 167x-pruned model, ADMM quantization with the exact best step q and with the
best power-of-two q. Writes bench/results/admm_lenet5_quantstep.json.
learnstep: the joint recipe with fc1 keeping 4,100 weights at 1 bit (894 B), then its quantize-stage
snapshot retrained 8 epochs with constant and with learned steps (lenet5-retrain-quantized.yaml).
Writes bench/results/admm_lenet5_learnstep.json.
sensitivity: from that joint run's pruned model (stage2-retrain.pt), each layer alone put on 1, 2 and
3-bit levels at its best step, no retraining. Writes bench/results/admm_lenet5_sensitivity.json.
joint: the progressive joint recipe (lenet5-admm-joint-progressive.yaml) from scratch per seed (the issue's
<= 0.9 KB at <= 0.2 pp target), then each of its changes undone alone, from the run's own stage snapshot
so that only that change differs: two pruning steps (back to one, lenet5-admm-joint.yaml), reachable
pruning, equalization, the 3/2/3/3-bit allocation (back to 3/3/2/2) and frozen levels in the last retrain
(for --ablation-seeds: default all, none when the flag has no seeds). Writes bench/results/admm_lenet5_joint.json.
binary: the binarized recipe (lenet5-admm-binary.yaml: every weight layer at 1 bit, -q or +q) from scratch per
seed, its accuracy drop against that seed's own pretrained dense model, and the first seed's model through
`flow compile` (csim against QONNX on 500 MNIST test images). Writes bench/results/admm_lenet5_binary.json.
Run dirs go under runs/bench/; a finished run (its model.pt exists) is reused, not retrained, and
only if its stored recipe is the one asked for. With --jobs N on the CPU each run gets cores/N threads.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import yaml
from common import git_commit, write_result

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from flow.compress.projections import optimal_step, quantize_nonzero  # noqa: E402
from flow.compress.recipe import Recipe, load_recipe, recipe_from_tree  # noqa: E402
from flow.data import load_mnist_split  # noqa: E402
from flow.train import accuracy  # noqa: E402
from flow.zoo import compressible_layers, load_checkpoint  # noqa: E402

RECIPES = Path(__file__).resolve().parents[1] / "models" / "recipes"
# per-layer keep counts (conv1, conv2, fc1, fc2) of 430,500 weights
KEEP = {
    85: {"conv1": 200, "conv2": 2000, "fc1": 2365, "fc2": 500},
    167: {"conv1": 150, "conv2": 1000, "fc1": 1128, "fc2": 300},
    250: {"conv1": 125, "conv2": 750, "fc1": 597, "fc2": 250},
}
QUANTSTEP_RATIO = 167  # quantstep quantizes a model pruned this far
# learnstep's joint run (894 B of weight data): fc1 keeps 4,100 weights at 1 bit, conv2 at 2 bits, and a
# longer ADMM quantization (16 epochs, rho up to 1.0) with 8 retrain epochs
FC1_1BIT = ["stages.1.keep.fc1=4100", "stages.3.bits.conv2=2", "stages.3.bits.fc1=1", "stages.3.epochs=16",
            "stages.3.rho_max=1.0", "stages.4.epochs=8"]


def keep_override(stage: int, ratio: int) -> str:
    counts = ", ".join(f"{name}: {count}" for name, count in KEEP[ratio].items())
    return f"stages.{stage}.keep={{{counts}}}"


def comparable(recipe: Recipe) -> dict:
    """The recipe as JSON with `init` and `teacher` as the files they name, so two spellings of one path compare equal."""
    tree = json.loads(json.dumps(recipe.to_json()))
    return {**tree, **{key: tree[key] and str(Path(tree[key]).resolve()) for key in ("init", "teacher")}}


def threads_per_run(args) -> int:
    return max(1, (os.cpu_count() or 1) // args.jobs)


def flow_train(run_dir: Path, recipe: str, overrides: list[str], args) -> dict:
    """The run's compression.json and history; command_wall_s: the whole `flow train` command, if it ran
    here from start to end (None for a reused or resumed run)."""
    command_wall_s = None
    if (run_dir / "model.pt").is_file():
        # re-read through today's loader, so fields added since the run compare at their defaults
        stored = recipe_from_tree(json.loads((run_dir / "recipe.json").read_text()))
        if comparable(stored) != comparable(load_recipe(RECIPES / recipe, tuple(overrides))):
            raise SystemExit(f"{run_dir} was trained with another recipe than {recipe} {overrides}; "
                             "move it away or pass another --runs")
    else:
        command = [sys.executable, "-m", "flow", "train", "--recipe", str(RECIPES / recipe),
                   "--out", str(run_dir), "--data-dir", str(args.data_dir), "--device", args.device, "--no-progress"]
        for assignment in overrides:
            command += ["--set", assignment]
        resume = ["--resume"] if (run_dir / "checkpoint.pt").is_file() else []
        env = dict(os.environ)
        if args.device == "cpu" and args.jobs > 1:  # one process per core, not every process on every core
            env["OMP_NUM_THREADS"] = str(threads_per_run(args))
        started = time.perf_counter()
        done = subprocess.run(command + resume, capture_output=True, text=True, env=env)
        if done.returncode:
            raise SystemExit(f"{run_dir}: flow train failed:\n{done.stderr[-2000:]}")
        command_wall_s = None if resume else round(time.perf_counter() - started, 1)
    record = json.loads((run_dir / "compression.json").read_text())
    record["command_wall_s"] = command_wall_s
    record["run_dir"] = str(run_dir)
    record["overrides"] = overrides
    record["history"] = json.loads((run_dir / "history.json").read_text())
    return record


def pretrain_each_seed(pool, base: Path, args) -> dict:
    return dict(zip(args.seeds, pool.map(
        lambda seed: flow_train(base / f"pretrain-s{seed}", "lenet5-pretrain.yaml", [f"seed={seed}"], args),
        args.seeds)))


def sweep(args) -> tuple[dict, list[dict]]:
    base = Path(args.runs)
    with ThreadPoolExecutor(args.jobs) as pool:
        pretrained = pretrain_each_seed(pool, base, args)
        jobs = {}
        for seed in args.seeds:
            init = [f"seed={seed}", f"init={base / f'pretrain-s{seed}' / 'model.pt'}"]
            for ratio in KEEP:
                jobs[f"admm-{ratio}x-s{seed}"] = ("lenet5-admm-prune.yaml", init + [keep_override(0, ratio)])
                jobs[f"magnitude-{ratio}x-s{seed}"] = ("lenet5-magnitude.yaml", init + [keep_override(0, ratio)])
            jobs[f"progressive-s{seed}"] = ("lenet5-admm-progressive.yaml", init)
            # the joint recipe is the whole pipeline, its own pretraining included
            jobs[f"joint-s{seed}"] = ("lenet5-admm-joint.yaml", [f"seed={seed}"])
        futures = {name: pool.submit(flow_train, base / name, recipe, overrides, args)
                   for name, (recipe, overrides) in jobs.items()}
        runs = {name: future.result() for name, future in futures.items()}
    return summarize(pretrained, runs, args.seeds)


def _drop(record) -> float:
    return record["metrics"]["accuracy_drop_pp"]


def summarize(pretrained: dict, runs: dict, seeds: list[int]) -> tuple[dict, list[dict]]:
    def brief(record):
        total = record["total"]
        return {"pruning_ratio": total["pruning_ratio"], "test_accuracy": record["metrics"]["test_accuracy"],
                "reference_accuracy": record["metrics"]["reference_accuracy"], "drop_pp": _drop(record),
                "weight_data_kb": round(total["weight_data_bytes"] / 1024, 3),
                "with_index_kb": round(total["size_with_index_bytes"] / 1024, 3),
                "wall_s": record["metrics"]["wall_s"], "layers": record["layers"]}

    metrics = {"pretrained": {seed: {"test_accuracy": pretrained[seed]["metrics"]["test_accuracy"],
                                     "wall_s": pretrained[seed]["metrics"]["wall_s"]} for seed in seeds},
               "runs": {name: brief(record) for name, record in runs.items()},
               "histories": {name: record["history"] for name, record in runs.items()}}

    def mean_drop(kind, ratio):
        drops = [_drop(runs[f"{kind}-{ratio}x-s{seed}"]) for seed in seeds]
        return sum(drops) / len(drops), drops

    def ratio_cells(kind):
        cells = []
        for ratio in KEEP:
            mean, drops = mean_drop(kind, ratio)
            cells.append(f"{ratio}x: {mean:+.2f} pp" + (f" (seeds {', '.join(f'{d:+.2f}' for d in drops)})"
                                                         if len(drops) > 1 else ""))
        return "; ".join(cells)

    joint = [runs[f"joint-s{seed}"] for seed in seeds]
    joint_cell = "; ".join(
        f"seed {seed}: {joint_setting(r)}; {r['total']['weight_data_bytes'] / 1024:.2f} KB / {r['total']['size_with_index_bytes'] / 1024:.2f} KB"
        f" ({r['total']['weight_data_compression']:.0f}x / {r['total']['compression_with_index']:.0f}x), "
        f"drop {_drop(r):+.2f} pp" for seed, r in zip(seeds, joint))
    progressive_cell = "; ".join(
        f"seed {seed}: " + ", ".join(f"{r['test_accuracy']:.4f}" for r in runs[f"progressive-s{seed}"]["metrics"]["stages"]
                                     if r["kind"] == "retrain")
        + f" (drop at 250x {_drop(runs[f'progressive-s{seed}']):+.2f} pp)" for seed in seeds)
    dense = ", ".join(f"{pretrained[s]['metrics']['test_accuracy']:.4f}" for s in seeds)
    rows = [
        {"key": "admm_prune_lenet5", "label": "ADMM pruning drop vs dense", "value":
            f"{ratio_cells('admm')} (dense {dense}, MNIST 10k test)"},
        {"key": "magnitude_baseline_lenet5", "label": "magnitude pruning drop vs dense", "value": ratio_cells("magnitude")},
        {"key": "admm_progressive_lenet5", "label": "progressive ADMM 85x -> 167x -> 250x", "value": progressive_cell},
        {"key": "admm_joint_lenet5", "label": "joint prune+quant", "value": joint_cell},
    ]
    return metrics, rows


def joint_dir(args, seed: int) -> Path:
    return Path(args.runs) / f"joint-s{seed}"


def joint_setting(record: dict) -> str:
    """The joint run's pruning ratio and bits per layer, read from its compression.json."""
    bits = ", ".join(f"{layer['name']} {layer['bits']}" for layer in record["layers"])
    return f"{record['total']['pruning_ratio']:.0f}x, bits {bits}"


def full(args) -> tuple[dict, list[dict]]:
    run_dir = joint_dir(args, args.seeds[0])
    if run_dir.exists():
        raise SystemExit(f"the wall-time run starts from nothing; remove {run_dir} first")
    record = flow_train(run_dir, "lenet5-admm-joint.yaml", [f"seed={args.seeds[0]}"], args)
    total = record["total"]
    wall_min = record["command_wall_s"] / 60
    value = (f"{wall_min:.1f} min for the whole `flow train` command on {args.device}, nothing else running "
             f"({record['metrics']['epochs']} epochs); {joint_setting(record)}, "
             f"weight data {total['weight_data_bytes'] / 1024:.2f} KB, with indices {total['size_with_index_bytes'] / 1024:.2f} KB, "
             f"drop {_drop(record):+.2f} pp")
    return {"run": record}, [{"key": "admm_full_wall_lenet5", "label": "full joint compression wall time", "value": value}]


def targets(args) -> tuple[dict, list[dict]]:
    """The issue's targets with the shipped recipes: 85x ADMM vs magnitude, and the joint recipe, per seed."""
    base = Path(args.runs)
    with ThreadPoolExecutor(args.jobs) as pool:
        pretrained = pretrain_each_seed(pool, base, args)
        jobs = {}
        joint_seeds = args.joint_seeds or args.seeds[:1]
        for seed in joint_seeds:
            jobs[f"joint-s{seed}"] = (joint_dir(args, seed), "lenet5-admm-joint.yaml", [f"seed={seed}"])
        for seed in args.seeds:
            init = [f"seed={seed}", f"init={base / f'pretrain-s{seed}' / 'model.pt'}"]
            for kind, recipe in (("admm", "lenet5-admm-prune.yaml"), ("magnitude", "lenet5-magnitude.yaml")):
                jobs[f"{kind}-85x-s{seed}"] = (base / f"{kind}-85x-s{seed}", recipe, init)
        futures = {name: pool.submit(flow_train, *job, args) for name, job in jobs.items()}
        runs = {name: future.result() for name, future in futures.items()}

    def drops(kind: str) -> str:
        return ", ".join(f"{_drop(runs[f'{kind}-s{seed}']):+.2f}" for seed in args.seeds)

    def joint_cell(seed: int) -> str:
        record = runs[f"joint-s{seed}"]
        total = record["total"]
        return (f"seed {seed}: {joint_setting(record)}; {total['weight_data_bytes'] / 1024:.2f} KB / {total['size_with_index_bytes'] / 1024:.2f} KB, "
                f"{record['metrics']['test_accuracy']:.4f} vs dense {record['metrics']['reference_accuracy']:.4f} "
                f"(drop {_drop(record):+.2f} pp)")

    dense = ", ".join(f"{pretrained[s]['metrics']['test_accuracy']:.4f}" for s in args.seeds)
    rows = [
        {"key": "admm_targets_85x", "label": "85x pruning with distillation: ADMM vs magnitude, drop per seed",
         "value": f"ADMM {drops('admm-85x')} pp; magnitude {drops('magnitude-85x')} pp (dense {dense}; target <= 0.1 pp)"},
        {"key": "admm_targets_joint", "label": "joint recipe from scratch: weight data / with indices, drop per seed",
         "value": "; ".join(joint_cell(s) for s in joint_seeds)
                  + " (target <= 0.9 KB at <= 0.2 pp)"},
    ]
    metrics = {"pretrained": {s: pretrained[s]["metrics"] for s in args.seeds},
               "runs": {name: {"metrics": r["metrics"], "total": r["total"], "layers": r["layers"]} for name, r in runs.items()},
               "histories": {name: r["history"] for name, r in runs.items()}}
    return metrics, rows


def quant_step(args) -> tuple[dict, list[dict]]:
    """Exact best step vs best power-of-two step, both from the same 167x-pruned model."""
    base, seed = Path(args.runs), args.seeds[0]
    pretrained = flow_train(base / f"pretrain-s{seed}", "lenet5-pretrain.yaml", [f"seed={seed}"], args)
    pruned = flow_train(base / f"admm-{QUANTSTEP_RATIO}x-s{seed}", "lenet5-admm-prune.yaml",
                        [f"seed={seed}", f"init={base / f'pretrain-s{seed}' / 'model.pt'}",
                         keep_override(0, QUANTSTEP_RATIO)], args)
    init = [f"seed={seed}", f"init={base / f'admm-{QUANTSTEP_RATIO}x-s{seed}' / 'model.pt'}"]
    with ThreadPoolExecutor(args.jobs) as pool:
        exact, power_of_two = pool.map(lambda rule: flow_train(
            base / f"quantize-{rule}-s{seed}", "lenet5-admm-quantize.yaml",
            init + [f"stages.0.power_of_two={rule == 'po2'}"], args), ["exact", "po2"])
    dense = pretrained["metrics"]["test_accuracy"]

    def cell(record):
        accuracy = record["metrics"]["test_accuracy"]
        choices = record["metrics"]["stages"][0]["step_choices"]
        errors = ", ".join(f"{name} {c['relative_error']:.3f}/{c['power_of_two_relative_error']:.3f}"
                           for name, c in choices.items())
        return accuracy, errors

    (exact_acc, errors), (po2_acc, _) = cell(exact), cell(power_of_two)
    value = (f"from {QUANTSTEP_RATIO}x pruned ({pruned['metrics']['test_accuracy']:.4f}; dense {dense:.4f}): exact q "
             f"{exact_acc:.4f} ({100 * (dense - exact_acc):+.2f} pp), power-of-two q {po2_acc:.4f} "
             f"({100 * (dense - po2_acc):+.2f} pp); relative squared error exact/po2 at quantization: {errors}")
    metrics = {"dense": dense, "pruned": pruned["metrics"], "exact": exact["metrics"], "power_of_two": power_of_two["metrics"]}
    return metrics, [{"key": "admm_quant_step_lenet5", "label": "exact vs power-of-two step", "value": value}]


def fc1_one_bit_joints(pool, args) -> dict:
    """Per seed, the joint run with FC1_1BIT (reused when finished); its stage snapshots feed learnstep and sensitivity."""
    return dict(zip(args.seeds, pool.map(lambda seed: flow_train(
        Path(args.runs) / f"joint-fc1b1k4100-s{seed}", "lenet5-admm-joint.yaml", [f"seed={seed}", *FC1_1BIT], args),
        args.seeds)))


def learn_step(args) -> tuple[dict, list[dict]]:
    """The joint run's quantize-stage snapshot retrained 8 epochs with constant and with learned steps, per seed."""
    base = Path(args.runs)
    with ThreadPoolExecutor(args.jobs) as pool:
        joints = fc1_one_bit_joints(pool, args)
        cases = [(seed, rule) for seed in args.seeds for rule in ("constant", "learned")]
        retrained = dict(zip(cases, pool.map(lambda case: flow_train(
            base / f"retrain-{case[1]}-step-s{case[0]}", "lenet5-retrain-quantized.yaml",
            [f"seed={case[0]}", f"stages.0.learn_step={case[1] == 'learned'}",
             f"init={base / f'joint-fc1b1k4100-s{case[0]}' / 'stage3-admm_quantize.pt'}",
             f"teacher={base / f'joint-fc1b1k4100-s{case[0]}' / 'stage0-pretrain.pt'}"], args), cases)))
    rows = []
    for seed in args.seeds:
        joint = joints[seed]["metrics"]
        dense, quantized = joint["reference_accuracy"], joint["stages"][3]["test_accuracy"]
        accuracies = {rule: retrained[seed, rule]["metrics"]["test_accuracy"] for rule in ("constant", "learned")}
        steps = ", ".join(f"{name} {s['from']:.3f}->{s['to']:.3f}" for name, s in
                          retrained[seed, "learned"]["metrics"]["stages"][0]["learned_steps"].items())
        rows.append({"key": f"admm_learn_step_lenet5_s{seed}", "label": f"learned vs constant step, seed {seed}",
                     "value": f"894 B joint model (dense {dense:.4f}, quantized {quantized:.4f}), 8 retrain epochs: "
                              f"constant q {accuracies['constant']:.4f} ({100 * (dense - accuracies['constant']):+.2f} pp), "
                              f"learned q {accuracies['learned']:.4f} ({100 * (dense - accuracies['learned']):+.2f} pp); "
                              f"steps {steps}"})
    metrics = {"joint": {seed: joints[seed]["metrics"] for seed in args.seeds},
               "retrained": {f"{rule}-s{seed}": {"metrics": retrained[seed, rule]["metrics"],
                                                 "history": retrained[seed, rule]["history"]}
                             for seed, rule in cases}}
    return metrics, rows


def sensitivity(args) -> tuple[dict, list[dict]]:
    """Per layer, the accuracy the pruned model keeps when that layer alone is put on 1, 2 or 3-bit levels at its
    best step, with no retraining: where quantization's cost comes from, before ADMM recovers part of it."""
    base = Path(args.runs)
    with ThreadPoolExecutor(args.jobs) as pool:
        fc1_one_bit_joints(pool, args)
    test = load_mnist_split("test", args.data_dir)
    images, labels = torch.from_numpy(test.images), torch.from_numpy(test.labels)
    metrics, rows = {}, []
    for seed in args.seeds:
        model, _ = load_checkpoint(base / f"joint-fc1b1k4100-s{seed}" / "stage2-retrain.pt")
        result = {"float": accuracy(model, images, labels)}
        for name, layer in compressible_layers(model).items():
            pruned = layer.weight.detach().clone()
            values = pruned.numpy().astype(np.float64)
            for bits in (1, 2, 3):
                levels = quantize_nonzero(values, optimal_step(values[values != 0], bits), bits)
                with torch.no_grad():
                    layer.weight.copy_(torch.from_numpy(levels))
                result[f"{name}@{bits}"] = accuracy(model, images, labels)
            with torch.no_grad():
                layer.weight.copy_(pruned)
        metrics[seed] = result
        costs = "; ".join(f"{name} " + " / ".join(f"{100 * (result['float'] - result[f'{name}@{bits}']):+.2f}"
                                                  for bits in (1, 2, 3))
                          for name in compressible_layers(model))
        rows.append({"key": f"admm_quant_sensitivity_lenet5_s{seed}", "label": f"one-layer quantization cost, seed {seed}",
                     "value": f"from the pruned model of the 894 B joint run ({result['float']:.4f}): {costs} pp"})
    return metrics, rows


JOINT_RECIPE = "lenet5-admm-joint-progressive.yaml"
# each ablation: (stage the run starts from, the settings it changes, with stage indices of JOINT_RECIPE, and
# the recipe it runs from that stage on); "one-step" prunes in one ADMM step as lenet5-admm-joint.yaml does
JOINT_ABLATIONS = {
    "one-step": (1, [], "lenet5-admm-joint.yaml"),
    "plain-topk": (1, ["stages.1.reachable=false", "stages.3.reachable=false"], JOINT_RECIPE),
    "no-equalize": (5, ["stages.5.equalize=false"], JOINT_RECIPE),
    "bits-3322": (5, ["stages.5.bits={conv1: 3, conv2: 3, fc1: 2, fc2: 2}"], JOINT_RECIPE),
    "weights-retrained": (6, ["stages.6.freeze_levels=false"], JOINT_RECIPE),
}


def stages_from(recipe: str, first: int, base: Path) -> Path:
    """`recipe` from stage `first` on, as a recipe file a run can start at that stage's snapshot."""
    tree = yaml.safe_load((RECIPES / recipe).read_text())
    tree["stages"] = tree["stages"][first:]
    path = base / "recipes" / f"{Path(recipe).stem}-from-stage{first}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(tree, sort_keys=False))
    return path


def shifted(assignment: str, first: int) -> str:
    """`stages.3.x=v` of the whole recipe as the same stage of the recipe that starts at stage `first`."""
    _, index, rest = assignment.split(".", 2)
    return f"stages.{int(index) - first}.{rest}"


def joint(args) -> tuple[dict, list[dict]]:
    base = Path(args.runs)
    ablation_seeds = args.seeds if args.ablation_seeds is None else args.ablation_seeds
    if not set(ablation_seeds) <= set(args.seeds):
        raise SystemExit(f"--ablation-seeds {ablation_seeds} must be among --seeds {args.seeds}")
    with ThreadPoolExecutor(args.jobs) as pool:
        joints = dict(zip(args.seeds, pool.map(
            lambda seed: flow_train(joint_dir(args, seed), JOINT_RECIPE, [f"seed={seed}"], args), args.seeds)))
        cases = [(seed, name) for seed in ablation_seeds for name in JOINT_ABLATIONS]

        def ablate(case):
            seed, name = case
            first, changes, recipe = JOINT_ABLATIONS[name]
            snapshot = joint_dir(args, seed) / f"stage{first - 1}-{joints[seed]['metrics']['stages'][first - 1]['kind']}.pt"
            overrides = [f"seed={seed}", f"init={snapshot}", f"teacher={joint_dir(args, seed) / 'stage0-pretrain.pt'}",
                         *(shifted(change, first) for change in changes)]
            return flow_train(base / f"joint-{name}-s{seed}", str(stages_from(recipe, first, base).resolve()), overrides, args)

        ablations = dict(zip(cases, pool.map(ablate, cases)))

    def brief(record: dict) -> dict:
        return {"test_accuracy": record["metrics"]["test_accuracy"], "drop_pp": _drop(record),
                "weight_data_bytes": record["total"]["weight_data_bytes"],
                "with_index_bytes": record["total"]["size_with_index_bytes"], "wall_s": record["metrics"]["wall_s"]}

    def joint_cell(seed: int) -> str:
        record = joints[seed]
        total = record["total"]
        return (f"seed {seed}: {joint_setting(record)}; {total['weight_data_bytes']:.0f} B / {total['size_with_index_bytes']:.0f} B "
                f"({total['weight_data_compression']:.0f}x / {total['compression_with_index']:.0f}x), "
                f"{record['metrics']['test_accuracy']:.4f} vs dense {record['metrics']['reference_accuracy']:.4f} "
                f"(drop {_drop(record):+.2f} pp), {record['metrics']['wall_s'] / 60:.1f} min")

    threads = f"{threads_per_run(args)} thread(s) each, {args.jobs} run(s) at a time" \
        if args.device == "cpu" else args.device
    rows = [{"key": "admm_joint_recipe", "label": "progressive joint recipe from scratch, per seed",
             "value": "; ".join(joint_cell(seed) for seed in args.seeds)
                      + f"; mean drop {sum(_drop(joints[seed]) for seed in args.seeds) / len(args.seeds):+.2f} pp"
                      + f" (training wall time on {threads}; target <= 0.9 KB at <= 0.2 pp, <= 40 min)"}]
    for seed in ablation_seeds:
        cells = ", ".join(f"{name} {_drop(ablations[seed, name]):+.2f} pp" for name in JOINT_ABLATIONS)
        rows.append({"key": f"admm_joint_ablation_s{seed}", "label": f"joint recipe with one change undone, seed {seed}",
                     "value": f"drop with all changes {_drop(joints[seed]):+.2f} pp; undone: {cells}"})
    metrics = {"joint": {seed: {**brief(record), "metrics": record["metrics"], "layers": record["layers"],
                                "history": record["history"]} for seed, record in joints.items()},
               "ablations": {f"{name}-s{seed}": {**brief(record), "overrides": record["overrides"], "history": record["history"]}
                             for (seed, name), record in ablations.items()}}
    return metrics, rows


def binary(args) -> tuple[dict, list[dict]]:
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        runs = dict(zip(args.seeds, pool.map(
            lambda seed: flow_train(Path(args.runs) / f"binary-s{seed}", "lenet5-admm-binary.yaml", [f"seed={seed}"],
                                    args), args.seeds)))
    first = Path(args.runs) / f"binary-s{args.seeds[0]}"
    build_dir = first / "build"
    compiled = subprocess.run([sys.executable, "-m", "flow", "compile", "--model", str(first / "model.pt"),
                               "--data-dir", str(args.data_dir), "--n-samples", "500", "--out", str(build_dir),
                               "--no-progress"], capture_output=True, text=True)
    csim = json.loads((build_dir / "csim.json").read_text()) if (build_dir / "csim.json").is_file() else None
    levels = {seed: run["metrics"]["weight_levels"] for seed, run in runs.items()}
    drops = [_drop(run) for run in runs.values()]
    verified = csim is not None and csim["passed"]
    value = (f"1 bit (-q/+q) on all 4 layers: drop {np.mean(drops):+.2f} pp mean over {len(drops)} seeds "
             f"({min(drops):+.2f} to {max(drops):+.2f}); seed {args.seeds[0]} csim "
             + (f"verifies ({csim['csim_vs_qonnx']['max_diff_lsb']:.0f} LSB)" if verified else "FAILS"))
    metrics = {"runs": {seed: {key: run[key] for key in ("metrics", "total", "layers", "command_wall_s")}
                        for seed, run in runs.items()},
               "weight_levels": levels, "drops_pp": drops,
               "compile": {"exit_code": compiled.returncode, "csim": csim,
                           "error": next((line for line in compiled.stdout.splitlines() if line.startswith("error:")),
                                         None)}}
    return metrics, [{"key": "admm_binary_lenet5", "label": "binarized LeNet-5 (ADMM, from each seed's pretrained model)",
                      "value": value}]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("plan", choices=["sweep", "full", "quantstep", "targets", "learnstep", "sensitivity", "joint",
                                         "binary"])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--runs", default="runs/bench")
    parser.add_argument("--ablation-seeds", type=int, nargs="*",
                        help="joint: seeds of the ablation runs (default: --seeds; the flag alone: none)")
    parser.add_argument("--joint-seeds", type=int, nargs="+", help="targets: seeds of the joint recipe (default: the first seed)")
    parser.add_argument("--commit", help="record this commit (for copies without .git, e.g. a GPU machine)")
    parser.add_argument("--machine", help="describe the machine in the result, e.g. 'NVIDIA H100, 16 cores'")
    args = parser.parse_args()
    commit = args.commit or git_commit()
    started = time.perf_counter()
    metrics, rows = {"sweep": sweep, "full": full, "quantstep": quant_step, "targets": targets,
                      "learnstep": learn_step, "sensitivity": sensitivity, "joint": joint,
                      "binary": binary}[args.plan](args)
    metrics["device"] = args.device
    if args.machine:
        metrics["machine"] = args.machine
    print(write_result(f"admm_lenet5_{args.plan}", metrics, rows, args.seeds[0], started, commit))


if __name__ == "__main__":
    main()
