"""helpers.mnist: the seeded split, the models' shapes, the loop learns, the confusion matrix counts."""
import pytest
import torch

from helpers.data import load_mnist
from helpers.mnist import (MLP, MNISTSplits, SmallCNN, accuracy, confusion_matrix, load_mnist_splits,
                           predict, train_classifier)


@pytest.fixture(scope="module")
def splits():
    return load_mnist_splits()


def test_split_sizes_and_ranges(splits):
    assert splits.x_train.shape == (8000, 1, 28, 28) and splits.x_test.shape == (2000, 1, 28, 28)
    assert splits.y_train.shape == (8000,) and splits.y_test.shape == (2000,)
    assert splits.x_train.dtype == torch.float32 and splits.y_train.dtype == torch.int64
    assert 0.0 <= splits.x_train.min() and splits.x_train.max() <= 1.0
    assert set(splits.y_test.unique().tolist()) == set(range(10))


def test_split_is_a_seeded_partition(splits):
    """Same seed, same split; the two parts together are the 10,000 images, none twice."""
    again = load_mnist_splits()
    assert torch.equal(again.x_test, splits.x_test) and torch.equal(again.y_train, splits.y_train)
    other = load_mnist_splits(seed=1)
    assert not torch.equal(other.y_test, splits.y_test)
    label_counts = torch.bincount(torch.cat([splits.y_train, splits.y_test]), minlength=10)
    assert label_counts.tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    # a permutation of the original images: the same multiset of images (compared by their ink)
    images, _ = load_mnist()
    ink = torch.cat([splits.x_train, splits.x_test]).flatten(1).mul(255).round().sum(dim=1)
    assert torch.equal(ink.sort().values, images.flatten(1).sum(dim=1, dtype=torch.float32).sort().values)
    with pytest.raises(ValueError, match="n_train must be between"):
        load_mnist_splits(n_train=10_000)


MLP_PARAMS = (784 * 128 + 128) + (128 * 10 + 10)
CNN_PARAMS = (1 * 9 * 16 + 16) + (16 * 9 * 32 + 32) + (32 * 7 * 7 * 10 + 10)


@pytest.mark.parametrize("model_class,n_params", [(MLP, MLP_PARAMS), (SmallCNN, CNN_PARAMS)])
def test_models_map_images_to_ten_logits(model_class, n_params):
    torch.manual_seed(0)
    model = model_class()
    assert model(torch.zeros(5, 1, 28, 28)).shape == (5, 10)
    assert sum(p.numel() for p in model.parameters()) == n_params


def test_training_learns_and_is_reproducible(splits):
    """One epoch on 1,000 images lifts the MLP far above chance (10 %), the same way twice."""
    small = MNISTSplits(splits.x_train[:1000], splits.y_train[:1000],
                        splits.x_test[:500], splits.y_test[:500])
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = MLP()
        history = train_classifier(model, small, epochs=1, progress=False)
        runs.append((history, model))
    history, model = runs[0]
    assert len(history.step_loss) == 16 and len(history.test_acc) == 1
    assert history.test_acc[0] > 0.6
    assert history.step_loss == runs[1][0].step_loss
    assert history.test_acc[0] == pytest.approx(accuracy(model, small.x_test, small.y_test))
    assert model.training  # predict() restored training mode


def test_cosine_schedule_changes_later_steps_only(splits):
    """The first step uses the full learning rate either way; later the cosine run takes smaller steps."""
    small = MNISTSplits(splits.x_train[:640], splits.y_train[:640], splits.x_test[:10], splits.y_test[:10])
    losses = {}
    for cosine in (True, False):
        torch.manual_seed(0)
        losses[cosine] = train_classifier(MLP(), small, epochs=1, cosine=cosine, progress=False).step_loss
    # loss 0 comes before any update and loss 1 after the first, made with the full rate in both runs
    assert losses[True][:2] == losses[False][:2]
    assert losses[True][2] != losses[False][2]  # the second update was smaller in the cosine run


def test_bad_training_arguments_are_named():
    with pytest.raises(ValueError, match="epochs and batch_size must be at least 1"):
        train_classifier(MLP(), load_mnist_splits(), epochs=0)


def test_predict_restores_eval_mode():
    model = MLP().eval()
    predict(model, torch.zeros(3, 1, 28, 28))
    assert not model.training


def test_confusion_matrix_counts_pairs():
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    predicted = torch.tensor([0, 1, 1, 2, 0, 2])
    cm = confusion_matrix(predicted, labels, num_classes=3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert cm.sum() == len(labels) and cm.diag().sum() == 4
    with pytest.raises(ValueError, match="differ in shape"):
        confusion_matrix(predicted[:2], labels)
