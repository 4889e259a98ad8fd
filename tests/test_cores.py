"""torch's thread setting is the process's: overlapping `torch_threads` blocks must leave it as it was."""

from __future__ import annotations

import torch

from core.models.cores import torch_threads


def test_blocks_that_end_out_of_order_put_back_the_setting_from_before_the_first():
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        # A live session's labelling begins, then a batch job's embedding; the labelling ends first.
        labelling, embedding = torch_threads(1), torch_threads(2)
        labelling.__enter__()
        assert torch.get_num_threads() == 1
        embedding.__enter__()
        assert torch.get_num_threads() == 2
        labelling.__exit__(None, None, None)
        assert torch.get_num_threads() == 2  # the block still running keeps its setting
        embedding.__exit__(None, None, None)
        assert torch.get_num_threads() == 3  # not the 1 that was set when the embedding began
        with torch_threads(1):
            pass
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
