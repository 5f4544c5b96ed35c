"""How fast is helpers.engine.Value next to micrograd 0.1.0? Prints figures; asserts nothing.

The workload is micrograd's own demo: the two-moons set (100 points), MLP(2, [16, 16, 1]),
SVM max-margin loss + 1e-4 L2, SGD with a decaying learning rate; one step = forward,
zero_grad, backward, update. Both engines start from the same weights (ours are copied
into micrograd's MLP) and must produce the same losses.

Each engine runs in its own fresh Python process, because the garbage collector's cost
depends on everything else on the heap; the processes alternate (ours, micrograd, ours,
micrograd, ...) so that a busy machine slows both alike. By default a child imports only
its engine (a bare heap, as in micrograd's demo); ``--with-torch`` also imports PyTorch
in both children, which is what a notebook's heap looks like.

Also timed: backward() through a chain of 100,000 nodes, x * c * c * ... * c (micrograd's
recursive topological sort cannot do it).

    python bench/engine_bench.py [--steps 20] [--rounds 2] [--with-torch]

``make bench`` installs micrograd (the ``bench`` extra); this script installs nothing
and, without micrograd, still times our engine and says what it skipped.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SEED = 1337
ALPHA = 1e-4
CHAIN = 100_000


# ------------------------------------------------------------------ child side

def _import_engine(engine: str, with_torch: bool):
    """(Value, MLP, sum function) of one engine, importing nothing else unless asked."""
    if with_torch:
        import torch  # noqa: F401  (only to make the heap look like a notebook's)
    if engine in ("ours", "ours-sum"):
        # helpers/__init__.py imports torch lazily, so this loads the pure-Python engine only.
        from helpers.engine import Value, vsum
        from helpers.nn import MLP, Neuron
        if engine == "ours-sum":  # the neuron as n products + one n-ary sum node, not one dot node
            def neuron_with_sum(self, x):
                act = vsum([self.b, *(wi * xi for wi, xi in zip(self.w, x))])
                return act.relu() if self.nonlin else act
            Neuron.__call__ = neuron_with_sum
        return Value, MLP, vsum
    from micrograd.engine import Value
    from micrograd.nn import MLP
    return Value, MLP, sum


def _child(engine: str, job: dict) -> dict:
    import gc
    import random

    Value, MLP, total = _import_engine(engine, job["with_torch"])
    random.seed(SEED)
    model = MLP(2, [16, 16, 1])
    params = model.parameters()
    for p, w in zip(params, job["weights"], strict=True):  # the same start for both engines
        p.data = w
    X, y = job["X"], job["y"]

    def loss():
        inputs = [[Value(a), Value(b)] for a, b in X]
        scores = [model(x) for x in inputs]
        losses = [(1 + -yi * si).relu() for yi, si in zip(y, scores)]
        data_loss = total(losses) * (1.0 / len(losses))
        reg_loss = ALPHA * total(p * p for p in params)
        return data_loss + reg_loss

    in_gc, started = [0.0], [0.0]

    def gc_clock(phase, info):
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            in_gc[0] += time.perf_counter() - started[0]

    gc.callbacks.append(gc_clock)
    losses, times, gc_times, nodes = [], [], [], 0
    for k in range(job["steps"]):
        in_gc[0] = 0.0
        t0 = time.perf_counter()
        total_loss = loss()
        model.zero_grad()
        total_loss.backward()
        lr = 1.0 - 0.9 * k / 100
        for p in params:
            p.data -= lr * p.grad
        times.append(time.perf_counter() - t0)
        gc_times.append(in_gc[0])
        losses.append(total_loss.data)
        if k == 0:
            nodes = _count_nodes(total_loss)
        del total_loss
    gc.callbacks.remove(gc_clock)

    chain = None
    try:
        x, factor = Value(0.5), Value(1.0000001)
        y_ = x
        for _ in range(CHAIN - 2):  # x, factor and 99,998 products: a chain of CHAIN nodes
            y_ = y_ * factor
        t0 = time.perf_counter()
        y_.backward()
        chain = time.perf_counter() - t0
    except RecursionError:
        chain = "RecursionError"
    return {"losses": losses, "times": times, "gc": gc_times, "nodes": nodes, "chain": chain}


def _count_nodes(root) -> int:
    seen, stack = set(), [root]
    while stack:
        v = stack.pop()
        if id(v) not in seen:
            seen.add(id(v))
            stack.extend(v._prev)
    return len(seen)


# ----------------------------------------------------------------- parent side

def _run_child(engine: str, job: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", engine],
                          input=json.dumps(job), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"the {engine} child process failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def _median(xs):
    xs = sorted(xs)
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="training steps per process")
    parser.add_argument("--rounds", type=int, default=2, help="processes per engine, alternating")
    parser.add_argument("--with-torch", action="store_true", help="import torch in both children")
    parser.add_argument("--child", choices=["ours", "ours-sum", "micrograd"],
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steps < 2 or args.rounds < 1:
        parser.error("use --steps 2 or more (the first step of each process is a warm-up) "
                     "and --rounds 1 or more")
    if args.child:
        print(json.dumps(_child(args.child, json.loads(sys.stdin.read()))))
        return

    import random

    sys.path.insert(0, str(REPO))
    from helpers.data import make_moons
    from helpers.nn import MLP

    X, y01 = make_moons(n_samples=100, noise=0.1, seed=0)
    random.seed(SEED)
    weights = [p.data for p in MLP(2, [16, 16, 1]).parameters()]
    job = {"X": X.tolist(), "y": [2.0 * v - 1.0 for v in y01.tolist()], "weights": weights,
           "steps": args.steps, "with_torch": args.with_torch}

    have_micrograd = importlib.util.find_spec("micrograd") is not None
    engines = ["ours", "ours-sum", "micrograd"] if have_micrograd else ["ours", "ours-sum"]
    if args.with_torch:
        heap = "torch imported in both"
    else:
        heap = "bare heap: each child imports only its engine"
    print(f"moons step: 100 points, MLP(2, [16, 16, 1]), {args.steps} steps x {args.rounds} "
          f"processes per engine, alternating ({heap})")
    if not have_micrograd:
        print("micrograd is not installed: timing our engine only "
              "(pip install micrograd==0.1.0, or `make bench`, to compare)")

    runs = {e: [] for e in engines}
    for _ in range(args.rounds):
        for engine in engines:
            runs[engine].append(_run_child(engine, job))

    per_step = {}
    for engine in engines:
        # [1:] skips each run's warm-up step
        times = [t for run in runs[engine] for t in run["times"][1:]]
        gcs = [g for run in runs[engine] for g in run["gc"][1:]]
        per_step[engine] = _median(times)
        print(f"  {engine:9s}: {1e3 * per_step[engine]:8.1f} ms/step (median), "
              f"{100 * sum(gcs) / sum(times):4.1f} % of it in the garbage collector, "
              f"{runs[engine][0]['nodes']:,} graph nodes per step")
    print("  (ours: Neuron = one dot node for b + sum w*x; "
          "ours-sum: n product nodes + one n-ary sum node)")
    if have_micrograd:
        for engine in ("ours", "ours-sum"):
            diff = max(abs(a - b) for ro, rm in zip(runs[engine], runs["micrograd"])
                       for a, b in zip(ro["losses"], rm["losses"]))
            print(f"  speed-up {engine:8s}: {per_step['micrograd'] / per_step[engine]:5.1f}x, "
                  f"largest loss difference from micrograd over {args.steps} steps: {diff:.3g}")
        print(f"  losses: first {runs['ours'][0]['losses'][0]:.6f}, step {args.steps} "
              f"{runs['ours'][0]['losses'][-1]:.6f}")
        same = all(run["losses"] == runs["ours"][0]["losses"] for run in runs["ours"])
        print(f"  our losses identical across processes: {same}")

    print(f"backward() through a chain of {CHAIN:,} nodes (x * c * c * ... * c, one shared c):")
    for engine in engines:
        chain = runs[engine][0]["chain"]
        if isinstance(chain, float):
            figure = f"{1e3 * min(run['chain'] for run in runs[engine]):.1f} ms"
        else:
            figure = f"fails with {chain} (recursive topological sort)"
        print(f"  {engine:9s}: {figure}")


if __name__ == "__main__":
    main()
