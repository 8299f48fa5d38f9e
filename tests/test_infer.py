"""`flow infer` on the csim target reproducing compile-time csim, and its error without a build."""
import numpy as np
import pytest

from conftest import run_flow


def test_infer_reproduces_compile_csim(default_build):
    """The csim target: the board driver's encode -> DMA -> decode path around the build's C simulation."""
    from flow.deploy.pynq_driver import BundleError
    from flow.infer import accelerator

    build_dir, _ = default_build
    inputs = np.load(build_dir / "verify_inputs.npy")
    device = accelerator(build_dir, "csim")
    outputs = device.predict(inputs[:50], batch_size=16)  # four DMA transfers
    assert np.array_equal(outputs, np.load(build_dir / "csim_outputs.npy")[:50])
    single = device.predict(inputs[3, ...])
    assert np.array_equal(single[0], outputs[3])
    with pytest.raises(BundleError, match=r"shaped \(N, 1, 8, 8\)"):
        device.predict(np.zeros((2, 28, 28), dtype=np.float32))


def test_infer_cli_without_build(tmp_path):
    result = run_flow("infer", "--bundle", str(tmp_path))
    assert result.returncode == 2 and "run 'flow compile" in result.stderr
