"""Install the right PyTorch build for this machine, and write the lock file (used by `make`).

Runs before PyTorch is installed, so it imports nothing beyond the standard library::

    python -m helpers.torch_install install [--pip-args "ARGS"] [--dry-run]
    pip list --format=freeze | python -m helpers.torch_install lock > requirements.lock

``install`` asks pip what it would install for the ``torch==`` pin of requirements.txt
(``pip install --dry-run --report``), then :func:`decide`:

* ``--pip-args`` (``make ... TORCH_PIP_ARGS=...``) given: install with them, nothing asked;
* macOS: the default wheel (CPU and Apple's MPS);
* pip plans a CPU build (no ``nvidia-*``/``triton`` packages): install exactly that wheel,
  straight from its file if it lies on this machine, so no index is contacted again;
* pip plans the multi-GB CUDA build and the machine has no NVIDIA GPU (no working
  ``nvidia-smi``): install the CPU build from PyTorch's CPU wheel index instead;
* pip plans the CUDA build and there is an NVIDIA GPU: accept it.

torch itself is installed without its dependencies; the next step of the set-up
(``pip install -r requirements.txt -c requirements.lock``) installs them, at the locked
versions. Every choice is announced in one line; a failure ends with one line saying
what to run by hand.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

CPU_INDEX = "https://download.pytorch.org/whl/cpu"

# Packages only a CUDA build of torch pulls in: their presence in pip's plan means "CUDA
# build"; they never go into requirements.lock, which must install on any machine.
CUDA_ONLY_PREFIXES = ("nvidia-", "cuda-", "triton")


@dataclass(frozen=True)
class Decision:
    """What to install: ``pip install <pip_args>``, announced by ``message``."""
    kind: str               # "override", "default", "local-wheel", "cpu-index" or "cuda"
    pip_args: list[str]     # the arguments after `pip install`
    message: str            # one line for the learner


def normalise(name: str) -> str:
    """A distribution name as pip compares it (PEP 503): lower case, runs of -_. as '-'."""
    return re.sub(r"[-_.]+", "-", name).lower()


def is_cuda_only(name: str) -> bool:
    """True for the packages only a CUDA build of torch needs (nvidia-*, cuda-*, triton)."""
    return normalise(name).startswith(CUDA_ONLY_PREFIXES)


def planned_torch(plan: dict) -> dict | None:
    """The torch entry of a ``pip install --dry-run --report`` plan, or None."""
    for item in plan.get("install", []):
        if normalise(item["metadata"]["name"]) == "torch":
            return item
    return None


def plan_is_cuda(plan: dict) -> bool:
    """Whether pip's plan is a CUDA build of torch: a ``+cu...`` version, or CUDA packages."""
    torch = planned_torch(plan)
    local = torch["metadata"]["version"].partition("+")[2] if torch else ""
    if local.startswith("cu"):
        return True
    return any(is_cuda_only(item["metadata"]["name"]) for item in plan.get("install", []))


def local_wheel(plan: dict) -> str | None:
    """The path of the planned torch wheel when it is a file on this machine, else None."""
    torch = planned_torch(plan)
    url = (torch or {}).get("download_info", {}).get("url", "")
    parsed = urlparse(url)
    if parsed.scheme != "file" or not parsed.path.endswith(".whl"):
        return None
    return unquote(parsed.path)


def decide(plan: dict | None, has_nvidia_gpu: bool, platform: str, override: str | None,
           requirement: str = "torch==2.13.0") -> Decision:
    """Which torch build to install, from pip's dry-run ``plan`` (its ``--report`` JSON).

    ``platform`` is ``sys.platform``; ``override`` the learner's own pip arguments
    (TORCH_PIP_ARGS), which win over everything and need no plan. A pure function:
    it runs nothing, so every case is tested in tests/test_torch_install.py.
    """
    if override and override.strip():
        return Decision("override", [*shlex.split(override), requirement],
                        f"torch: installing {requirement} with TORCH_PIP_ARGS={override.strip()}")
    if platform == "darwin":
        return Decision("default", ["--no-deps", requirement],
                        f"torch: macOS: installing the default {requirement} (CPU and Apple MPS)")
    if plan is None or planned_torch(plan) is None:
        raise ValueError("pip's plan does not install torch: nothing to decide")
    version = planned_torch(plan)["metadata"]["version"]
    if not plan_is_cuda(plan):
        wheel = local_wheel(plan)
        if wheel:
            return Decision("local-wheel", ["--no-deps", "--no-index", wheel],
                            f"torch: installing the CPU build {version} from {Path(wheel).name} "
                            "(a wheel on this machine; no index contacted)")
        return Decision("default", ["--no-deps", requirement],
                        f"torch: installing the CPU build {version} that pip chose")
    if not has_nvidia_gpu:
        return Decision("cpu-index", ["--no-deps", "--index-url", CPU_INDEX, requirement],
                        "torch: no NVIDIA GPU here (no working nvidia-smi), so the CPU build "
                        f"instead of the multi-GB CUDA one, from {CPU_INDEX}")
    return Decision("cuda", ["--no-deps", requirement],
                    f"torch: NVIDIA GPU found: installing the CUDA build {version} that pip chose "
                    "(several GB)")


def has_nvidia_gpu() -> bool:
    """True if ``nvidia-smi -L`` runs and lists at least one GPU."""
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def torch_requirement(requirements_text: str) -> str:
    """The ``torch==X`` line of requirements.txt."""
    for line in requirements_text.splitlines():
        line = line.split("#")[0].strip()
        if normalise(line.split("==")[0].strip()) == "torch" and "==" in line:
            return line.replace(" ", "")
    raise ValueError("requirements.txt has no 'torch==VERSION' line")


def installed_version(name: str) -> str | None:
    """The version of ``name`` installed in this Python, or None (imports nothing of it)."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def lock_from_freeze(freeze_text: str, python: str = "", system: str = "") -> str:
    """requirements.lock from ``pip list --format=freeze``: every ``name==version`` sorted,
    without CUDA-only packages, pip itself, editable or direct-URL installs, and without
    local version labels (``torch==2.13.0``, never ``2.13.0+cpu``), so one lock serves
    Linux with or without a GPU and macOS."""
    pins = {}
    for line in freeze_text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-")) or " @ " in line or "==" not in line:
            continue
        name, version = (part.strip() for part in line.split("==", 1))
        if is_cuda_only(name) or normalise(name) == "pip":
            continue
        pins[normalise(name)] = f"{name}=={version.partition('+')[0]}"
    made_on = f" on Python {python} ({system})" if python else ""
    header = [
        f"# requirements.lock: every package of a clean install of requirements.txt{made_on}.",
        "# Made by `make lock`; do not edit by hand: change requirements.txt, then run make lock.",
        "# `make` installs with `pip install -r requirements.txt -c requirements.lock`.",
        "# No hashes, local version labels or CUDA-only packages (nvidia-*, cuda-*, triton): the",
        "# same file serves Linux with or without a GPU, and macOS.",
    ]
    return "\n".join(header + [pins[k] for k in sorted(pins)]) + "\n"


def _shown(executable: str) -> str:
    """The interpreter as the learner would type it: relative to the current folder if inside."""
    rel = os.path.relpath(executable)
    return executable if rel.startswith("..") else rel


def _fail(message: str) -> None:
    print(message, file=sys.stderr)
    raise SystemExit(1)


def install(pip_args: str | None, requirements: Path, dry_run: bool = False) -> Decision | None:
    """Choose and install torch for this machine (see the module's docstring)."""
    requirement = torch_requirement(requirements.read_text())
    pinned = requirement.split("==", 1)[1]
    python = _shown(sys.executable)
    by_hand = (f"{python} -m pip install {requirement} --index-url {CPU_INDEX} "
               f"(CPU build; for a GPU: pip install {requirement}), then run make again")
    current = installed_version("torch")
    if not (pip_args and pip_args.strip()) and current and current.partition("+")[0] == pinned:
        print(f"torch: {current} already installed")
        return None
    plan = None
    if not (pip_args and pip_args.strip()) and sys.platform != "darwin":
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "torch-plan.json"
            asked = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                 "--quiet", "--report", str(report), requirement],
                capture_output=True, text=True)
            if asked.returncode != 0 or not report.exists():
                tail = (asked.stderr.strip().splitlines() or ["no message"])[-1]
                _fail(f"torch: could not ask pip which build it would install ({tail}); "
                      f"install it by hand: {by_hand}")
            plan = json.loads(report.read_text())
    gpu = has_nvidia_gpu() if plan is not None and plan_is_cuda(plan) else False
    decision = decide(plan, gpu, sys.platform, pip_args, requirement)
    print(decision.message)
    if dry_run:
        print("pip install " + shlex.join(decision.pip_args))
        return decision
    command = [sys.executable, "-m", "pip", "install", "--quiet", *decision.pip_args]
    if subprocess.run(command).returncode != 0:
        _fail(f"torch: the install failed (pip's message above); run by hand: "
              f"{python} -m pip install {shlex.join(decision.pip_args)}, then run make again")
    return decision


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m helpers.torch_install", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    inst = commands.add_parser("install", help="install the torch build right for this machine")
    inst.add_argument("--pip-args", default=os.environ.get("TORCH_PIP_ARGS", ""),
                      help="pip arguments that override the choice (TORCH_PIP_ARGS)")
    inst.add_argument("--requirements", type=Path, default=Path("requirements.txt"))
    inst.add_argument("--dry-run", action="store_true", help="print the choice, install nothing")
    commands.add_parser("lock", help="read `pip list --format=freeze`, write requirements.lock")
    args = parser.parse_args(argv)
    if args.command == "install":
        install(args.pip_args, args.requirements, args.dry_run)
    else:
        import platform

        python = ".".join(map(str, sys.version_info[:2]))
        sys.stdout.write(lock_from_freeze(sys.stdin.read(), python, platform.system()))


if __name__ == "__main__":
    main()
