"""The board side: the driver shipped in every bundle (Python 3.10, numpy and pynq only), its README, the archive."""
from __future__ import annotations

from pathlib import Path

DRIVER_SOURCE = Path(__file__).resolve().parent / "pynq_driver.py"
DRIVER = "driver.py"  # its name inside the bundle
README = "README.md"  # the board user's instructions, inside the bundle
DMA_NAME = "axi_dma_0"  # the AXI DMA cell of the block design, as PYNQ names it on the overlay
IP_CELL = "flow_nn_0"  # the model's HLS IP cell (its stream top: flow/hls4ml/stream_top.py)
# PYNQ 3.x images run pynq from a venv over the system Python (PYNQ sdbuild, packages/python_packages_jammy/qemu.sh),
# activated by /etc/profile.d for login shells; loading a bitstream needs root (pynq's mmap checks the euid)
PYNQ_VENV = "/usr/local/share/pynq-venv"


def board_requirements(board) -> list[str]:
    """What driver.py needs on `board`'s PYNQ image, as pip requirements: pynq of the image's release (pynq's
    versions follow the image releases, and pynq 4.0 dropped the Zynq-7000 boards) and numpy < 2 (pynq 3.x's
    own pin). pyproject's `board` extra is this list for the default board (tests/test_deploy.py checks it)."""
    return [f"pynq=={board.pynq_image}.*" if board.pynq_image else "pynq", "numpy<2"]


def bundle_readme(board, metadata: dict, files: list[str], samples: int, build_dir: Path) -> str:
    """README.md of a bundle: the board image it needs, what to install, how to copy it over and run it.

    metadata: the bundle's metadata.json; files: every file name of the bundle; samples: its test vectors;
    build_dir: the build dir, as `flow deploy --bundle` takes it (the archive and its top folder take its name)."""
    name = Path(build_dir).resolve().name
    archive = f"{name}.tar.gz"
    bitstream = metadata.get("bitstream")
    install = " ".join(f'"{requirement}"' for requirement in board_requirements(board))
    in_shape = ", ".join(map(str, metadata["input"]["shape"][1:]))
    out_size = 1
    for extent in metadata["output"]["shape"][1:]:
        out_size *= extent  # predict() returns each sample's outputs flat
    if board.pynq_image:
        image = [
            f"The PYNQ {board.pynq_image} image for the {board.name} (Python {board.pynq_python}; images: "
            "https://www.pynq.io/boards.html). It ships numpy and pynq, all `driver.py` imports besides Python's "
            "standard library.",
            "",
            "pynq needs root to load a bitstream: on the board, run the commands below in a root login shell "
            f"(`sudo -i`), which also activates the image's Python environment ({PYNQ_VENV}, where pynq is "
            "installed). If `python3 -c \"import pynq, numpy\"` fails there, install the versions `driver.py` is "
            "written for:",
        ]
        pins = "Keep the pins: pynq's version must match the image release."
    else:
        image = [
            f"PYNQ publishes no image for the {board.name}: `driver.py` needs a Linux on the board with Python 3.10 "
            "or newer, numpy and a pynq that supports the board (PYNQ's sdbuild builds such an image). pynq needs "
            "root to load a bitstream: run the commands below as root. Without pynq and numpy:",
        ]
        pins = "numpy must stay below 2, as pynq 3.x requires."
    lines = [
        f"# {name}: a flow bundle for the {board.name}",
        "",
        f"The model compiled for the {board.name} ({board.part}, PL clock {1e3 / board.clock_period_ns:g} MHz):",
        f"input shaped (N, {in_shape}) as `{metadata['input']['precision']}`, "
        f"{out_size} outputs per sample as `{metadata['output']['precision']}`.",
        "",
        "## Bitstream",
        "",
    ]
    if bitstream:
        lines += [
            f"This bundle has its bitstream: `{bitstream}`, with `{Path(bitstream).with_suffix('.hwh').name}` "
            "beside it (pynq reads the design's register map from the `.hwh` of the same name).",
        ]
    else:
        lines += [
            "**This bundle has no bitstream**: it was built without Vivado, so it cannot run on the board yet; "
            "`driver.py` stops with \"has no bitstream\". To get one, run this build's `flow compile` command again "
            "with `--bitstream` added, on a machine with Vitis HLS and Vivado (2023.2 or newer) on PATH, and copy "
            f"the new bundle. Until then, on the host, `flow infer --bundle {build_dir} --target csim` runs the "
            "same driver against the build's C simulation.",
        ]
    lines += [
        "",
        "## Board image",
        "",
        *image,
        "",
        "```bash",
        f"python3 -m pip install {install}",
        "```",
        "",
        f"{pins} Do not install flow itself on the board (it pulls torch and hls4ml); this folder is all the board "
        "needs.",
        "",
        "## Copy it to the board",
        "",
        "On the host, `flow deploy` checks this folder against `manifest.json`, packs it as one archive and, with "
        "`--host`, copies it with scp:",
        "",
        "```bash",
        f"flow deploy --bundle {build_dir} --host xilinx@BOARD:/home/xilinx",
        "```",
        "",
        f"Without `--host` it only writes `{archive}` beside the build dir; copy that with "
        f"`scp {archive} xilinx@BOARD:/home/xilinx/`. Then on the board:",
        "",
        "```bash",
        "sudo -i",
        "cd /home/xilinx",
        f"tar xzf {archive}",
        f"cd {name}",
        "```",
        "",
        "## Run",
        "",
        "```bash",
        f"python3 {DRIVER} selftest                # the {samples} test inputs through the FPGA, compared "
        "with the build's C simulation",
        f"python3 {DRIVER} benchmark --batch 256   # inferences per second and batch latency, best of 5",
        "```",
        "",
        "Both print one JSON line. `selftest` exits 0 when every output matches the C simulation bit for bit, "
        "1 when some do not; either command exits 2 with one `error:` line naming the fix (a damaged bundle, "
        "no bitstream, a DMA transfer that does not finish). Options: `--timeout S` (seconds each DMA transfer "
        "may take, default 5), `--repeats R` (benchmark, default 5), `--bundle DIR` (default: this folder).",
        "",
        "## Your own inputs",
        "",
        "From Python, in this folder:",
        "",
        "```python",
        "import numpy as np",
        "from driver import Accelerator",
        "",
        "accelerator = Accelerator(\".\")  # checks manifest.json, loads the bitstream",
        f"outputs = accelerator.predict(np.load(\"inputs.npy\"))  # (N, {in_shape}) -> (N, {out_size})",
        "```",
        "",
        f"Inputs are real numbers shaped (N, {in_shape}), laid out as the model takes them; the driver encodes "
        f"them as `{metadata['input']['precision']}` and sends up to 256 samples per DMA transfer (`batch_size=`).",
        "",
        "## Files",
        "",
    ]
    described = {
        DRIVER: "the board-side driver (Python 3.10, numpy and pynq only)",
        README: "this file",
        "metadata.json": "board, part, stream formats and the file names the driver reads",
        "test_inputs.npy": f"{samples} test inputs from the build's verification",
        "test_outputs_csim.npy": "their outputs in the build's C simulation, which `selftest` compares with",
        "manifest.json": "the sha256 of every other file; the driver checks it before loading anything",
    }
    if bitstream:
        described[bitstream] = "the bitstream"
        described[Path(bitstream).with_suffix(".hwh").name] = "its hardware handoff: the register map pynq reads"
    lines += [f"- `{file}`: {described.get(file, '')}".rstrip(": ") for file in sorted(files)]
    return "\n".join(lines) + "\n"
