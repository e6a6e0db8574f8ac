"""Convolution layers: ``Conv1d``, ``Conv2d``, ``ConvTranspose1d``, ``ConvTranspose2d`` (and, plain,
``Conv3d``, ``ConvTranspose3d``).

The arithmetic lives in :mod:`refnet.nn.functional.conv` (im2col + one GEMM, and the
derivation of both gradients); these classes hold the parameters, check their input and
keep the cache between forward and backward.

A convolution's output is an (N, C_out, H_out, W_out) array whose memory is laid out
(C_out, H_out, W_out, N): the layout in which the GEMM produces it and in which the next
convolution or pooling layer reads it fastest. NumPy hides strides, so it behaves like
any other array (``np.ascontiguousarray(y)`` gives a plain NCHW copy if you need one).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from refnet._typing import Array, Seed
from refnet.nn import init
from refnet.nn._validation import float_input, matching_dtype, same_shape_gradient, shape_error
from refnet.nn.functional import conv as F
from refnet.nn.functional import convolution3d as C3
from refnet.nn.module import Module
from refnet.nn.parameter import Parameter
from refnet.random import as_generator

IntOrTuple = int | Sequence[int]


def _ntuple(value: IntOrTuple, n: int, name: str, owner: str) -> tuple[int, ...]:
    """``value`` as an n-tuple of ints (an int is repeated), as PyTorch stores it."""
    items = (value,) * n if isinstance(value, (int, np.integer)) else tuple(value)
    if len(items) != n or not all(isinstance(v, (int, np.integer)) for v in items):
        raise ValueError(f"{owner}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    return tuple(int(v) for v in items)


def _check_channels(name: str, in_channels: int, out_channels: int, groups: int) -> None:
    """Positive channel counts and groups, both counts divisible by the groups."""
    if in_channels < 1 or out_channels < 1:
        raise ValueError(
            f"{name}: in_channels and out_channels must be positive, "
            f"got ({in_channels}, {out_channels})"
        )
    if groups < 1:
        raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
    for what, count in (("in_channels", in_channels), ("out_channels", out_channels)):
        if count % groups:
            raise ValueError(
                f"{name}: {what} must be divisible by groups, got {count} and {groups}"
            )


def _check_padding_mode(name: str, padding_mode: str, transposed: bool) -> None:
    if padding_mode not in F.PADDING_MODES:
        raise ValueError(
            f"{name}: padding_mode must be one of {F.PADDING_MODES}, got {padding_mode!r}"
        )
    if transposed and padding_mode != "zeros":
        raise ValueError(f'{name}: only "zeros" padding mode is supported')


class _ConvNd(Module):
    """Shared by the convolution layers: parameters, initialisation, checks and repr.

    ``needs_input_grad`` (default ``True``): set it to ``False`` on a layer whose input
    gradient nobody uses (the first layer of a network, whose input is the data) and its
    ``backward`` skips computing ∂L/∂x (a GEMM and the col2im additions) and returns
    ``None``; the parameter gradients are unchanged. PyTorch decides the same thing from
    ``input.requires_grad``.

    The 1-d layer runs the 2-d kernels over a height of 1; ``_dims`` is 1 or 2.
    """

    _dims = 2
    transposed = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple,
        padding: IntOrTuple | str,
        dilation: IntOrTuple,
        groups: int,
        bias: bool,
        padding_mode: str,
        output_padding: IntOrTuple,
        dtype: npt.DTypeLike,
        generator: Seed,
    ) -> None:
        super().__init__()
        name, n = type(self).__name__, self._dims
        _check_channels(name, in_channels, out_channels, groups)
        _check_padding_mode(name, padding_mode, self.transposed)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _ntuple(kernel_size, n, "kernel_size", name)
        self.stride = _ntuple(stride, n, "stride", name)
        self.dilation = _ntuple(dilation, n, "dilation", name)
        self.output_padding = _ntuple(output_padding, n, "output_padding", name)
        self.groups = groups
        self.padding_mode = padding_mode
        self.padding: tuple[int, ...] | str = self._parse_padding(padding, name)
        self._check_sizes(name)
        if self.transposed:
            shape = (in_channels, out_channels // groups, *self.kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = Parameter(np.empty(shape, dtype=dtype))
        self.bias: Parameter | None
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(generator)
        self._geometry = self._make_geometry()
        self._cache: Any = None
        self._output_shape: tuple[int, ...] | None = None
        self._batched = True
        self.needs_input_grad = True

    def _parse_padding(self, padding: IntOrTuple | str, name: str) -> tuple[int, ...] | str:
        """An n-tuple, or (not for a transposed convolution) ``'same'``/``'valid'``."""
        if not isinstance(padding, str):
            return _ntuple(padding, self._dims, "padding", name)
        if self.transposed or padding not in ("same", "valid"):
            raise ValueError(
                f"{name}: invalid padding string {padding!r}"
                + ("" if self.transposed else ", should be 'same' or 'valid'")
            )
        if padding == "same" and any(s != 1 for s in self.stride):
            raise ValueError(f"{name}: padding='same' is not supported for strided convolutions")
        return padding

    def _check_sizes(self, name: str) -> None:
        """PyTorch's limits: kernel, stride, dilation ≥ 1, paddings ≥ 0, and an output
        padding smaller than the stride or the dilation."""
        for what, values, low in (
            ("kernel_size", self.kernel_size, 1),
            ("stride", self.stride, 1),
            ("dilation", self.dilation, 1),
            ("padding", self.padding if isinstance(self.padding, tuple) else (0,), 0),
            ("output_padding", self.output_padding, 0),
        ):
            if any(v < low for v in values):
                raise ValueError(f"{name}: {what} must be at least {low}, got {values}")
        for op, s, d in zip(self.output_padding, self.stride, self.dilation, strict=True):
            if op >= s and op >= d:
                raise ValueError(
                    f"{name}: output_padding must be smaller than either stride or dilation, "
                    f"got output_padding={self.output_padding}, stride={self.stride}, "
                    f"dilation={self.dilation}"
                )

    _FIXED = frozenset(
        {
            "in_channels",
            "out_channels",
            "kernel_size",
            "stride",
            "padding",
            "dilation",
            "groups",
            "padding_mode",
            "output_padding",
        }
    )

    def __setattr__(self, name: str, value: Any) -> None:
        # The geometry is computed once, at construction, and the weight's shape follows
        # from it: a later change would show in the repr but not in the output.
        if name in self._FIXED and "_geometry" in self.__dict__:
            raise AttributeError(
                f"{self.describe()}: {name} is fixed at construction; build a new layer "
                "(and copy the weights with load_state_dict if the shapes allow)"
            )
        super().__setattr__(name, value)

    def reset_parameters(self, generator: Seed = None) -> None:
        """PyTorch's default: ``kaiming_uniform_(w, a=√5)`` = U(±1/√fan_in), and the bias
        U(±1/√fan_in), with ``fan_in = weight.shape[1] · kh · kw`` (for a transposed
        convolution that is ``out_channels/groups · kh · kw``, as in PyTorch)."""
        rng = as_generator(generator)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=rng)
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound, generator=rng)

    def _make_geometry(self) -> F.ConvGeometry:
        """The 2-d geometry (a 1-d layer is a 2-d one with a 1-row kernel)."""
        pad_1 = (1,) * (2 - self._dims)
        kernel = (*pad_1, *self.kernel_size)
        dilation = (*pad_1, *self.dilation)
        stride = (*pad_1, *self.stride)
        if self.padding == "same":
            pads = F.same_padding((kernel[0], kernel[1]), (dilation[0], dilation[1]))
        elif self.padding == "valid":
            pads = (0, 0, 0, 0)
        else:
            p = [0] * (2 - self._dims) + [int(v) for v in self.padding]
            pads = (p[0], p[0], p[1], p[1])
        return F.ConvGeometry(
            (kernel[0], kernel[1]),
            (stride[0], stride[1]),
            pads,
            (dilation[0], dilation[1]),
            self.groups,
            self.padding_mode,
        )

    # ------------------------------------------------------------------ input checks

    def _expected(self) -> str:
        spatial = "L" if self._dims == 1 else "H, W"
        return f"(N, {self.in_channels}, {spatial}) or ({self.in_channels}, {spatial})"

    def _as_batched_2d(self, x: object) -> Array:
        """Check ``x`` and return it as a batched (N, C, H, W) array (views only)."""
        x = float_input(self, x)
        n = self._dims
        if x.ndim not in (n + 1, n + 2) or x.shape[-n - 1] != self.in_channels:
            raise shape_error(self, self._expected(), x)
        matching_dtype(self, x, self.weight.dtype)
        self._batched = x.ndim == n + 2
        xb = x if self._batched else x[None]
        return xb[:, :, None, :] if n == 1 else xb

    def _spatial(self, sizes: tuple[int, ...]) -> str:
        """Format a 2-d (H, W) size in the layer's own dimensionality."""
        return str(sizes[-self._dims :])

    def _unbatch(self, y4: Array) -> Array:
        y = y4[:, :, 0, :] if self._dims == 1 else y4
        return y if self._batched else y[0]

    def _grad_as_batched_2d(self, grad_output: object) -> Array:
        g = same_shape_gradient(self, grad_output, self._saved(self._output_shape))
        g = g if self._batched else g[None]
        return g[:, :, None, :] if self._dims == 1 else g

    def _weight_2d(self) -> Array:
        w = self.weight.data
        return w[:, :, None, :] if self._dims == 1 else w

    def _accumulate(self, grad_weight: Array, grad_bias: Array | None) -> None:
        self.weight.grad += grad_weight.reshape(self.weight.shape)
        if self.bias is not None and grad_bias is not None:
            self.bias.grad += grad_bias

    # ------------------------------------------------------------------ repr

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0,) * self._dims:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._dims:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._dims:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    """A (non-transposed) convolution: PyTorch's constructor, forward and backward."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: IntOrTuple | str = 0,
        dilation: IntOrTuple = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        dtype: npt.DTypeLike = np.float32,
        generator: Seed = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            0,
            dtype,
            generator,
        )

    def _check_size(self, x: Array) -> None:
        """The padded input must hold one dilated kernel; reflect/circular padding must
        not reach past the other side of the input (PyTorch's limits)."""
        geometry = self._geometry
        H, W = x.shape[2:]
        padded = geometry.padded_size(H, W)
        kernel = geometry.dilated_kernel
        if padded[0] < kernel[0] or padded[1] < kernel[1]:
            raise ValueError(
                f"{self.describe()}: input of size {self._spatial((H, W))} padded to "
                f"{self._spatial(padded)} is smaller than the dilated kernel "
                f"{self._spatial(kernel)} (input {tuple(x.shape)})"
            )
        top, bottom, left, right = geometry.padding
        largest = max(top, bottom), max(left, right)
        mode = self.padding_mode
        if (mode == "reflect" and (largest[0] >= H or largest[1] >= W)) or (
            mode == "circular" and (largest[0] > H or largest[1] > W)
        ):
            limit = "smaller than" if mode == "reflect" else "at most"
            raise ValueError(
                f"{self.describe()}: {mode} padding {self._spatial(largest)} must be "
                f"{limit} the input size {self._spatial((H, W))}"
            )

    def forward(self, x: Array) -> Array:
        x4 = self._as_batched_2d(x)
        self._check_size(x4)
        bias = None if self.bias is None else self.bias.data
        # Once its backward has run, the previous forward's column matrix is not needed
        # any more: its memory is reused (a fresh one each step costs cache misses).
        previous = None if self._awaits_backward() else self._cache
        y, self._cache = F.conv2d_forward(
            x4, self._weight_2d(), bias, self._geometry, reuse=previous
        )
        out = self._unbatch(y)
        self._output_shape = out.shape
        return out

    def backward(self, grad_output: Array) -> Array | None:
        cache = self._saved(self._cache)
        g = self._grad_as_batched_2d(grad_output)
        grad_x, grad_w, grad_b = F.conv2d_backward(
            g,
            self._weight_2d(),
            cache,
            input_grad=self.needs_input_grad,
            bias_grad=self.bias is not None,
        )
        self._accumulate(grad_w, grad_b)
        return None if grad_x is None else self._unbatch(grad_x)


class Conv2d(_Conv):
    """2-d convolution (cross-correlation) over (N, C_in, H, W) or (C_in, H, W) input.

    PyTorch: ``nn.Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0,
    dilation=1, groups=1, bias=True, padding_mode='zeros')``. Weight
    (C_out, C_in/groups, kh, kw), bias (C_out,).

    ``y[n, o, p, q] = b[o] + Σ_{c, i, j} w[o, c, i, j] · xp[n, c, p·s_h + i·d_h, q·s_w + j·d_w]``
    where ``xp`` is the padded input and ``c`` runs over the ``C_in/groups`` channels of
    ``o``'s group; ``H_out = ⌊(H + p_top + p_bottom - d_h(kh - 1) - 1) / s_h⌋ + 1``.

    ``padding`` is an int, a pair, ``'valid'`` (0) or ``'same'`` (output size = input size;
    stride 1 only; total ``d(k - 1)`` per axis, the odd row/column at the bottom/right
    like PyTorch). ``padding_mode`` ``'zeros'``, ``'reflect'``, ``'replicate'`` or
    ``'circular'`` says what the padding holds.

    Backward (derived in :mod:`refnet.nn.functional.conv`): with ``G = ∂L/∂y`` and the
    im2col matrix ``X`` of the padded input,

    * ``∂L/∂w = G Xᵀ``: the correlation of the input with the output gradient;
    * ``∂L/∂b = Σ_{n, p, q} G``;
    * ``∂L/∂x = col2im(Wᵀ G)``: the transposed convolution of ``G``, each column gradient
      added back where im2col copied it from (then the padding's gradient folded back:
      cropped for zeros, added to the copied border elements for the other modes).

    Caches the im2col matrix ``X`` (C·kh·kw rows, kh·kw times the padded input) for
    ``∂L/∂w``: the backward's weight gradient is then one GEMM, without a second im2col.

    ``needs_input_grad = False`` (an attribute, default ``True``) skips ∂L/∂x, e.g. in the
    first layer of a network: ``backward`` then returns ``None``.
    """


class Conv1d(_Conv):
    """1-d convolution over (N, C_in, L) or (C_in, L) input (PyTorch: ``nn.Conv1d``).

    Weight (C_out, C_in/groups, k). It is ``Conv2d`` over a height of 1 with a
    (1, k) kernel: the same kernels, forward, backward and cache (see ``Conv2d``).
    """

    _dims = 1


class ConvTranspose2d(_ConvNd):
    """Transposed 2-d convolution (PyTorch: ``nn.ConvTranspose2d(in_channels, out_channels,
    kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True, dilation=1,
    padding_mode='zeros')``). Weight (C_in, C_out/groups, kh, kw), bias (C_out,).

    It is the input gradient of the ``Conv2d`` from C_out to C_in channels with the same
    weight, stride, padding and dilation: every input element scatters ``x · w`` into a
    dilated kh×kw patch of the output, patches ``s`` apart (``col2im(Wᵀ x)``), and the
    ``padding`` rows/columns are cropped from each side. Output size:
    ``H_out = (H - 1)·s - 2p + d(k - 1) + output_padding + 1``; ``output_padding``
    (smaller than the stride or the dilation) adds rows at the bottom/right that the
    patches reach only when the stride skips them.

    Backward: the forward is linear in ``x``, and its adjoint is the convolution, so

    * ``∂L/∂x = W · im2col(pad(G))``: ``G`` convolved with the same weight (a ``Conv2d``);
    * ``∂L/∂w = x · im2col(pad(G))ᵀ``: the correlation of ``G`` with the input;
    * ``∂L/∂b = Σ_{n, p, q} G``.

    Caches the input in (C, H, W, N) layout. Only ``padding_mode='zeros'``, as in PyTorch.
    ``needs_input_grad = False`` skips ∂L/∂x, as for ``Conv2d``.
    """

    transposed = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: IntOrTuple = 0,
        output_padding: IntOrTuple = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: IntOrTuple = 1,
        padding_mode: str = "zeros",
        dtype: npt.DTypeLike = np.float32,
        generator: Seed = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            output_padding,
            dtype,
            generator,
        )

    def _output_padding(self, x: Array, output_size: Sequence[int] | None) -> tuple[int, int]:
        """``output_padding``, or the one that yields ``output_size`` (PyTorch's rule)."""
        if output_size is None:
            pads = (0,) * (2 - self._dims) + self.output_padding
            return pads[0], pads[1]
        wanted = (x.shape[2],) * (2 - self._dims) + tuple(output_size)[-self._dims :]
        smallest = F.conv_transpose_output_size(x.shape[2], x.shape[3], self._geometry, (0, 0))
        stride = self._geometry.stride
        for size, low, s in zip(wanted, smallest, stride, strict=True):
            if not low <= size <= low + s - 1:
                largest = tuple(m + s - 1 for m, s in zip(smallest, stride, strict=True))
                raise ValueError(
                    f"{self.describe()}: requested output size {self._spatial(wanted)} is not "
                    f"between {self._spatial(smallest)} and {self._spatial(largest)}"
                )
        return wanted[0] - smallest[0], wanted[1] - smallest[1]

    def forward(self, x: Array, output_size: Sequence[int] | None = None) -> Array:
        x4 = self._as_batched_2d(x)
        if 0 in x4.shape[2:]:
            raise ValueError(
                f"{self.describe()}: expected a non-empty spatial input (PyTorch supports only "
                f"a zero batch or zero channels), got {tuple(np.shape(x))}"
            )
        output_padding = self._output_padding(x4, output_size)
        out = F.conv_transpose_output_size(x4.shape[2], x4.shape[3], self._geometry, output_padding)
        if out[0] < 1 or out[1] < 1:
            raise ValueError(
                f"{self.describe()}: input of size {self._spatial(x4.shape[2:])} gives an "
                f"output of size {self._spatial(out)}, which is empty (input "
                f"{tuple(np.shape(x))})"
            )
        bias = None if self.bias is None else self.bias.data
        y, self._cache = F.conv_transpose2d_forward(
            x4, self._weight_2d(), bias, self._geometry, output_padding
        )
        result = self._unbatch(y)
        self._output_shape = result.shape
        return result

    def backward(self, grad_output: Array) -> Array | None:
        cache = self._saved(self._cache)
        g = self._grad_as_batched_2d(grad_output)
        grad_x, grad_w, grad_b = F.conv_transpose2d_backward(
            g,
            self._weight_2d(),
            cache,
            input_grad=self.needs_input_grad,
            bias_grad=self.bias is not None,
        )
        self._accumulate(grad_w, grad_b)
        return None if grad_x is None else self._unbatch(grad_x)


class ConvTranspose1d(ConvTranspose2d):
    """Transposed 1-d convolution over (N, C_in, L) or (C_in, L) input (PyTorch:
    ``nn.ConvTranspose1d``). Weight (C_in, C_out/groups, k).

    ``ConvTranspose2d`` over a height of 1 with a (1, k) kernel: the same kernels,
    output size ``(L - 1)·s - 2p + d(k - 1) + output_padding + 1``, backward and cache.
    """

    _dims = 1


class _Conv3dBase(_ConvNd):
    """Shared by the 3-d layers: plain kernels (:mod:`refnet.nn.functional.convolution3d`), one
    kernel tap at a time; (N, C, D, H, W) or (C, D, H, W) input."""

    _dims = 3

    def _make_geometry(self) -> C3.Conv3dGeometry:  # type: ignore[override]
        if self.padding == "same":
            pads = tuple(
                (d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
                for k, d in zip(self.kernel_size, self.dilation, strict=True)
            )
        elif self.padding == "valid":
            pads = ((0, 0),) * 3
        else:
            pads = tuple((int(p), int(p)) for p in self.padding)
        return C3.Conv3dGeometry(
            (self.kernel_size[0], self.kernel_size[1], self.kernel_size[2]),
            (self.stride[0], self.stride[1], self.stride[2]),
            pads,
            (self.dilation[0], self.dilation[1], self.dilation[2]),
            self.groups,
            self.padding_mode,
        )

    def _expected(self) -> str:
        c = self.in_channels
        return f"(N, {c}, D, H, W) or ({c}, D, H, W)"

    def _batched_3d(self, x: object) -> Array:
        x = float_input(self, x)
        if x.ndim not in (4, 5) or x.shape[-4] != self.in_channels:
            raise shape_error(self, self._expected(), x)
        matching_dtype(self, x, self.weight.dtype)
        self._batched = x.ndim == 5
        return x if self._batched else x[None]

    def _unbatch3(self, y: Array) -> Array:
        out = y if self._batched else y[0]
        self._output_shape = out.shape
        return out

    def _grad_3d(self, grad_output: object) -> Array:
        g = same_shape_gradient(self, grad_output, self._saved(self._output_shape))
        return g if self._batched else g[None]


class Conv3d(_Conv3dBase):
    """3-d convolution (cross-correlation) over (N, C_in, D, H, W) or (C_in, D, H, W)
    input (PyTorch: ``nn.Conv3d(in_channels, out_channels, kernel_size, stride=1,
    padding=0, dilation=1, groups=1, bias=True, padding_mode='zeros')``). Weight
    (C_out, C_in/groups, kd, kh, kw), bias (C_out,).

    ``y[n, o, z, p, q] = b[o] + Σ_{c, i, j, l} w[o, c, i, j, l] · xp[n, c, z·s_d + i·d_d,
    p·s_h + j·d_h, q·s_w + l·d_w]``, ``xp`` the input padded with ``padding_mode``;
    ``padding`` an int, a triple, ``'valid'`` or ``'same'`` (stride 1).

    Backward, tap by tap (derived in :mod:`refnet.nn.functional.convolution3d`): ``∂L/∂w`` the
    correlation of the padded input with ``G``, ``∂L/∂x`` the transposed convolution of
    ``G`` with the padding's gradient folded back, ``∂L/∂b = Σ G``. Caches the padded
    input. A plain kernel only (no fast path); ``needs_input_grad = False`` returns
    ``None`` from ``backward``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: IntOrTuple | str = 0,
        dilation: IntOrTuple = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        dtype: npt.DTypeLike = np.float32,
        generator: Seed = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            0,
            dtype,
            generator,
        )

    def forward(self, x: Array) -> Array:
        x5 = self._batched_3d(x)
        geometry: C3.Conv3dGeometry = self._geometry  # type: ignore[assignment]
        sizes = x5.shape[2:]
        padded = tuple(n + b + a for n, (b, a) in zip(sizes, geometry.padding, strict=True))
        if any(p < e for p, e in zip(padded, geometry.dilated_kernel(), strict=True)):
            raise ValueError(
                f"{self.describe()}: input of size {tuple(sizes)} padded to {padded} is "
                f"smaller than the dilated kernel {geometry.dilated_kernel()} "
                f"(input {tuple(np.shape(x))})"
            )
        largest = tuple(max(b, a) for b, a in geometry.padding)
        mode = self.padding_mode
        if (mode == "reflect" and any(p >= n for p, n in zip(largest, sizes, strict=True))) or (
            mode == "circular" and any(p > n for p, n in zip(largest, sizes, strict=True))
        ):
            limit = "smaller than" if mode == "reflect" else "at most"
            raise ValueError(
                f"{self.describe()}: {mode} padding {largest} must be {limit} the input "
                f"size {tuple(sizes)}"
            )
        bias = None if self.bias is None else self.bias.data
        y, xp = C3.conv3d_forward(x5, self.weight.data, bias, geometry)
        self._cache = (xp, x5.shape)
        return self._unbatch3(y)

    def backward(self, grad_output: Array) -> Array | None:
        xp, shape = self._saved(self._cache)
        g = self._grad_3d(grad_output)
        geometry: C3.Conv3dGeometry = self._geometry  # type: ignore[assignment]
        dx, dw, db = C3.conv3d_gradient(g, xp, self.weight.data, geometry, shape)
        self._accumulate(dw, db)
        if not self.needs_input_grad:
            return None
        return dx if self._batched else dx[0]


class ConvTranspose3d(_Conv3dBase):
    """Transposed 3-d convolution (PyTorch: ``nn.ConvTranspose3d(in_channels,
    out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
    bias=True, dilation=1, padding_mode='zeros')``). Weight (C_in, C_out/groups, kd, kh,
    kw), bias (C_out,).

    The adjoint of ``Conv3d``'s input map: every input element scatters ``x · w`` into a
    dilated patch of the output, patches ``s`` apart, and ``padding`` is cropped from each
    side; ``D_out = (D - 1)·s - 2p + d(k - 1) + output_padding + 1`` (likewise H, W).
    Backward: ``∂L/∂x`` the convolution of ``G`` with the same weight, ``∂L/∂w`` the
    correlation of ``G`` with ``x``, ``∂L/∂b = Σ G``, tap by tap. Caches the input. A
    plain kernel only; only ``padding_mode='zeros'``, as in PyTorch.
    """

    transposed = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: IntOrTuple = 0,
        output_padding: IntOrTuple = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: IntOrTuple = 1,
        padding_mode: str = "zeros",
        dtype: npt.DTypeLike = np.float32,
        generator: Seed = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            output_padding,
            dtype,
            generator,
        )

    def _output_padding_3d(
        self, sizes: Sequence[int], output_size: Sequence[int] | None
    ) -> tuple[int, ...]:
        """``output_padding``, or the one that yields ``output_size`` (PyTorch's rule)."""
        geometry: C3.Conv3dGeometry = self._geometry  # type: ignore[assignment]
        if output_size is None:
            return self.output_padding
        wanted = tuple(int(v) for v in output_size)[-3:]
        smallest = C3.transposed_output_size(sizes, geometry, (0, 0, 0))
        if len(wanted) != 3 or not all(
            lo <= w <= lo + s - 1 for w, lo, s in zip(wanted, smallest, self.stride, strict=True)
        ):
            largest = tuple(lo + s - 1 for lo, s in zip(smallest, self.stride, strict=True))
            raise ValueError(
                f"{self.describe()}: requested output size {wanted} is not between "
                f"{smallest} and {largest}"
            )
        return tuple(w - lo for w, lo in zip(wanted, smallest, strict=True))

    def forward(self, x: Array, output_size: Sequence[int] | None = None) -> Array:
        x5 = self._batched_3d(x)
        sizes = x5.shape[2:]
        if 0 in sizes:
            raise ValueError(
                f"{self.describe()}: expected a non-empty spatial input, got {x.shape}"
            )
        geometry: C3.Conv3dGeometry = self._geometry  # type: ignore[assignment]
        output_padding = self._output_padding_3d(sizes, output_size)
        out = C3.transposed_output_size(sizes, geometry, output_padding)
        if min(out) < 1:
            raise ValueError(
                f"{self.describe()}: input of size {tuple(sizes)} gives an output of size "
                f"{out}, which is empty (input {tuple(np.shape(x))})"
            )
        bias = None if self.bias is None else self.bias.data
        y = C3.conv_transpose3d_forward(x5, self.weight.data, bias, geometry, output_padding)
        self._cache = (x5, output_padding)
        return self._unbatch3(y)

    def backward(self, grad_output: Array) -> Array | None:
        x5, output_padding = self._saved(self._cache)
        g = self._grad_3d(grad_output)
        geometry: C3.Conv3dGeometry = self._geometry  # type: ignore[assignment]
        dx, dw, db = C3.conv_transpose3d_gradient(g, x5, self.weight.data, geometry, output_padding)
        self._accumulate(dw, db)
        if not self.needs_input_grad:
            return None
        return dx if self._batched else dx[0]
