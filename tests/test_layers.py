"""helpers.layers: BatchNorm1d, BatchNorm2d and LayerNorm equal PyTorch's, forward and backward."""
import copy

import pytest
import torch
from torch import nn

from helpers.layers import BatchNorm1d, BatchNorm2d, LayerNorm

TOL = dict(atol=1e-6, rtol=1e-6)


def _share_weights(ours, ref, affine=True):
    """Non-trivial γ, β in ``ref`` (so that they are tested too), copied into ``ours``."""
    if affine:
        with torch.no_grad():
            ref.weight.uniform_(0.5, 1.5)
            ref.bias.uniform_(-0.5, 0.5)
    ours.load_state_dict(ref.state_dict())
    return ours, ref


def _assert_same_forward_backward(ours, ref, x, affine=True):
    """Same output and same gradients (input, γ, β) for the same input and upstream gradient."""
    x = x.detach().clone().requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    out, out_ref = ours(x), ref(x_ref)
    assert torch.allclose(out, out_ref, **TOL)
    g = torch.randn_like(out)
    out.backward(g)
    out_ref.backward(g)
    assert torch.allclose(x.grad, x_ref.grad, **TOL)
    if affine:
        assert torch.allclose(ours.weight.grad, ref.weight.grad, **TOL)
        assert torch.allclose(ours.bias.grad, ref.bias.grad, **TOL)


def _pair_bn(num_features, **kw):
    ours = BatchNorm1d(num_features, **kw).double()
    ref = nn.BatchNorm1d(num_features, **kw).double()
    return _share_weights(ours, ref, kw.get("affine", True))


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("shape", [(32, 5), (8, 5, 7)])
def test_batchnorm_matches_pytorch_over_several_steps_train_and_eval(momentum, shape):
    torch.manual_seed(0)
    ours, ref = _pair_bn(5, momentum=momentum, eps=1e-3)
    for step in range(6):
        ours.zero_grad(), ref.zero_grad()
        x = torch.randn(*shape, dtype=torch.float64) * (step + 1) + 3.0
        _assert_same_forward_backward(ours, ref, x)
        assert torch.allclose(ours.running_mean, ref.running_mean, **TOL)
        assert torch.allclose(ours.running_var, ref.running_var, **TOL)
        assert int(ours.num_batches_tracked) == int(ref.num_batches_tracked) == step + 1
    ours.eval(), ref.eval()
    x = torch.randn(*shape, dtype=torch.float64)
    assert torch.allclose(ours(x), ref(x), **TOL)
    # in evaluation the running statistics are not touched
    assert torch.allclose(ours.running_mean, ref.running_mean, **TOL)


def test_batchnorm_without_affine_and_float32():
    torch.manual_seed(1)
    ours, ref = BatchNorm1d(4, affine=False), nn.BatchNorm1d(4, affine=False)
    assert list(ours.state_dict()) == list(ref.state_dict())
    x = torch.randn(16, 4) * 10
    assert torch.allclose(ours(x), ref(x), atol=1e-5)
    out = ours(x)
    assert torch.allclose(out.mean(0), torch.zeros(4), atol=1e-6)
    assert torch.allclose(out.var(0, unbiased=False), torch.ones(4), atol=1e-3)


def test_batchnorm_momentum_convention_weights_the_new_batch():
    bn = BatchNorm1d(1, momentum=0.1)
    bn(torch.tensor([[10.0], [10.0]]))           # batch mean 10
    assert bn.running_mean.item() == pytest.approx(0.9 * 0 + 0.1 * 10)


@pytest.mark.parametrize("bad, match", [
    (torch.randn(4), "shape"), (torch.randn(4, 3), "features"),
    (torch.randn(1, 5), "more than one value"), (torch.randn(2, 5, 3, 3), "BatchNorm2d"),
])
def test_batchnorm_bad_input_is_explained(bad, match):
    with pytest.raises(ValueError, match=match):
        BatchNorm1d(5)(bad)


def test_batchnorm_bad_momentum_is_explained():
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm1d(3, momentum=0.9 * 10)


@pytest.mark.parametrize("normalized_shape, x_shape", [(6, (3, 6)), (6, (2, 4, 6)),
                                                       ((4, 6), (2, 4, 6)),
                                                       ((2, 3, 4), (5, 2, 3, 4))])
@pytest.mark.parametrize("affine", [True, False])
def test_layernorm_matches_pytorch(normalized_shape, x_shape, affine):
    torch.manual_seed(0)
    ref = nn.LayerNorm(normalized_shape, elementwise_affine=affine).double()
    ours = LayerNorm(normalized_shape, elementwise_affine=affine).double()
    _share_weights(ours, ref, affine)
    x = torch.randn(x_shape, dtype=torch.float64) * 4 + 2
    _assert_same_forward_backward(ours, ref, x, affine)


def test_layernorm_without_bias_matches_pytorch():
    ref, ours = nn.LayerNorm(8, bias=False), LayerNorm(8, bias=False)
    assert list(ours.state_dict()) == list(ref.state_dict()) == ["weight"]
    x = torch.randn(3, 8)
    assert torch.allclose(ours(x), ref(x), atol=1e-6)


def test_layernorm_is_independent_of_the_batch():
    torch.manual_seed(0)
    ln = LayerNorm(5)
    x = torch.randn(10, 5)
    assert torch.allclose(ln(x)[:1], ln(x[:1]), atol=1e-7)   # batch of 1 works, same answer


def test_layernorm_bad_input_is_explained():
    with pytest.raises(ValueError, match="last 1 dimension"):
        LayerNorm(5)(torch.randn(3, 4))
    with pytest.raises(ValueError, match="positive"):
        LayerNorm(0)


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("shape", [(8, 3, 5, 5), (2, 3, 4, 7)])
def test_batchnorm2d_matches_pytorch_over_several_steps_train_and_eval(momentum, shape):
    torch.manual_seed(0)
    ours = BatchNorm2d(3, momentum=momentum).double()
    ref = nn.BatchNorm2d(3, momentum=momentum).double()
    _share_weights(ours, ref)
    assert list(ours.state_dict()) == list(ref.state_dict())
    for step in range(4):
        ours.zero_grad(), ref.zero_grad()
        x = torch.randn(*shape, dtype=torch.float64) * (step + 1) - 2.0
        _assert_same_forward_backward(ours, ref, x)
        assert torch.allclose(ours.running_mean, ref.running_mean, **TOL)
        assert torch.allclose(ours.running_var, ref.running_var, **TOL)
    ours.eval(), ref.eval()
    x = torch.randn(*shape, dtype=torch.float64) * 2
    _assert_same_forward_backward(ours, ref, x)          # eval mode, gradients included


def test_batchnorm2d_statistics_are_per_channel_over_n_h_w():
    torch.manual_seed(0)
    x = torch.randn(4, 2, 3, 3) * torch.tensor([1.0, 10.0]).view(1, 2, 1, 1)
    out = BatchNorm2d(2)(x)
    per_channel = out.transpose(0, 1).reshape(2, -1)            # (C, N * H * W)
    assert torch.allclose(per_channel.mean(1), torch.zeros(2), atol=1e-6)
    assert torch.allclose(per_channel.var(1, unbiased=False), torch.ones(2), atol=1e-4)
    with pytest.raises(ValueError, match="BatchNorm1d"):
        BatchNorm2d(2)(torch.randn(4, 2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_norm_layers_on_the_gpu_equal_the_cpu():
    torch.manual_seed(0)
    cases = ((BatchNorm1d(4), torch.randn(16, 4)), (BatchNorm2d(3), torch.randn(4, 3, 5, 5)),
             (LayerNorm(4), torch.randn(5, 4)))
    for layer, x in cases:
        gpu = copy.deepcopy(layer).cuda()
        assert torch.allclose(gpu(x.cuda()).cpu(), layer(x), atol=1e-5)
        if hasattr(layer, "running_mean"):
            assert torch.allclose(gpu.running_var.cpu(), layer.running_var, atol=1e-5)
