"""The board side: the driver shipped in every bundle (Python 3.10, numpy and pynq only), and the bundle archive."""
from pathlib import Path

DRIVER_SOURCE = Path(__file__).resolve().parent / "pynq_driver.py"
DRIVER = "driver.py"  # its name inside the bundle
DMA_NAME = "axi_dma_0"  # the AXI DMA cell of the block design, as PYNQ names it on the overlay
IP_CELL = "flow_nn_0"  # the model's HLS IP cell (its stream top: flow/hls4ml/stream_top.py)
