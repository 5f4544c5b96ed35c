"""The set-up's choice of PyTorch build (helpers.torch_install.decide) and the lock file."""
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.torch_install import (
    CPU_INDEX,
    decide,
    lock_from_freeze,
    plan_is_cuda,
    torch_requirement,
)

ROOT = Path(__file__).resolve().parent.parent
REQ = "torch==2.13.0"


def item(name, version, url="https://files.pythonhosted.org/packages/x/y.whl"):
    """One entry of `pip install --dry-run --report`'s "install" list."""
    return {"metadata": {"name": name, "version": version}, "download_info": {"url": url}}


LOCAL_CPU_PLAN = {"install": [
    item("torch", "2.13.0+cpu",
         "file:///opt/wheels/torch-2.13.0%2Bcpu-cp311-cp311-manylinux_2_28_x86_64.whl"),
    item("sympy", "1.14.0", "file:///opt/pypi/files/sympy-1.14.0-py3-none-any.whl"),
    item("filelock", "4.2.12"),
]}
REMOTE_CPU_PLAN = {"install": [item("torch", "2.13.0"), item("sympy", "1.14.0")]}  # e.g. Windows
CUDA_PLAN = {"install": [  # what pypi.org offers a Linux x86_64 machine
    item("torch", "2.13.0"), item("nvidia-cudnn-cu13", "9.20.0.48"),
    item("nvidia_cublas", "13.1.1.3"), item("triton", "3.7.1"), item("cuda-toolkit", "13.0.3.0"),
    item("sympy", "1.14.0"),
]}
CUDA_INDEX_PLAN = {"install": [item("torch", "2.13.0+cu128"), item("sympy", "1.14.0")]}


def test_a_cpu_wheel_on_this_machine_is_installed_from_its_file_with_no_index():
    for gpu in (False, True):                # a GPU does not matter: pip already chose CPU
        d = decide(LOCAL_CPU_PLAN, has_nvidia_gpu=gpu, platform="linux", override=None)
        assert d.kind == "local-wheel"
        assert d.pip_args == ["--no-deps", "--no-index",
                              "/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"]
        assert "CPU build 2.13.0+cpu" in d.message and "\n" not in d.message


def test_a_cpu_plan_from_an_index_is_accepted_as_is():
    d = decide(REMOTE_CPU_PLAN, has_nvidia_gpu=False, platform="win32", override=None)
    assert d.kind == "default" and d.pip_args == ["--no-deps", REQ]


def test_a_cuda_plan_without_a_gpu_takes_the_cpu_index():
    for plan in (CUDA_PLAN, CUDA_INDEX_PLAN):
        d = decide(plan, has_nvidia_gpu=False, platform="linux", override=None)
        assert d.kind == "cpu-index"
        assert d.pip_args == ["--no-deps", "--index-url", CPU_INDEX, REQ]
        assert "no NVIDIA GPU" in d.message and CPU_INDEX in d.message and "\n" not in d.message


def test_a_cuda_plan_with_a_gpu_is_accepted():
    d = decide(CUDA_PLAN, has_nvidia_gpu=True, platform="linux", override=None)
    assert d.kind == "cuda" and d.pip_args == ["--no-deps", REQ]
    assert "NVIDIA GPU found" in d.message and "CUDA build" in d.message


def test_macos_takes_the_default_wheel_without_asking():
    d = decide(None, has_nvidia_gpu=False, platform="darwin", override=None)
    assert d.kind == "default" and d.pip_args == ["--no-deps", REQ]
    assert "macOS" in d.message


@pytest.mark.parametrize("plan", [None, LOCAL_CPU_PLAN, CUDA_PLAN])
@pytest.mark.parametrize("platform", ["linux", "darwin"])
def test_torch_pip_args_override_everything(plan, platform):
    args = "--index-url https://download.pytorch.org/whl/cu128"
    for gpu in (False, True):
        d = decide(plan, has_nvidia_gpu=gpu, platform=platform, override=args)
        assert d.kind == "override"
        assert d.pip_args == ["--index-url", "https://download.pytorch.org/whl/cu128", REQ]
        assert "TORCH_PIP_ARGS=" + args in d.message
    # blank override: as if none was given
    assert decide(LOCAL_CPU_PLAN, False, "linux", override="  ").kind == "local-wheel"


def test_cuda_plans_are_recognised():
    assert plan_is_cuda(CUDA_PLAN) and plan_is_cuda(CUDA_INDEX_PLAN)
    assert not plan_is_cuda(LOCAL_CPU_PLAN) and not plan_is_cuda(REMOTE_CPU_PLAN)


def test_a_plan_without_torch_is_an_error():
    with pytest.raises(ValueError, match="does not install torch"):
        decide({"install": [item("sympy", "1.14.0")]}, False, "linux", None)


def test_the_torch_pin_is_read_from_requirements_txt():
    assert torch_requirement("# comment\nnumpy==2.4.6\ntorch==2.13.0  # the CPU build\n") == REQ
    assert torch_requirement((ROOT / "requirements.txt").read_text()).startswith("torch==")
    with pytest.raises(ValueError, match="torch==VERSION"):
        torch_requirement("numpy==2.4.6\ntorchvision==0.29.1\n")


def test_the_lock_drops_cuda_packages_local_labels_pip_and_urls():
    freeze = "\n".join([
        "torch==2.13.0+cpu", "nvidia-cublas==13.1.1.3", "nvidia_nccl_cu13==2.29.7", "triton==3.7.1",
        "cuda-bindings==13.5.0", "pip==23.2.1", "Jinja2==3.1.6", "-e git+https://x#egg=y",
        "helpers @ file:///work", "numpy==2.4.6", "",
    ])
    lock = lock_from_freeze(freeze, "3.11", "Linux")
    pins = [line for line in lock.splitlines() if not line.startswith("#")]
    assert pins == ["Jinja2==3.1.6", "numpy==2.4.6", "torch==2.13.0"]
    assert "Python 3.11 (Linux)" in lock


def test_the_committed_lock_is_complete_and_portable():
    lock = (ROOT / "requirements.lock").read_text()
    pins = {line.split("==")[0].lower(): line.split("==")[1]
            for line in lock.splitlines() if line and not line.startswith("#")}
    assert all("+" not in v for v in pins.values()), "local version labels in requirements.lock"
    assert not [n for n in pins if n.startswith(("nvidia", "cuda-", "triton"))]
    assert "--hash" not in lock
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:                             # every top-level pin is in the lock, same version
            name, version = line.split("==")
            assert pins.get(name.lower()) == version, f"{line} differs in requirements.lock"


def test_the_module_runs_before_torch_is_installed():
    """`python -m helpers.torch_install` must import only the standard library."""
    code = ("import sys; sys.modules['torch'] = None; sys.modules['numpy'] = None\n"
            "from helpers.torch_install import main\n"
            "main(['install', '--dry-run', '--pip-args=--index-url https://example.invalid'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "TORCH_PIP_ARGS=--index-url https://example.invalid" in out.stdout
    assert "pip install --index-url https://example.invalid torch==" in out.stdout
