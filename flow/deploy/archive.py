"""The bundle as one tarball for the board (`flow deploy`), and its safe unpacking (`flow infer --bundle x.tar.gz`)."""
from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from ..errors import FlowError
from ..paths import atomic_write_bytes
from .pynq_driver import BundleError, read_bundle

ARCHIVE_SUFFIX = ".tar.gz"


def pack(bundle: Path, archive: Path) -> Path:
    """bundle/ (checked against its manifest first) as <archive>, one top folder named like the archive."""
    try:
        read_bundle(bundle)
    except BundleError as exc:
        raise FlowError(str(exc)) from None
    top = archive.name.removesuffix(ARCHIVE_SUFFIX)
    with tempfile.TemporaryDirectory() as scratch:
        staged = Path(scratch) / archive.name
        with tarfile.open(staged, "w:gz") as tar:
            for path in sorted(p for p in bundle.iterdir() if p.is_file()):
                tar.add(path, arcname=f"{top}/{path.name}")
        atomic_write_bytes(archive, staged.read_bytes())
    return archive


def copy_to_host(archive: Path, destination: str) -> str:
    """scp the archive to HOST:DIR (the board); the board unpacks it with tar and runs driver.py selftest."""
    if shutil.which("scp") is None:
        raise FlowError("cannot copy to the board: scp not on PATH; install openssh-client or copy the archive by hand")
    if ":" not in destination:
        raise FlowError(f"--host '{destination}' is not HOST:DIR; write e.g. xilinx@pynq:/home/xilinx")
    result = subprocess.run(["scp", "-q", str(archive), destination], capture_output=True, text=True)
    if result.returncode:
        raise FlowError(f"scp to {destination} failed ({result.stderr.strip()[:200]}); check the host and that ssh "
                        "to it works")
    return destination


def unpack(archive: Path, destination: Path) -> Path:
    """The bundle folder inside `archive`, extracted under `destination`; members that would land elsewhere are refused."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(destination, filter="data")  # refuses absolute paths, '..', links out, devices
    except tarfile.FilterError as exc:
        raise FlowError(f"{archive} is not a bundle archive flow can trust ({exc}); re-create it with 'flow deploy'") from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise FlowError(f"{archive} is not a readable tar archive ({exc}); re-create it with 'flow deploy'") from None
    folders = [p for p in destination.iterdir() if p.is_dir()]
    if len(folders) != 1:
        raise FlowError(f"{archive} should hold one bundle folder, found {len(folders)}; re-create it with 'flow deploy'")
    return folders[0]
