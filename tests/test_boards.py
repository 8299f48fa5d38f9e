"""Board files: the table every board declares, and the error for an unknown board."""
import pytest

from flow.boards import known_boards, load_board
from flow.errors import FlowError


def test_pynq_z2_board_table():
    board = load_board("pynq-z2")
    assert board.part == "xc7z020clg400-1"
    assert board.resources["bram18"] == 280 and board.resources["dsp"] == 220
    assert "pynq-z2" in known_boards()


def test_every_board_file_loads_with_a_consistent_table(shared_dir):
    import json

    boards = known_boards()
    assert set(boards) >= {"pynq-z2", "zcu104", "ultra96-v2", "kv260", "zcu102"}
    hls4ml_parts = json.loads((shared_dir / "reference" / "hls4ml_repo_test_data" /
                               "vivado_accelerator_supported_boards.json").read_text())
    for name in boards:
        board = load_board(name)
        assert board.name == name
        assert all(isinstance(board.resources[key], int) and board.resources[key] >= 0
                   for key in ("lut", "ff", "bram18", "dsp", "uram"))
        assert board.resources["ff"] == 2 * board.resources["lut"]  # 7-series and UltraScale+: 2 FFs per LUT
        prefix = {"zynq-7000": "xc7z", "zynq-ultrascale+": ("xczu", "xck26")}[board.family]
        assert board.part.startswith(prefix)
        assert board.dma_data_width == (64 if board.family == "zynq-7000" else 128)
        assert board.pynq_python in ("3.10", None) and (board.pynq_image is None) == (board.pynq_python is None)
        if name in hls4ml_parts:
            assert board.part == hls4ml_parts[name]["part"]


def test_unknown_board_names_the_known_ones():
    with pytest.raises(FlowError, match="known boards: .*pynq-z2"):
        load_board("zedboard-9000")
