"""Shared pytest set-up: tests marked ``gpu`` skip on a machine without a CUDA GPU."""
import pytest


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (compares the GPU result with the CPU's)")
    for item in gpu_items:
        item.add_marker(skip)
