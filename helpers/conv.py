"""conv2d from scratch, twice: a sliding-window loop and the unfold (im2col) matrix product.

Lesson 10 builds both and checks them against ``torch.nn.functional.conv2d``.
Shapes follow PyTorch: input ``(N, C_in, H, W)``, weight ``(C_out, C_in, kH, kW)``,
bias ``(C_out,)``, output ``(N, C_out, H_out, W_out)`` with

    H_out = (H + 2 * padding - kH) // stride + 1     (the same for W)

Like PyTorch's, this "convolution" is really a cross-correlation: the kernel is
not flipped. Both versions are made of ordinary tensor operations, so autograd
differentiates them for free.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["conv2d_loop", "conv2d_unfold", "unfold", "conv_output_size"]

IntPair = int | tuple[int, int]


def _pair(value: IntPair, name: str, minimum: int) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= minimum for v in pair):
        raise ValueError(f"{name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return pair  # type: ignore[return-value]


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """How many positions a kernel of width ``kernel`` takes along an axis of length ``size``."""
    return (size + 2 * padding - kernel) // stride + 1


def _check(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
           stride: IntPair, padding: IntPair) -> tuple[tuple[int, int], tuple[int, int], int, int]:
    """Validate the arguments once, with messages that say what to change."""
    if x.dim() != 4:
        raise ValueError(f"conv2d expects a batch of images (N, C_in, H, W), got shape "
                         f"{tuple(x.shape)}; add a batch axis with x.unsqueeze(0) "
                         "for a single image")
    if weight.dim() != 4:
        raise ValueError(f"weight must have shape (C_out, C_in, kH, kW), got {tuple(weight.shape)}")
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"the input has {x.shape[1]} channels but the weight expects "
                         f"{weight.shape[1]} (weight shape {tuple(weight.shape)} is "
                         "(C_out, C_in, kH, kW))")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"bias must have shape ({weight.shape[0]},), one value per output "
                         f"channel, got {tuple(bias.shape)}")
    stride, padding = _pair(stride, "stride", 1), _pair(padding, "padding", 0)
    kh, kw = weight.shape[2:]
    h_out = conv_output_size(x.shape[2], kh, stride[0], padding[0])
    w_out = conv_output_size(x.shape[3], kw, stride[1], padding[1])
    if h_out < 1 or w_out < 1:
        raise ValueError(f"the {kh}x{kw} kernel does not fit in the {x.shape[2]}x{x.shape[3]} "
                         f"input padded by {padding}; use a smaller kernel or more padding")
    return stride, padding, h_out, w_out


def conv2d_loop(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                stride: IntPair = 1, padding: IntPair = 0) -> torch.Tensor:
    """The definition, read literally: slide the kernel over every output position.

    At each position (i, j) the window ``x[:, :, i*s : i*s+kH, j*s : j*s+kW]`` is
    multiplied element-wise by every output channel's kernel and summed. Two Python
    loops over positions make it slow: that is the point of :func:`conv2d_unfold`.
    """
    (sh, sw), (ph, pw), h_out, w_out = _check(x, weight, bias, stride, padding)
    kh, kw = weight.shape[2:]
    xp = F.pad(x, (pw, pw, ph, ph))  # zeros around the image: (N, C_in, H + 2ph, W + 2pw)
    # (N, C_out, H_out, W_out), in the inputs' precision: float64 stays float64
    dtype = torch.promote_types(x.dtype, weight.dtype)
    out = torch.zeros(x.shape[0], weight.shape[0], h_out, w_out, dtype=dtype, device=x.device)
    for i in range(h_out):
        for j in range(w_out):
            window = xp[:, :, i * sh: i * sh + kh, j * sw: j * sw + kw]  # (N, C_in, kH, kW)
            # (N, 1, C_in, kH, kW) * (1, C_out, C_in, kH, kW), summed over the window
            out[:, :, i, j] = (window[:, None] * weight[None]).sum(dim=(2, 3, 4))
    if bias is not None:
        out = out + bias[None, :, None, None]
    return out


def unfold(x: torch.Tensor, kernel_size: IntPair, stride: IntPair = 1,
           padding: IntPair = 0) -> torch.Tensor:
    """im2col: every kernel-sized window of ``x`` as one column; equal to ``F.unfold``.

    Returns ``(N, C_in * kH * kW, L)`` where ``L = H_out * W_out`` counts the windows.
    The loop runs over the kH * kW offsets inside the kernel (9 for a 3x3 kernel),
    not over the many output positions: each offset takes one strided slice of
    the padded image, i.e. that kernel entry's input at every position at once.
    """
    if x.dim() != 4:
        raise ValueError(f"unfold expects (N, C, H, W), got shape {tuple(x.shape)}")
    (kh, kw), (sh, sw), (ph, pw) = (_pair(kernel_size, "kernel_size", 1),
                                    _pair(stride, "stride", 1), _pair(padding, "padding", 0))
    n, c, h, w = x.shape
    h_out, w_out = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    if h_out < 1 or w_out < 1:
        raise ValueError(f"the {kh}x{kw} kernel does not fit in the {h}x{w} input "
                         f"padded by {(ph, pw)}")
    xp = F.pad(x, (pw, pw, ph, ph))
    # kernel entry (a, b) sees input pixel (i*s + a, j*s + b) at output position (i, j)
    slices = [xp[:, :, a: a + sh * (h_out - 1) + 1: sh, b: b + sw * (w_out - 1) + 1: sw]
              for a in range(kh) for b in range(kw)]     # kH*kW of (N, C, H_out, W_out)
    cols = torch.stack(slices, dim=2)                    # (N, C, kH*kW, H_out, W_out)
    return cols.reshape(n, c * kh * kw, h_out * w_out)  # rows ordered (c, a, b), as F.unfold


def conv2d_unfold(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                  stride: IntPair = 1, padding: IntPair = 0) -> torch.Tensor:
    """The same convolution as one matrix product: weight rows times image columns.

    ``unfold`` lays out every window as a column of length C_in*kH*kW; flattening
    each output channel's kernel into a row of the same length turns the whole
    convolution into ``(C_out, C_in*kH*kW) @ (N, C_in*kH*kW, L)``, which a BLAS
    library computes far faster than a Python loop.
    """
    _, _, h_out, w_out = _check(x, weight, bias, stride, padding)
    c_out = weight.shape[0]
    cols = unfold(x, weight.shape[2:], stride, padding)       # (N, C_in*kH*kW, L)
    out = weight.reshape(c_out, -1) @ cols                     # (N, C_out, L)
    if bias is not None:
        out = out + bias[None, :, None]
    return out.reshape(x.shape[0], c_out, h_out, w_out)        # (N, C_out, H_out, W_out)
