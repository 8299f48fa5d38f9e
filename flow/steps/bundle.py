"""Step `bundle`: what goes to the board: metadata, test vectors and a sha256 manifest."""
from __future__ import annotations

import json
import shutil

from ..config import StepContext
from ..deploy import DMA_NAME, DRIVER, DRIVER_SOURCE, IP_CELL
from ..deploy.axis_top import CONTROL_OFFSET, N_SAMPLES_OFFSET
from ..deploy.pynq_driver import MANIFEST, METADATA, sha256
from ..paths import atomic_write_json
from .bitstream import BITSTREAM_OUTPUT, BITSTREAM_STEM

NAME = "bundle"
OUTPUTS = ["bundle"]
TEST_VECTORS = {"verify_inputs.npy": "test_inputs.npy", "csim_outputs.npy": "test_outputs_csim.npy"}


def run(ctx: StepContext) -> dict:
    bundle = ctx.path("bundle")
    staging = ctx.path("bundle.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    graph = json.loads(ctx.path("graph.json").read_text())
    meta = json.loads(ctx.path("csim_meta.json").read_text())
    settings = json.loads(ctx.path("hls_config.json").read_text())
    for source, target in TEST_VECTORS.items():
        shutil.copyfile(ctx.path(source), staging / target)
    shutil.copyfile(DRIVER_SOURCE, staging / DRIVER)
    built = [ctx.path(BITSTREAM_OUTPUT) / f"{BITSTREAM_STEM}{suffix}" for suffix in (".bit", ".hwh")]
    bitstream = None
    if all(path.is_file() for path in built):  # PYNQ finds the .hwh by the .bit's stem
        for path in built:
            shutil.copyfile(path, staging / path.name)
        bitstream = built[0].name
    atomic_write_json(staging / METADATA, {
        "board": ctx.board.name,
        "part": ctx.board.part,
        "clock_period_ns": ctx.board.clock_period_ns,
        # stream formats the driver encodes and decodes (flow/deploy/pynq_driver.py)
        "input": {"shape": graph["input_shape"], "perm": graph["input_perm"], "precision": meta["input_precision"]},
        "output": {"shape": graph["output_shape"], "precision": meta["output_precision"]},
        "dma": DMA_NAME,
        "ip": {"cell": IP_CELL, "control": CONTROL_OFFSET, "n_samples": N_SAMPLES_OFFSET},
        "io_type": settings["io_type"],
        "driver": DRIVER,
        "bitstream": bitstream,  # None without Vivado; summary.json says why
    })
    files = sorted(p for p in staging.iterdir() if p.is_file())
    atomic_write_json(staging / MANIFEST, {p.name: sha256(p) for p in files})
    # the manifest is written last, then the folder swapped in whole: a bundle without one is incomplete
    shutil.rmtree(bundle, ignore_errors=True)
    staging.replace(bundle)
    return {"files": len(files) + 1}
