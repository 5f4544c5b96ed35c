"""conv2d three ways: the sliding-window loop, unfold (im2col) + matmul, and F.conv2d.

Prints the best-of-N time of each on a few layer shapes, and how much faster the
unfold version and PyTorch are than the loop. A script, not a test: timings depend
on the machine and on what else it is running. Run: ``.venv/bin/python bench/conv_bench.py``.
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import time

import torch
import torch.nn.functional as F

from helpers.conv import conv2d_loop, conv2d_unfold

# name, (N, C_in, H, W), (C_out, k), stride, padding
LAYERS = [
    ("MNIST conv1", (64, 1, 28, 28), (16, 3), 1, 1),
    ("MNIST conv2", (64, 16, 14, 14), (32, 3), 1, 1),
    ("CIFAR-like 5x5 s2", (32, 3, 32, 32), (32, 5), 2, 2),
]


def steady_malloc() -> bool:
    """Stop glibc from returning freed memory to the OS after every call (Linux only).

    A conv allocates a few MB of temporaries per call. glibc may hand them back to the
    kernel on free and page-fault them in again on the next call, which costs
    milliseconds and makes whichever function happens to hit it look 5-10x slower.
    Raising the trim and mmap thresholds (mallopt) keeps that memory in the process.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc and libc.mallopt(m_trim_threshold, 256 << 20)
                    and libc.mallopt(m_mmap_threshold, 256 << 20))
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return False


def best_time(fn, repeats: int, min_total: float = 0.3) -> float:
    """Fastest run, in seconds: the one least disturbed by other processes.

    Runs at least ``repeats`` times and, for fast functions, for about ``min_total``
    seconds, so a burst of other work on a shared machine cannot spoil every run.
    """
    for _ in range(3):  # warm-up: first calls pay for lazy initialisation and memory allocation
        fn()
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    best = once
    for _ in range(max(repeats, min(2000, int(min_total / max(once, 1e-6))))):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1, as lesson 10; 0 = torch's choice, which "
                             "on a busy machine measures mostly threads waiting for each other)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    steady = steady_malloc()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"best of >= {args.repeats} runs (more for fast ones), "
          f"glibc trimming {'off' if steady else 'untouched'}")
    g = torch.Generator().manual_seed(0)
    print(f"{'layer':20s} {'loop ms':>9s} {'unfold ms':>10s} {'F.conv2d ms':>12s} "
          f"{'unfold speed-up':>16s} {'F.conv2d speed-up':>18s} {'max rel diff':>13s}")
    for name, shape, (c_out, k), stride, padding in LAYERS:
        x = torch.randn(*shape, generator=g)
        w = torch.randn(c_out, shape[1], k, k, generator=g)
        b = torch.randn(c_out, generator=g)
        with torch.no_grad():
            ref = F.conv2d(x, w, b, stride=stride, padding=padding)
            # largest difference from F.conv2d, relative to the largest output (float32 rounding)
            diff = max((conv(x, w, b, stride, padding) - ref).abs().max().item()
                       for conv in (conv2d_loop, conv2d_unfold)) / ref.abs().max().item()
            convs = [("loop", conv2d_loop), ("unfold", conv2d_unfold), ("torch", F.conv2d)]
            t = {label: best_time(lambda conv=conv, x=x, w=w, b=b, s=stride, p=padding:
                                  conv(x, w, b, s, p), args.repeats)
                 for label, conv in convs}
        print(f"{name:20s} {t['loop'] * 1e3:9.2f} {t['unfold'] * 1e3:10.2f} "
              f"{t['torch'] * 1e3:12.2f} {t['loop'] / t['unfold']:15.0f}x "
              f"{t['loop'] / t['torch']:17.0f}x {diff:13.1e}")


if __name__ == "__main__":
    main()
