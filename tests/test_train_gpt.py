"""helpers.train_gpt: the schedule, exact resume (also after Ctrl-C), and torchrun/DDP == one process."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import helpers.train_gpt as train_gpt
from helpers.gpt import GPT, load_checkpoint
from helpers.train_gpt import history_path, last_path, lr_at, main

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "4",
        "--eval-iters", "2", "--warmup-steps", "10", "--lr", "3e-3", "--threads", "1", "--no-progress",
        "--seed", "7"]


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_lr_schedule_warmup_then_cosine():
    lrs = [lr_at(s, 1.0, 0.1, warmup_steps=10, decay_steps=110) for s in range(120)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)  # linear warm-up
    assert lrs[10] == pytest.approx(1.0)
    assert lrs[60] == pytest.approx(0.1 + 0.5 * 0.9)  # half-way down the cosine
    assert lrs[110] == pytest.approx(0.1) and lrs[119] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))  # never rises after warm-up


def _weights(path):
    return load_checkpoint(path).model.state_dict()


def _assert_same_weights(a, b, atol=0.0):
    assert a.keys() == b.keys()
    for name in a:
        if atol == 0.0:
            assert torch.equal(a[name], b[name]), f"{name} differs"
        else:
            torch.testing.assert_close(a[name], b[name], atol=atol, rtol=0, msg=f"{name} differs")


def test_resume_continues_exactly(tmp_path):
    """100 steps == 50 steps + --resume + 50 steps: same weights, bit for bit (dropout on)."""
    common = TINY + ["--dropout", "0.1", "--eval-interval", "25"]
    assert main(common + ["--steps", "100", "--out", str(tmp_path / "a.pt")]) == 0
    assert main(common + ["--steps", "50", "--lr-decay-steps", "100", "--out", str(tmp_path / "b.pt")]) == 0
    assert load_checkpoint(last_path(tmp_path / "b.pt")).step == 50
    assert main(common + ["--steps", "100", "--resume", "--out", str(tmp_path / "b.pt")]) == 0
    _assert_same_weights(_weights(last_path(tmp_path / "a.pt")), _weights(last_path(tmp_path / "b.pt")))
    ha = json.loads(history_path(tmp_path / "a.pt").read_text())
    hb = json.loads(history_path(tmp_path / "b.pt").read_text())
    assert [(e["step"], e["val"]) for e in ha["evals"]] == [(e["step"], e["val"]) for e in hb["evals"]]
    assert [e["step"] for e in ha["evals"]] == [0, 25, 50, 75, 100]
    assert ha["evals"][-1]["val"] < ha["evals"][0]["val"]  # it learned something
    # the best-validation checkpoint is slim (no optimizer state) and the best of the evals
    best = load_checkpoint(tmp_path / "a.pt")
    assert best.optimizer_state is None
    assert best.step == min(ha["evals"], key=lambda e: e["val"])["step"]
    assert set(ha["evals"][0]) >= {"step", "train", "val", "tokens_per_s"}


def test_ctrl_c_saves_and_resume_matches_uninterrupted(tmp_path, monkeypatch):
    common = TINY + ["--dropout", "0.1", "--eval-interval", "20", "--steps", "40"]
    assert main(common + ["--out", str(tmp_path / "a.pt")]) == 0
    real_get_batch, calls = train_gpt.get_batch, {"n": 0}

    def interrupted_after_30(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 31:
            raise KeyboardInterrupt  # as if Ctrl-C arrived during step 31
        return real_get_batch(*args, **kwargs)

    monkeypatch.setattr(train_gpt, "get_batch", interrupted_after_30)
    assert main(common + ["--out", str(tmp_path / "b.pt")]) == 130
    assert load_checkpoint(last_path(tmp_path / "b.pt")).step == 30
    monkeypatch.setattr(train_gpt, "get_batch", real_get_batch)
    assert main(common + ["--resume", "--out", str(tmp_path / "b.pt")]) == 0
    _assert_same_weights(_weights(last_path(tmp_path / "a.pt")), _weights(last_path(tmp_path / "b.pt")))


def test_resume_without_a_checkpoint_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        main(TINY + ["--steps", "2", "--resume", "--out", str(tmp_path / "none.pt")])


def test_bad_flags_are_rejected(capsys):
    with pytest.raises(SystemExit):
        main(["--steps", "0"])
    assert "--steps must be at least 1" in capsys.readouterr().err


def test_torchrun_two_processes_equal_one_process_with_the_double_batch(tmp_path):
    """2 CPU ranks x batch 4 (gloo, DDP) == 1 process x batch 8, within 1e-5."""
    common = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--dropout", "0",
              "--steps", "4", "--eval-interval", "4", "--eval-iters", "1", "--warmup-steps", "2",
              "--lr", "3e-3", "--threads", "1", "--no-progress", "--seed", "3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "helpers.train_gpt", *common, "--batch-size", "4", "--out", str(tmp_path / "ddp.pt")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert "x 2 process(es)" in ddp.stdout and ddp.stdout.count("done:") == 1  # rank 0 alone logs
    single = subprocess.run(
        [sys.executable, "-m", "helpers.train_gpt", *common, "--batch-size", "8",
         "--out", str(tmp_path / "one.pt")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert single.returncode == 0, single.stderr[-3000:]
    a, b = _weights(last_path(tmp_path / "ddp.pt")), _weights(last_path(tmp_path / "one.pt"))
    _assert_same_weights(a, b, atol=1e-5)
    # and the steps really moved the weights (the comparison is not between two untouched inits)
    ck = load_checkpoint(last_path(tmp_path / "ddp.pt"))
    torch.manual_seed(3)  # the trainer's initial weights: --seed 3
    init = GPT(ck.config).state_dict()
    moved = max((a[k] - init[k]).abs().max().item() for k in a)
    assert moved > 1e-3
    assert ck.step == 4 and ck.extra["world_size"] == 2
