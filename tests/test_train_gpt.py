"""helpers.train_gpt: the schedule, exact resume (also after a real Ctrl-C), resume keeps the
run's own arguments, torchrun/DDP == one process, and runs on BPE tokens (lesson 08)."""

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

import pytest
import torch

from helpers.bpe import BPETokenizer
from helpers.checkpoint import load_checkpoint
from helpers.data import shakespeare_text_splits
from helpers.gpt import GPT, GPTConfig
from helpers.train_gpt import history_path, last_path, lr_at, main, parse_args

ROOT = Path(__file__).resolve().parent.parent
TINY = (
    "--n-layer 1 --n-head 2 --n-embd 16 --block-size 16 --batch-size 4 --eval-iters 2 "
    "--warmup-steps 10 --lr 3e-3 --threads 1 --no-progress --seed 7 --device cpu"
).split()
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COURSE_DEVICE": "cpu"}


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


def test_model_flags_come_from_the_config_fields():
    args = parse_args([])
    for f in fields(GPTConfig):
        if f.name == "vocab_size":  # the tokenizer sets it; --vocab-size is for BPE only
            assert args.vocab_size is None and args.tokenizer == "char"
        else:
            assert getattr(args, f.name) == f.default, f.name
    args = parse_args(["--n-layer", "3", "--no-bias", "--dropout", "0.2"])
    assert (args.n_layer, args.bias, args.dropout) == (3, False, 0.2)
    assert set(args.given) == {"n_layer", "bias", "dropout"}


def _weights(path):
    return load_checkpoint(path).model.state_dict()


def _max_difference(a, b):
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


def test_resume_continues_exactly(tmp_path):
    """100 steps == 50 steps + --resume + 50 steps: same weights, bit for bit (dropout on)."""
    common = TINY + ["--dropout", "0.1", "--eval-interval", "25"]
    assert main(common + ["--steps", "100", "--out", str(tmp_path / "a.pt")]) == 0
    assert (
        main(common + ["--steps", "50", "--lr-decay-steps", "100", "--out", str(tmp_path / "b.pt")])
        == 0
    )
    assert load_checkpoint(last_path(tmp_path / "b.pt")).step == 50
    # the run's own arguments come back: only --steps (and where the files are) is given
    assert main(["--steps", "100", "--resume", "--out", str(tmp_path / "b.pt")]) == 0
    a, b = _weights(last_path(tmp_path / "a.pt")), _weights(last_path(tmp_path / "b.pt"))
    assert _max_difference(a, b) == 0.0
    ha = json.loads(history_path(tmp_path / "a.pt").read_text())
    hb = json.loads(history_path(tmp_path / "b.pt").read_text())
    assert [(e["step"], e["val"]) for e in ha["evals"]] == [
        (e["step"], e["val"]) for e in hb["evals"]
    ]
    assert ha["batch_losses"] == hb["batch_losses"]
    assert [e["step"] for e in ha["evals"]] == [0, 25, 50, 75, 100]
    assert ha["evals"][-1]["val"] < ha["evals"][0]["val"]  # it learned something
    assert hb["train_args"]["batch_size"] == 4 and hb["train_args"]["steps"] == 100
    # the best-validation checkpoint is slim (no optimizer state) and the best of the evals
    best = load_checkpoint(tmp_path / "a.pt")
    assert best.optimizer_state is None
    assert best.step == min(ha["evals"], key=lambda e: e["val"])["step"]
    assert set(ha["evals"][0]) >= {"step", "train", "val", "tokens_per_s"}


@pytest.mark.parametrize(
    "flag, value, saved",
    [
        ("--batch-size", "8", "4"),
        ("--seed", "8", "7"),
        ("--n-layer", "2", "1"),
        ("--lr", "0.01", "0.003"),
        ("--lr-decay-steps", "30", "20"),
        ("--dtype", "bfloat16", "'float32'"),
        ("--no-bias", None, "True"),
        ("--tokenizer", "bpe", "'char'"),
    ],
)
def test_resume_refuses_a_changed_flag_in_one_line(tmp_path, flag, value, saved, capsys):
    out = str(tmp_path / "r.pt")
    assert main(TINY + ["--steps", "20", "--eval-interval", "10", "--out", out]) == 0
    capsys.readouterr()
    new = [flag] if value is None else [flag, value]
    with pytest.raises(SystemExit) as e:
        main(["--resume", "--steps", "30", "--out", out, *new])
    message = str(e.value)
    assert "\n" not in message and flag.replace("--no-", "--") in message
    assert f"was {saved}" in message
    assert "now " in message
    # the same flag with the saved value is fine
    assert main(TINY + ["--resume", "--steps", "30", "--eval-interval", "10", "--out", out]) == 0


def test_resume_refuses_another_world_size_and_names_missing_keys(tmp_path, capsys):
    out = tmp_path / "w.pt"
    assert main(TINY + ["--steps", "10", "--eval-interval", "10", "--out", str(out)]) == 0
    payload = torch.load(last_path(out), weights_only=True)
    payload["extra"]["world_size"] = 2
    torch.save(payload, last_path(out))
    with pytest.raises(SystemExit, match="world size was 2 .* now 1"):
        main(["--resume", "--steps", "20", "--out", str(out)])
    for key, where in (("rng", "extra"), ("history", "extra"), ("train_args", "extra")):
        damaged = {**payload["extra"], "world_size": 1}
        del damaged[key]
        torch.save({**payload, "extra": damaged}, last_path(out))
        assert main(["--resume", "--steps", "20", "--out", str(out)]) == 2  # one line, no traceback
        assert re.search(f"{where}.*'{key}'", capsys.readouterr().err)
    damaged = {
        **payload["extra"],
        "world_size": 1,
        "rng": {"ranks": payload["extra"]["rng"]["ranks"]},
    }
    torch.save({**payload, "extra": damaged}, last_path(out))
    assert main(["--resume", "--steps", "20", "--out", str(out)]) == 2
    assert re.search("'rng'.*'batch'", capsys.readouterr().err)


def test_resume_without_a_checkpoint_says_so(tmp_path):
    with pytest.raises(SystemExit, match="no saved run state at .*none.last.pt.*without --resume"):
        main(TINY + ["--steps", "2", "--resume", "--out", str(tmp_path / "none.pt")])


def test_resume_restores_the_runs_thread_count(tmp_path):
    """--threads sets the summation order, so a resumed run takes the saved value back."""
    out = str(tmp_path / "t.pt")
    assert main(TINY + ["--steps", "4", "--eval-interval", "2", "--out", out]) == 0  # --threads 1
    torch.set_num_threads(2)
    assert main(["--resume", "--steps", "6", "--out", out]) == 0
    assert torch.get_num_threads() == 1


def test_a_damaged_run_state_is_one_line_not_a_traceback(tmp_path, capsys):
    out = tmp_path / "d.pt"
    assert main(TINY + ["--steps", "2", "--eval-interval", "2", "--out", str(out)]) == 0
    (tmp_path / "d.last.pt").write_bytes(b"not a checkpoint")
    assert main(["--resume", "--steps", "4", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "d.last.pt" in err[0]


def test_bad_flags_are_rejected(capsys):
    with pytest.raises(SystemExit):
        main(["--steps", "0"])
    assert "--steps must be at least 1" in capsys.readouterr().err


def test_history_is_written_atomically(tmp_path, monkeypatch):
    """A save that dies while writing the history leaves the previous history whole."""
    out = tmp_path / "h.pt"
    assert main(TINY + ["--steps", "10", "--eval-interval", "10", "--out", str(out)]) == 0
    before = history_path(out).read_text()
    real_replace = os.replace

    def dies_on_history(src, dst, *args, **kwargs):
        if str(dst).endswith(".history.json"):
            raise OSError("disk full")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", dies_on_history)
    with pytest.raises(OSError, match="disk full"):
        main(TINY + ["--steps", "20", "--eval-interval", "10", "--out", str(out)])
    assert history_path(out).read_text() == before
    assert not list(tmp_path.glob(".*.tmp"))


# --- BPE tokens (lesson 08) -------------------------------------------------------------


def test_a_bpe_run_resumes_exactly_and_carries_its_tokenizer(tmp_path):
    """20 steps == 10 + --resume + 10 on BPE tokens; the tokenizer is trained on the training
    split alone and saved in the checkpoints, so the resumed run does not train it again."""
    common = TINY + ["--tokenizer", "bpe", "--vocab-size", "300", "--dropout", "0.1",
                     "--eval-interval", "5"]
    assert main(common + ["--steps", "20", "--out", str(tmp_path / "a.pt")]) == 0
    assert main(common + ["--steps", "10", "--lr-decay-steps", "20",
                          "--out", str(tmp_path / "b.pt")]) == 0
    assert main(["--steps", "20", "--resume", "--out", str(tmp_path / "b.pt")]) == 0
    a, b = _weights(last_path(tmp_path / "a.pt")), _weights(last_path(tmp_path / "b.pt"))
    assert _max_difference(a, b) == 0.0
    ck = load_checkpoint(tmp_path / "a.pt")
    assert ck.tokenizer == BPETokenizer.train(shakespeare_text_splits()["train"], 300)
    assert ck.config.vocab_size == 300 and ck.extra["train_args"]["tokenizer"] == "bpe"
    history = json.loads(history_path(tmp_path / "a.pt").read_text())
    assert 1.3 < history["val_chars_per_token"] < 1.5  # 43 merges: 1.37 characters a token
    with pytest.raises(SystemExit, match="--vocab-size was 300 .* now 400"):
        main(["--steps", "30", "--resume", "--vocab-size", "400", "--tokenizer", "bpe",
              "--out", str(tmp_path / "b.pt")])


def test_a_saved_tokenizer_file_trains_a_model(tmp_path, capsys):
    path = BPETokenizer.train(shakespeare_text_splits()["train"][:50_000], 280).save(
        tmp_path / "t.bpe")
    out = tmp_path / "f.pt"
    assert main(TINY + ["--steps", "4", "--eval-interval", "4", "--tokenizer", str(path),
                        "--out", str(out)]) == 0
    assert load_checkpoint(out).tokenizer == BPETokenizer.load(path)
    assert "BPETokenizer(vocab_size=280" in capsys.readouterr().out
    path.write_text("not a tokenizer\n")
    with pytest.raises(SystemExit, match=f"--tokenizer {path}: .* not a tokenizer file") as e:
        main(TINY + ["--steps", "4", "--tokenizer", str(path), "--out", str(out)])
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("argv, message", [
    (["--vocab-size", "512"], "--vocab-size is for --tokenizer bpe"),
    (["--tokenizer", "bpe", "--vocab-size", "256"], "--vocab-size must be at least 257"),
])
def test_bad_tokenizer_flags_are_rejected(argv, message, capsys):
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert message in capsys.readouterr().err


# --- a real Ctrl-C at a random moment ------------------------------------------------

RESUMABLE = TINY + "--dropout 0.1 --steps 600 --eval-interval 150 --log-interval 25".split()


def _start(out, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "helpers.train_gpt", *RESUMABLE, *extra, "--out", str(out)],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_until_training(proc):
    """Read the log until the trainer has set up (its Ctrl-C handler is in place by then)."""
    for line in proc.stdout:
        if line.startswith("GPT "):
            return
    raise AssertionError("the trainer stopped before it started: " + proc.stderr.read()[-2000:])


def test_ctrl_c_at_random_moments_then_resume_equals_the_uninterrupted_run(tmp_path):
    """A real SIGINT, three random moments: the resumed weights equal the uninterrupted run's."""
    ref = tmp_path / "ref.pt"
    t0 = time.perf_counter()
    # the uninterrupted run and the resumed ones run in this process; only the runs that
    # receive the signal need their own
    assert main(RESUMABLE + ["--out", str(ref)]) == 0
    duration = time.perf_counter() - t0  # the signal comes within the first 80 % of a run
    reference = _weights(last_path(ref))
    history = json.loads(history_path(ref).read_text())
    rng = random.Random()
    report = []
    # a child may train faster than the reference run did (the machine's load changes), so the
    # signal can come after it finished: then the window halves and another moment is tried
    window = 0.8 * duration
    for trial in range(8):
        if sum(stopped != "finished" for _, stopped, _ in report) == 3:
            break
        out = tmp_path / f"cut{trial}.pt"
        proc = _start(out)
        _wait_until_training(proc)
        delay = rng.uniform(0.0, window)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
        if "done:" in stdout:  # the run finished before the signal came: nothing to resume
            report.append((round(delay, 3), "finished", 0.0))
            window = delay / 2
            continue
        assert proc.returncode == 130, (proc.returncode, stdout[-1000:], stderr[-2000:])
        assert "Traceback" not in stderr, stderr[-2000:]
        stopped_at = load_checkpoint(last_path(out)).step
        assert f"interrupted at step {stopped_at}" in stdout
        assert main(["--resume", "--out", str(out)]) == 0  # the run's own arguments come back
        difference = _max_difference(reference, _weights(last_path(out)))
        report.append((round(delay, 3), stopped_at, difference))
        resumed_history = json.loads(history_path(out).read_text())
        assert resumed_history["batch_losses"] == history["batch_losses"], report
        assert [e["val"] for e in resumed_history["evals"]] == [e["val"] for e in history["evals"]]
    print("Ctrl-C trials (delay s, stopped at step, largest weight difference):", report)
    assert all(difference == 0.0 for _, _, difference in report), report
    assert sum(stopped != "finished" for _, stopped, _ in report) == 3, report


def test_a_second_ctrl_c_exits_at_once_without_saving(tmp_path):
    out = tmp_path / "twice.pt"
    proc = _start(out, "--eval-iters", "3000")  # a long first evaluation: no step boundary soon
    _wait_until_training(proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.7)
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert time.perf_counter() - t0 < 10
    assert not last_path(out).exists() and not history_path(out).exists() and not out.exists()
    assert not list(tmp_path.glob(".*.tmp"))


def _train_gpt(*args, launcher=()):
    """Run the trainer in a fresh process (under ``launcher``, e.g. torchrun)."""
    return subprocess.run([sys.executable, *launcher, "-m", "helpers.train_gpt", *args],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=240)


def test_torchrun_two_processes_equal_one_process_with_the_double_batch(tmp_path):
    """2 CPU ranks x batch 4 (gloo, DDP) == 1 process x batch 8, within 1e-5."""
    common = (
        "--n-layer 1 --n-head 2 --n-embd 16 --block-size 16 --dropout 0 --steps 4 "
        "--eval-interval 4 --eval-iters 1 --warmup-steps 2 --lr 3e-3 --threads 1 "
        "--no-progress --seed 3"
    ).split()
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    ddp = _train_gpt(*common, "--batch-size", "4", "--out", str(tmp_path / "ddp.pt"),
                     launcher=torchrun)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert "x 2 process(es)" in ddp.stdout and ddp.stdout.count("done:") == 1  # rank 0 alone logs
    single = _train_gpt(*common, "--batch-size", "8", "--out", str(tmp_path / "one.pt"))
    assert single.returncode == 0, single.stderr[-3000:]
    a, b = _weights(last_path(tmp_path / "ddp.pt")), _weights(last_path(tmp_path / "one.pt"))
    assert _max_difference(a, b) < 1e-5
    # and the steps really moved the weights (the comparison is not between two untouched inits)
    ck = load_checkpoint(last_path(tmp_path / "ddp.pt"))
    torch.manual_seed(3)  # the trainer's initial weights: --seed 3
    init = GPT(ck.config).state_dict()
    moved = max((a[k] - init[k]).abs().max().item() for k in a)
    assert moved > 1e-3
    assert ck.step == 4 and ck.extra["world_size"] == 2
    # each rank's own dropout generator is saved, not rank 0's twice
    ranks = ck.extra["rng"]["ranks"]
    assert len(ranks) == 2 and not torch.equal(ranks[0]["cpu"], ranks[1]["cpu"])
    # one process cannot resume a two-process run: refused in one line
    refused = _train_gpt("--resume", "--steps", "6", "--out", str(tmp_path / "ddp.pt"))
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "--resume: world size was 2 in the run being resumed, now 1; only --steps, --log-interval "
        "and --no-progress may change (leave a flag out to keep its saved value)"
    ]


@pytest.mark.gpu
def test_resume_on_cuda_replays_the_dropout_masks(tmp_path):
    """On CUDA dropout draws from the GPU's generator: its state must be saved and restored.
    (Embedding gradients on CUDA use atomics, so compare to a tolerance far below the ~1e-2
    that other dropout masks cause.)"""
    common = TINY[:-2] + ["--device", "cuda", "--dropout", "0.1", "--eval-interval", "20"]
    assert main(common + ["--steps", "60", "--out", str(tmp_path / "a.pt")]) == 0
    assert main(common + ["--steps", "40", "--lr-decay-steps", "60",
                          "--out", str(tmp_path / "b.pt")]) == 0
    saved = load_checkpoint(last_path(tmp_path / "b.pt")).extra
    assert saved["device_type"] == "cuda" and "cuda" in saved["rng"]["ranks"][0]
    assert main(["--resume", "--steps", "60", "--out", str(tmp_path / "b.pt")]) == 0
    a, b = _weights(last_path(tmp_path / "a.pt")), _weights(last_path(tmp_path / "b.pt"))
    assert _max_difference(a, b) < 1e-5
