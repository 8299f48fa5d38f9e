"""Step `bundle`: what goes to the board: metadata, test vectors, the driver, its README and a sha256 manifest."""
from __future__ import annotations

import shutil

import numpy as np

from ...deploy import DMA_NAME, DRIVER, DRIVER_SOURCE, README, bundle_readme
from ...deploy.pynq_driver import MANIFEST, METADATA, TEST_INPUTS, TEST_OUTPUTS, sha256
from ...paths import atomic_write_json, atomic_write_text
from ..artifacts import (BITSTREAM_OUTPUT, BITSTREAM_STEM, BUNDLE, CSIM_META, CSIM_OUTPUTS, GRAPH, HLS_CONFIG,
                         VERIFY_INPUTS, read_json)
from ..step import Step, StepContext

TEST_VECTORS = {VERIFY_INPUTS: TEST_INPUTS, CSIM_OUTPUTS: TEST_OUTPUTS}


def run(ctx: StepContext) -> dict:
    bundle = ctx.path(BUNDLE)
    staging = ctx.path(f"{BUNDLE}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    graph = read_json(ctx.build_dir, GRAPH)
    meta = read_json(ctx.build_dir, CSIM_META)
    settings = read_json(ctx.build_dir, HLS_CONFIG)
    for source, target in TEST_VECTORS.items():
        shutil.copyfile(ctx.path(source), staging / target)
    shutil.copyfile(DRIVER_SOURCE, staging / DRIVER)
    built = [ctx.path(BITSTREAM_OUTPUT) / f"{BITSTREAM_STEM}{suffix}" for suffix in (".bit", ".hwh")]
    bitstream = None
    if all(path.is_file() for path in built):  # PYNQ finds the .hwh by the .bit's stem
        for path in built:
            shutil.copyfile(path, staging / path.name)
        bitstream = built[0].name
    metadata = {
        "board": ctx.board.name,
        "part": ctx.board.part,
        "clock_period_ns": ctx.board.clock_period_ns,
        # stream formats the driver encodes and decodes (flow/deploy/pynq_driver.py)
        "input": {"shape": graph["input_shape"], "perm": graph["input_perm"], "precision": meta["input_precision"]},
        "output": {"shape": graph["output_shape"], "precision": meta["output_precision"]},
        "dma": DMA_NAME,
        "io_type": settings["io_type"],
        "driver": DRIVER,
        "bitstream": bitstream,  # None without Vivado; summary.json says why
    }
    atomic_write_json(staging / METADATA, metadata)
    samples = len(np.load(staging / TEST_INPUTS, mmap_mode="r"))
    names = sorted({p.name for p in staging.iterdir() if p.is_file()} | {README, MANIFEST})
    atomic_write_text(staging / README, bundle_readme(ctx.board, metadata, names, samples, ctx.build_dir))
    files = sorted(p for p in staging.iterdir() if p.is_file())
    atomic_write_json(staging / MANIFEST, {p.name: sha256(p) for p in files})
    # the manifest is written last, then the folder swapped in whole: a bundle without one is incomplete
    shutil.rmtree(bundle, ignore_errors=True)
    staging.replace(bundle)
    return {"files": len(files) + 1}


STEP = Step(name="bundle", run=run, reads=("board", "clock_period_ns"), outputs=(BUNDLE,))
