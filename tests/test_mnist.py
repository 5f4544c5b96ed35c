"""helpers.mnist: the seeded split, the models' shapes, the loop learns, the schedule, devices,
evaluation mode, the confusion matrix."""
import math

import pytest
import torch
import torch.nn as nn

import helpers.mnist as mnist
from helpers.data import load_mnist
from helpers.mnist import (
    MNISTMLP,
    GlobalPoolCNN,
    MNISTSplits,
    SmallCNN,
    accuracy,
    confusion_matrix,
    cosine_lr,
    load_mnist_splits,
    predict,
    train_classifier,
)


@pytest.fixture(scope="module")
def splits():
    return load_mnist_splits()


def _small(splits, n_train, n_val):
    return MNISTSplits(splits.x_train[:n_train], splits.y_train[:n_train],
                       splits.x_val[:n_val], splits.y_val[:n_val])


def test_split_sizes_and_ranges(splits):
    assert splits.x_train.shape == (8000, 1, 28, 28) and splits.x_val.shape == (2000, 1, 28, 28)
    assert splits.y_train.shape == (8000,) and splits.y_val.shape == (2000,)
    assert splits.x_train.dtype == torch.float32 and splits.y_train.dtype == torch.int64
    assert 0.0 <= splits.x_train.min() and splits.x_train.max() <= 1.0
    assert set(splits.y_val.unique().tolist()) == set(range(10))


def test_split_is_a_seeded_partition(splits):
    """Same seed, same split; the two parts together are the 10,000 images, none twice."""
    again = load_mnist_splits()
    assert torch.equal(again.x_val, splits.x_val) and torch.equal(again.y_train, splits.y_train)
    other = load_mnist_splits(seed=1)
    assert not torch.equal(other.y_val, splits.y_val)
    label_counts = torch.bincount(torch.cat([splits.y_train, splits.y_val]), minlength=10)
    assert label_counts.tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    # a permutation of the original images: the same multiset of images (compared by their ink)
    images, _ = load_mnist()
    ink = torch.cat([splits.x_train, splits.x_val]).flatten(1).mul(255).round().sum(dim=1)
    original_ink = images.flatten(1).sum(dim=1, dtype=torch.float32)
    assert torch.equal(ink.sort().values, original_ink.sort().values)
    with pytest.raises(ValueError, match="n_train must be between"):
        load_mnist_splits(n_train=10_000)


def test_the_mnist_mlp_has_a_name_of_its_own():
    """helpers.nn and helpers.gpt have an MLP too; the MNIST one is MNISTMLP, with no alias."""
    assert not hasattr(mnist, "MLP")
    assert "MLP" not in mnist.__all__


MLP_PARAMS = (784 * 128 + 128) + (128 * 10 + 10)
CNN_PARAMS = (1 * 9 * 16 + 16) + (16 * 9 * 32 + 32) + (32 * 7 * 7 * 10 + 10)
# conv weights + biases, BatchNorm's scale and shift per channel, then Linear(32, 10)
GAP_PARAMS = ((9 * 8 + 8 + 2 * 8) + (8 * 9 * 16 + 16 + 2 * 16) + (16 * 9 * 32 + 32 + 2 * 32)
              + (32 * 10 + 10))


@pytest.mark.parametrize("model_class,n_params", [(MNISTMLP, MLP_PARAMS), (SmallCNN, CNN_PARAMS),
                                                  (GlobalPoolCNN, GAP_PARAMS)])
def test_models_map_images_to_ten_logits(model_class, n_params):
    torch.manual_seed(0)
    model = model_class()
    assert model(torch.zeros(5, 1, 28, 28)).shape == (5, 10)
    assert sum(p.numel() for p in model.parameters()) == n_params


def test_global_pool_cnn_ignores_where_features_are():
    """Global average pooling keeps how much each feature fired, not where. On a 56x56 canvas
    (the network takes any size) a bar far from the borders, moved by 4 pixels (one cell of
    the 14x14 maps after two 2x2 pools), gives the same logits. SmallCNN's linear layer has one
    weight per position of its 7x7 maps: the same kind of move changes its logits."""
    torch.manual_seed(0)
    gap, cnn = GlobalPoolCNN().eval(), SmallCNN().eval()
    canvas = torch.zeros(1, 1, 56, 56)
    canvas[0, 0, 24:32, 24:28] = 1.0
    digit_like = torch.zeros(1, 1, 28, 28)
    digit_like[0, 0, 8:20, 10:14] = 1.0
    with torch.no_grad():
        gap_change = (gap(torch.roll(canvas, 4, dims=-1)) - gap(canvas)).abs().max().item()
        cnn_change = (cnn(torch.roll(digit_like, 4, dims=-1)) - cnn(digit_like)).abs().max().item()
    assert gap_change < 1e-5
    assert cnn_change > 1e-3


AVG_SMALL_PARAMS = CNN_PARAMS - (32 * 7 * 7 * 10 + 10) + (32 * 10 + 10)
FLAT_GAP_PARAMS = GAP_PARAMS - (32 * 10 + 10) + (32 * 7 * 7 * 10 + 10)


def test_the_head_is_the_only_change():
    """SmallCNN(head="average") and GlobalPoolCNN(head="flatten") differ from the defaults in
    the last layer only: the same feature layers, and the same features for the same seed."""
    for model_class, other, n_params in [(SmallCNN, "average", AVG_SMALL_PARAMS),
                                         (GlobalPoolCNN, "flatten", FLAT_GAP_PARAMS)]:
        torch.manual_seed(0)
        default = model_class()
        torch.manual_seed(0)
        swapped = model_class(head=other)
        assert sum(p.numel() for p in swapped.parameters()) == n_params
        features = {k: v for k, v in swapped.state_dict().items() if k.startswith("features")}
        assert all(torch.equal(v, default.state_dict()[k]) for k, v in features.items())
        assert swapped(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_an_average_head_ignores_where_features_are():
    """The lesson's one-change ablation: SmallCNN with the average head gives the same logits
    for a bar moved by 4 pixels (one cell of its 7x7 grid) on a canvas far from the borders."""
    torch.manual_seed(0)
    model = SmallCNN(head="average").eval()
    canvas = torch.zeros(1, 1, 56, 56)
    canvas[0, 0, 24:32, 24:28] = 1.0
    with torch.no_grad():
        change = (model(torch.roll(canvas, 4, dims=-1)) - model(canvas)).abs().max().item()
    assert change < 1e-5


def test_an_unknown_head_is_named():
    for model_class in (SmallCNN, GlobalPoolCNN):
        with pytest.raises(ValueError, match="head must be 'flatten'.*or 'average'.*'max'"):
            model_class(head="max")


def test_training_learns_and_is_reproducible(splits):
    """One epoch on 1,000 images lifts the MLP far above chance (10 %), the same way twice."""
    small = _small(splits, 1000, 500)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = MNISTMLP()
        history = train_classifier(model, small, epochs=1, progress=False)
        runs.append((history, model))
    history, model = runs[0]
    assert len(history.step_loss) == 16 and len(history.val_acc) == 1
    assert history.val_acc[0] > 0.6
    assert history.step_loss == runs[1][0].step_loss
    assert history.val_acc[0] == pytest.approx(accuracy(model, small.x_val, small.y_val))
    assert model.training  # predict() restored training mode


def test_global_pool_cnn_learns(splits):
    """Two epochs on 2,000 images at the lesson's learning rate: well above chance (10 %)."""
    torch.manual_seed(0)
    model = GlobalPoolCNN()
    history = train_classifier(model, _small(splits, 2000, 500), epochs=2, lr=1e-2, progress=False)
    assert history.val_acc[-1] > 0.5


def test_cosine_schedule_changes_later_steps_only(splits):
    """The first step uses the full learning rate either way; later the cosine run takes smaller
    steps."""
    small = _small(splits, 640, 10)
    losses = {}
    for cosine in (True, False):
        torch.manual_seed(0)
        losses[cosine] = train_classifier(MNISTMLP(), small, epochs=1, cosine=cosine,
                                          progress=False).step_loss
    # loss 0 comes before any update and loss 1 after the first, made with the full rate in both
    assert losses[True][:2] == losses[False][:2]
    assert losses[True][2] != losses[False][2]  # the second update was smaller in the cosine run


def test_cosine_schedule_spans_every_step_when_the_last_batch_is_short(splits):
    """650 images in batches of 64 are 11 steps per epoch (the last has 10 images), not 10:
    the schedule must count 22 steps over 2 epochs. With T_max from floor division (20) the
    rate would reach 0 two steps early and then climb again."""
    small = _small(splits, 650, 10)
    torch.manual_seed(0)
    history = train_classifier(MNISTMLP(), small, epochs=2, lr=1e-3, progress=False)
    total = 2 * math.ceil(650 / 64)
    assert len(history.step_lr) == len(history.step_loss) == total == 22
    expected = [cosine_lr(t, total, 1e-3) for t in range(total)]
    assert history.step_lr == pytest.approx(expected, abs=1e-12)
    assert all(a > b for a, b in zip(history.step_lr, history.step_lr[1:]))  # falls all the way
    assert history.step_lr[-1] > 0


def test_cosine_lr_formula():
    assert cosine_lr(0, 100, 2e-3) == pytest.approx(2e-3)
    assert cosine_lr(50, 100, 2e-3) == pytest.approx(1e-3)
    assert cosine_lr(100, 100, 2e-3) == pytest.approx(0.0, abs=1e-18)


def test_bad_training_arguments_are_named():
    with pytest.raises(ValueError, match="epochs and batch_size must be at least 1"):
        train_classifier(MNISTMLP(), load_mnist_splits(), epochs=0)


def test_predict_restores_eval_mode():
    model = MNISTMLP().eval()
    predict(model, torch.zeros(3, 1, 28, 28))
    assert not model.training


class _Exploding(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 1)

    def forward(self, x):
        raise RuntimeError("boom")


def test_predict_restores_training_mode_even_when_the_model_raises():
    model = _Exploding().train()
    with pytest.raises(RuntimeError, match="boom"):
        predict(model, torch.zeros(3, 1, 28, 28))
    assert model.training
    assert torch.is_grad_enabled()


def test_predict_evaluates_without_gradients():
    model = MNISTMLP()
    logits = predict(model, torch.zeros(3, 1, 28, 28))
    assert not logits.requires_grad


class _DeviceSpy(nn.Module):
    """Records the device of every batch it sees; its weights sit on the 'meta' device, which
    lets a CPU-only machine test that batches are moved to the model's device."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(784, 10, device="meta")
        self.seen = []

    def forward(self, x):
        self.seen.append(x.device.type)
        return torch.zeros(len(x), 10)  # real numbers, so that predict can gather them


def test_predict_moves_batches_to_the_models_device():
    spy = _DeviceSpy()
    logits = predict(spy, torch.zeros(5, 1, 28, 28), batch_size=2)
    assert spy.seen == ["meta"] * 3
    assert logits.shape == (5, 10) and logits.device.type == "cpu"  # back on the input's device
    spy.seen.clear()
    accuracy(spy, torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long))
    assert spy.seen == ["meta"]


def test_training_moves_batches_to_the_models_device(splits):
    """train_classifier hands the model batches on its device (here 'meta', so the optimiser
    and loss cannot run: the first batch is enough)."""
    spy = _DeviceSpy()
    with pytest.raises(RuntimeError, match="device"):
        train_classifier(spy, _small(splits, 100, 10), epochs=1, progress=False)
    assert spy.seen == ["meta"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_on_the_gpu_matches_the_cpu(splits):
    """CPU data, GPU model: the batches follow the model; the losses agree with a CPU run."""
    small = _small(splits, 640, 200)
    histories = {}
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        model = MNISTMLP().to(device)
        histories[device] = train_classifier(model, small, epochs=1, progress=False)
        assert next(model.parameters()).device.type == device
    assert histories["cuda"].step_loss == pytest.approx(histories["cpu"].step_loss, abs=1e-3)
    assert histories["cuda"].val_acc[0] == pytest.approx(histories["cpu"].val_acc[0], abs=0.02)
    on_gpu = small.to("cuda")
    torch.manual_seed(0)
    model = MNISTMLP().to("cuda")
    assert train_classifier(model, on_gpu, epochs=1, progress=False).val_acc[0] > 0.5
    assert accuracy(model, small.x_val, small.y_val) == pytest.approx(
        accuracy(model, on_gpu.x_val, on_gpu.y_val))


def test_splits_move_to_a_device(splits):
    moved = _small(splits, 10, 10).to("meta")
    assert all(t.device.type == "meta" for t in (moved.x_train, moved.y_train, moved.x_val,
                                                  moved.y_val))


def test_confusion_matrix_counts_pairs():
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    predicted = torch.tensor([0, 1, 1, 2, 0, 2])
    cm = confusion_matrix(predicted, labels, num_classes=3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert cm.sum() == len(labels) and cm.diag().sum() == 4
    with pytest.raises(ValueError, match="differ in shape"):
        confusion_matrix(predicted[:2], labels)
