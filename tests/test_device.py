"""helpers.device(): the one place a device is chosen, on machines faked with monkeypatch.

Precedence: an explicit device argument, then COURSE_DEVICE, then detection (CUDA, MPS, CPU).
"""
import pytest
import torch

import helpers


@pytest.fixture
def machine(monkeypatch):
    """Fake the devices present: machine(cuda=2, mps=False) makes a two-GPU machine."""
    monkeypatch.delenv("COURSE_DEVICE", raising=False)

    def fake(cuda: int = 0, mps: bool = False) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)

    return fake


@pytest.mark.parametrize("cuda, mps, expected", [(0, False, "cpu"), (0, True, "mps"),
                                                 (1, False, "cuda"), (2, True, "cuda")])
def test_detection_prefers_cuda_then_mps_then_cpu(machine, cuda, mps, expected):
    machine(cuda=cuda, mps=mps)
    assert helpers.device() == torch.device(expected)
    assert helpers.device("auto") == torch.device(expected)
    assert helpers.device("AUTO ") == torch.device(expected)


@pytest.mark.parametrize("prefer", [None, "auto"])
def test_course_device_wins_over_detection_also_for_auto(machine, monkeypatch, prefer):
    machine(cuda=1, mps=True)
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert helpers.device(prefer) == torch.device("cpu")
    monkeypatch.setenv("COURSE_DEVICE", "mps")
    assert helpers.device(prefer) == torch.device("mps")
    monkeypatch.setenv("COURSE_DEVICE", "auto")        # "auto" in the variable: detection
    assert helpers.device(prefer) == torch.device("cuda")
    monkeypatch.setenv("COURSE_DEVICE", "")            # empty: as if unset
    assert helpers.device(prefer) == torch.device("cuda")


def test_an_explicit_device_wins_over_course_device(machine, monkeypatch):
    machine(cuda=1)
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert helpers.device("cuda") == torch.device("cuda")
    assert helpers.device(" CUDA:0 ") == torch.device("cuda:0")


def test_a_gpu_index_must_exist(machine, monkeypatch):
    machine(cuda=1)
    assert helpers.device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(RuntimeError, match=r"'cuda:7'.*does not exist.*1 CUDA device.*cuda:0"):
        helpers.device("cuda:7")
    machine(cuda=2)
    assert helpers.device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(RuntimeError, match=r"'cuda:2'.*2 CUDA device.*cuda:0, cuda:1"):
        helpers.device("cuda:2")
    monkeypatch.setenv("COURSE_DEVICE", "cuda:5")      # the message names where it came from
    with pytest.raises(RuntimeError, match="COURSE_DEVICE=cuda:5"):
        helpers.device()


def test_an_absent_device_is_refused_with_a_clear_message(machine, monkeypatch):
    machine(cuda=0, mps=False)
    with pytest.raises(RuntimeError, match="'cuda'.*not available.*'auto'"):
        helpers.device("cuda")
    with pytest.raises(RuntimeError, match="'mps'.*not available"):
        helpers.device("mps")
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="COURSE_DEVICE=cuda.*not available"):
        helpers.device("auto")
    assert helpers.device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "tpu", "cuda:-1"])
def test_unknown_devices_are_named(machine, name):
    machine(cuda=1)
    with pytest.raises(ValueError, match="unknown device.*'cpu', 'cuda', 'cuda:N'"):
        helpers.device(name)

