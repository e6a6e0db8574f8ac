"""Bad arguments to the functional convolutions: refused where torch refuses them.

Every case names the rule it exercises (its id starts with it):

1. ``dims``: input of n+1 or n+2 dims, weight of n+2 dims, a non-empty kernel and
   channel counts, a non-empty spatial input;
2. ``args``: stride ≥ 1, dilation ≥ 1, padding ≥ 0 (or 'same' with stride 1, or 'valid'),
   groups ≥ 1, ints or tuples of one or n ints;
3. ``channels``: the input's channels match the weight, groups divide the channels;
4. ``bias``: shape (out_channels,);
5. ``kernel``: the padded input holds one dilated kernel;
6. ``output``: (transposed) output_padding ≥ 0 and smaller than stride or dilation, an
   output of at least 1 per axis;
7. ``grad``: (backward) the gradient has the forward output's shape.

A bad case asserts that torch refuses it (its backward through autograd, for the
``*_backward`` functions) and that refnet raises a ``ValueError`` (``TypeError`` for a
non-integer argument, as torch) whose message starts with the function's name. A
boundary case, just inside a limit, asserts that both accept it and agree (float64).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import refnet.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Case:
    """A call: ``function`` (refnet's name; torch's without ``_backward``), the shapes of
    the input, weight, bias and (backward) gradient, and keyword arguments."""

    function: str
    x: Shape
    w: Shape
    bias: Shape | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    grad: Shape | None = None  # None: the output's shape (boundary), (1,) (bad)

    @property
    def backward(self) -> bool:
        return self.function.endswith("_backward")


@dataclass(frozen=True)
class Bad:
    case: Case
    match: str  # a regex naming the offending quantity
    error: type[Exception] = ValueError
    torch_error: type[Exception] = RuntimeError


def bad(rule: str, what: str, case: Case, match: str, **errors: Any) -> Any:
    return pytest.param(Bad(case, match, **errors), id=f"{rule}-{case.function}-{what}")


def good(rule: str, what: str, case: Case) -> Any:
    # torch warns that 'same' with an even kernel copies the input: nothing to test here
    quiet = pytest.mark.filterwarnings("ignore:Using padding='same'")
    return pytest.param(case, id=f"{rule}-{case.function}-{what}", marks=quiet)


C1, C2, C3 = "conv1d", "conv2d", "conv3d"
T1, T2, T3 = "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"
C3B, T1B, T3B = "conv3d_backward", "conv_transpose1d_backward", "conv_transpose3d_backward"

BAD = [
    # 1. dims
    bad("dims", "1d-input", Case(C1, (5,), (4, 2, 3)), r"2-d \(unbatched\) or 3-d \(batched\)"),
    bad("dims", "5d-input", Case(C2, (1, 1, 2, 5, 5), (4, 2, 3, 3)), r"or 4-d \(batched\) input"),
    bad("dims", "3d-input", Case(C3, (2, 5, 5), (4, 2, 3, 3, 3)), r"4-d \(unbatched\)"),
    bad("dims", "3d-weight", Case(C2, (1, 2, 5, 5), (4, 2, 3)), r"expected a 4-d weight"),
    bad("dims", "5d-weight", Case(C2, (1, 2, 5, 5), (4, 2, 3, 3, 3)), r"expected a 4-d weight"),
    bad("dims", "4d-weight", Case(C1, (1, 2, 5), (4, 2, 3, 1)), r"expected a 3-d weight"),
    bad("dims", "2d-input", Case(T2, (3, 3), (2, 3, 3, 3)), r"3-d \(unbatched\)"),
    bad("dims", "4d-weight", Case(T1, (1, 2, 5), (2, 3, 3, 1)), r"expected a 3-d weight"),
    bad("dims", "3d-input", Case(C3B, (2, 5, 5), (4, 2, 3, 3, 3)), r"4-d \(unbatched\)"),
    bad("dims", "empty-kernel", Case(C2, (1, 2, 5, 5), (4, 2, 0, 3)), r"kernel size .* \(0, 3\)"),
    bad("dims", "no-out-channels", Case(C2, (1, 2, 5, 5), (0, 2, 3, 3)), r"out_channels"),
    bad("dims", "no-out-channels", Case(T2, (1, 2, 3, 3), (2, 0, 3, 3)), r"out_channels"),
    bad("dims", "no-in-channels", Case(T2, (1, 0, 3, 3), (0, 3, 3, 3)), r"in_channels"),
    bad("dims", "empty-kernel", Case(T3, (1, 2, 3, 3, 3), (2, 3, 3, 0, 3)), r"kernel size"),
    bad(
        "dims",
        "empty-input",
        Case(C2, (1, 2, 0, 5), (4, 2, 1, 1), kwargs={"padding": 1}),
        r"non-empty spatial input.* \(1, 2, 0, 5\)",
    ),
    bad("dims", "empty-input", Case(T2, (1, 2, 0, 3), (2, 3, 3, 3)), r"non-empty spatial input"),
    bad(
        "dims",
        "unbatched-empty-height",
        Case(C2, (2, 0, 5), (4, 2, 1, 1), kwargs={"padding": 1}),
        r"non-empty spatial input",
    ),
    # 2. args
    bad("args", "stride-0", Case(C2, (1, 2, 5, 5), (4, 2, 3, 3), kwargs={"stride": 0}), "stride"),
    bad("args", "stride-neg", Case(C1, (1, 2, 5), (4, 2, 3), kwargs={"stride": -1}), "stride"),
    bad(
        "args",
        "stride-0-axis",
        Case(C3, (1, 2, 5, 5, 5), (4, 2, 3, 3, 3), kwargs={"stride": (1, 0, 1)}),
        r"stride must be at least 1, got \(1, 0, 1\)",
    ),
    bad(
        "args",
        "stride-3-values",
        Case(C2, (1, 2, 5, 5), (4, 2, 3, 3), kwargs={"stride": (1, 2, 3)}),
        r"stride must be an int or a tuple of 2 ints",
    ),
    bad(
        "args",
        "stride-empty",
        Case(C2, (1, 2, 5, 5), (4, 2, 3, 3), kwargs={"stride": ()}),
        r"stride must be an int or a tuple of 2 ints",
    ),
    bad(
        "args",
        "stride-float",
        Case(C2, (1, 2, 5, 5), (4, 2, 3, 3), kwargs={"stride": 1.5}),
        r"stride must be an int",
        error=TypeError,
        torch_error=TypeError,
    ),
    bad(
        "args",
        "padding-3-values",
        Case(C3, (1, 2, 5, 5, 5), (4, 2, 3, 3, 3), kwargs={"padding": (1, 1)}),
        r"padding must be an int or a tuple of 3 ints",
    ),
    bad("args", "dilation-0", Case(C2, (1, 2, 5, 5), (4, 2, 3, 3), kwargs={"dilation": 0}), "dil"),
    bad(
        "args",
        "dilation-0",
        Case(T3, (1, 2, 3, 3, 3), (2, 3, 3, 3, 3), kwargs={"dilation": 0}),
        r"dilation must be at least 1",
    ),
    bad(
        "args",
        "padding-neg",
        Case(C2, (1, 2, 5, 5), (4, 2, 3, 3), kwargs={"padding": -1}),
        r"padding must be at least 0, got \(-1, -1\)",
    ),
    bad(
        "args",
        "padding-neg-axis",
        Case(C3, (1, 2, 5, 5, 5), (4, 2, 3, 3, 3), kwargs={"padding": (0, -1, 0)}),
        r"padding must be at least 0",
    ),
    bad(
        "args",
        "padding-neg",
        Case(T2, (1, 2, 3, 3), (2, 3, 3, 3), kwargs={"padding": -1}),
        r"padding must be at least 0",
    ),
    bad(
        "args",
        "padding-string",
        Case(T2, (1, 2, 3, 3), (2, 3, 3, 3), kwargs={"padding": "same"}),
        r"padding must be an int or a tuple of 2 ints, got 'same'",
        error=TypeError,
        torch_error=TypeError,
    ),
    bad(
        "args",
        "padding-foo",
        Case(C2, (1, 2, 5, 5), (4, 2, 3, 3), kwargs={"padding": "foo"}),
        r"invalid padding string 'foo'",
    ),
    bad(
        "args",
        "same-strided",
        Case(C2, (1, 2, 5, 5), (4, 2, 3, 3), kwargs={"padding": "same", "stride": 2}),
        r"padding='same' .* stride=\(2, 2\)",
    ),
    bad(
        "args",
        "same-strided",
        Case(C1, (1, 2, 5), (4, 2, 3), kwargs={"padding": "same", "stride": 2}),
        r"padding='same'",
    ),
    bad(
        "args",
        "same-strided-axis",
        Case(C3, (1, 2, 5, 5, 5), (4, 2, 3, 3, 3), kwargs={"padding": "same", "stride": (1, 1, 2)}),
        r"padding='same'",
    ),
    bad("args", "groups-0", Case(C2, (1, 2, 5, 5), (4, 2, 3, 3), kwargs={"groups": 0}), "groups"),
    bad("args", "groups-neg", Case(T1, (1, 2, 5), (2, 3, 3), kwargs={"groups": -1}), "groups"),
    bad(
        "args",
        "groups-float",
        Case(C2, (1, 2, 5, 5), (4, 2, 3, 3), kwargs={"groups": 1.0}),
        r"groups must be an int",
        error=TypeError,
        torch_error=TypeError,
    ),
    bad(
        "args", "stride-0", Case(C3B, (1, 2, 3, 3, 3), (4, 2, 3, 3, 3), kwargs={"stride": 0}), "st"
    ),
    # 3. channels
    bad(
        "channels",
        "mismatch",
        Case(C2, (1, 3, 5, 5), (4, 2, 3, 3)),
        r"expected input with 2 channels .* got 3 channels",
    ),
    bad(
        "channels",
        "mismatch-groups",
        Case(C1, (1, 3, 5), (4, 1, 3), kwargs={"groups": 2}),
        r"expected input with 2 channels \(weight.shape\[1\]=1 \* groups=2\)",
    ),
    bad("channels", "mismatch", Case(C3, (1, 3, 3, 3, 3), (4, 2, 3, 3, 3)), r"2 channels"),
    bad(
        "channels",
        "out-not-divisible",
        Case(C2, (1, 2, 5, 5), (3, 1, 3, 3), kwargs={"groups": 2}),
        r"out_channels .* divisible by groups.* \(3, 1, 3, 3\) and groups=2",
    ),
    bad(
        "channels",
        "mismatch",
        Case(T2, (1, 3, 3, 3), (2, 3, 3, 3)),
        r"expected input with 2 channels \(weight.shape\[0\]\)",
    ),
    bad(
        "channels",
        "in-not-divisible",
        Case(T2, (1, 3, 3, 3), (3, 1, 3, 3), kwargs={"groups": 2}),
        r"in_channels .* divisible by groups",
    ),
    bad("channels", "mismatch", Case(T3, (1, 3, 3, 3, 3), (2, 3, 3, 3, 3)), r"2 channels"),
    bad("channels", "mismatch", Case(T1B, (1, 3, 3), (2, 3, 3)), r"2 channels"),
    # 4. bias
    bad("bias", "3-of-4", Case(C2, (1, 2, 5, 5), (4, 2, 3, 3), (3,)), r"bias of shape \(4,\)"),
    bad("bias", "2d", Case(C1, (1, 2, 5), (4, 2, 3), (4, 1)), r"bias .* got \(4, 1\)"),
    bad("bias", "0d", Case(C3, (1, 2, 3, 3, 3), (4, 2, 3, 3, 3), ()), r"bias .* got \(\)"),
    bad(
        "bias",
        "3-of-6",
        Case(T2, (1, 4, 3, 3), (4, 3, 3, 3), (3,), {"groups": 2}),
        r"bias of shape \(6,\)",
    ),
    bad("bias", "2-of-3", Case(T1, (1, 2, 3), (2, 3, 3), (2,)), r"bias of shape \(3,\)"),
    bad("bias", "3-of-4", Case(C3B, (1, 2, 3, 3, 3), (4, 2, 3, 3, 3), (3,)), r"bias of shape"),
    # 5. kernel
    bad(
        "kernel",
        "input-smaller",
        Case(C2, (1, 2, 2, 2), (4, 2, 3, 3)),
        r"input of size \(2, 2\) padded to \(2, 2\) is smaller than the dilated kernel \(3, 3\)",
    ),
    bad(
        "kernel",
        "input-smaller-unbatched",
        Case(C2, (2, 2, 5), (4, 2, 3, 3)),
        r"smaller than the dilated kernel",
    ),
    bad("kernel", "input-smaller", Case(C1, (1, 2, 2), (4, 2, 3)), r"dilated kernel \(3,\)"),
    bad(
        "kernel",
        "input-smaller-axis",
        Case(C3, (1, 2, 3, 3, 2), (4, 2, 3, 3, 3)),
        r"padded to \(3, 3, 2\) .* kernel \(3, 3, 3\)",
    ),
    bad(
        "kernel",
        "dilated-larger",
        Case(C2, (1, 2, 4, 5), (4, 2, 3, 3), kwargs={"dilation": 2}),
        r"dilated kernel \(5, 5\)",
    ),
    bad("kernel", "input-smaller", Case(C3B, (1, 2, 2, 3, 3), (4, 2, 3, 3, 3)), "dilated kernel"),
    # 6. output (transposed)
    bad(
        "output",
        "output-padding-stride-1",
        Case(T2, (1, 2, 3, 3), (2, 3, 3, 3), kwargs={"output_padding": 1}),
        r"output_padding must be smaller than either stride or dilation",
    ),
    bad(
        "output",
        "output-padding-axis",
        Case(T2, (1, 2, 3, 3), (2, 3, 3, 3), kwargs={"output_padding": (1, 0), "stride": (1, 2)}),
        r"output_padding=\(1, 0\), stride=\(1, 2\)",
    ),
    bad(
        "output",
        "output-padding-equal",
        Case(
            T2, (1, 2, 3, 3), (2, 3, 3, 3), kwargs={"output_padding": 2, "stride": 2, "dilation": 2}
        ),
        r"output_padding must be smaller",
    ),
    bad(
        "output",
        "output-padding-stride-1",
        Case(T1, (1, 2, 3), (2, 3, 3), kwargs={"output_padding": 1}),
        r"output_padding must be smaller",
    ),
    bad(
        "output",
        "output-padding-stride-1",
        Case(T3, (1, 2, 3, 3, 3), (2, 3, 3, 3, 3), kwargs={"output_padding": 1}),
        r"output_padding must be smaller",
    ),
    bad(
        "output",
        "output-padding-neg",
        Case(T2, (1, 2, 3, 3), (2, 3, 3, 3), kwargs={"output_padding": -1, "stride": 2}),
        r"output_padding must be at least 0",
    ),
    bad(
        "output",
        "size-negative",
        Case(T2, (1, 2, 1, 1), (2, 3, 3, 3), kwargs={"padding": 2}),
        r"output size \(-1, -1\) is too small",
    ),
    bad(
        "output",
        "size-0",
        Case(T2, (1, 2, 1, 1), (2, 3, 2, 2), kwargs={"padding": 1}),
        r"output size \(0, 0\) is too small",
    ),
    bad(
        "output",
        "size-negative",
        Case(T1, (1, 2, 1), (2, 3, 3), kwargs={"padding": 2}),
        r"output size \(-1,\)",
    ),
    bad(
        "output",
        "size-negative-axis",
        Case(T3, (1, 2, 1, 1, 1), (2, 3, 3, 3, 3), kwargs={"padding": (0, 2, 0)}),
        r"output size \(3, -1, 3\)",
    ),
    bad(
        "output",
        "output-padding-stride-1",
        Case(T3B, (1, 2, 3, 3, 3), (2, 3, 3, 3, 3), kwargs={"output_padding": 1}),
        r"output_padding must be smaller",
    ),
    bad(
        "output",
        "size-negative",
        Case(T1B, (1, 2, 1), (2, 3, 3), kwargs={"padding": 2}),
        r"output size \(-1,\)",
    ),
    # 7. grad (backward)
    bad(
        "grad",
        "wrong-size",
        Case(C3B, (1, 2, 3, 3, 3), (4, 2, 3, 3, 3), grad=(1, 4, 2, 1, 1)),
        r"grad of the output's shape \(1, 4, 1, 1, 1\), got \(1, 4, 2, 1, 1\)",
    ),
    bad(
        "grad",
        "unbatched",
        Case(C3B, (1, 2, 3, 3, 3), (4, 2, 3, 3, 3), grad=(4, 1, 1, 1)),
        r"grad of the output's shape \(1, 4, 1, 1, 1\)",
    ),
    bad(
        "grad",
        "wrong-channels",
        Case(T3B, (1, 2, 3, 3, 3), (2, 3, 3, 3, 3), grad=(1, 2, 5, 5, 5)),
        r"grad of the output's shape \(1, 3, 5, 5, 5\)",
    ),
    bad(
        "grad",
        "wrong-size",
        Case(T1B, (1, 2, 3), (2, 3, 3), grad=(1, 3, 4)),
        r"grad of the output's shape \(1, 3, 5\), got \(1, 3, 4\)",
    ),
    bad(
        "grad",
        "batched-for-unbatched",
        Case(T1B, (2, 3), (2, 3, 3), grad=(1, 3, 5)),
        r"grad of the output's shape \(3, 5\)",
    ),
]

GOOD = [
    # 1. dims
    good("dims", "unbatched", Case(C2, (2, 3, 3), (4, 2, 3, 3), (4,))),
    good("dims", "empty-batch", Case(C2, (0, 2, 5, 5), (4, 2, 3, 3))),
    good("dims", "empty-batch", Case(T3, (0, 2, 2, 2, 2), (2, 3, 2, 2, 2))),
    good("dims", "unbatched", Case(C3B, (2, 3, 3, 3), (4, 2, 3, 3, 3), (4,))),
    good("args", "same", Case(C3B, (1, 2, 4, 3, 5), (4, 2, 3, 2, 3), kwargs={"padding": "same"})),
    good("args", "valid", Case(C3B, (1, 2, 4, 3, 5), (4, 2, 3, 2, 3), kwargs={"padding": "valid"})),
    # 2. args
    good("args", "same-stride-1", Case(C2, (1, 2, 1, 1), (4, 2, 3, 3), kwargs={"padding": "same"})),
    good(
        "args",
        "same-tuple-stride-1",
        Case(C3, (1, 2, 2, 3, 2), (4, 2, 3, 2, 1), kwargs={"padding": "same", "stride": (1, 1, 1)}),
    ),
    good(
        "args",
        "same-even-dilated",
        Case(C1, (1, 2, 5), (4, 2, 4), kwargs={"padding": "same", "dilation": 2}),
    ),
    good(
        "args",
        "valid-strided",
        Case(C2, (1, 2, 5, 5), (4, 2, 3, 3), kwargs={"padding": "valid", "stride": 2}),
    ),
    good("args", "stride-1-tuple", Case(C2, (1, 2, 5, 5), (4, 2, 3, 3), kwargs={"stride": (2,)})),
    good("args", "stride-1-tuple", Case(C1, (1, 2, 5), (4, 2, 3), kwargs={"stride": (2,)})),
    good(
        "args",
        "padding-1-list",
        Case(C3, (1, 2, 3, 3, 3), (4, 2, 3, 3, 3), kwargs={"padding": [1]}),
    ),
    good(
        "args", "numpy-ints", Case(C2, (1, 2, 5, 5), (4, 2, 3, 3), kwargs={"stride": np.int64(2)})
    ),
    # 3. channels
    good("channels", "groups", Case(C2, (1, 4, 5, 5), (6, 2, 3, 3), (6,), {"groups": 2})),
    good("channels", "groups", Case(T2, (1, 4, 3, 3), (4, 3, 3, 3), (6,), {"groups": 2})),
    good("channels", "depthwise", Case(C1, (1, 3, 5), (3, 1, 3), (3,), {"groups": 3})),
    # 5. kernel
    good("kernel", "input-is-kernel", Case(C2, (1, 2, 3, 3), (4, 2, 3, 3), (4,))),
    good(
        "kernel", "input-is-dilated-kernel", Case(C1, (1, 2, 5), (4, 2, 3), kwargs={"dilation": 2})
    ),
    good(
        "kernel",
        "padded-is-kernel",
        Case(C3, (1, 2, 1, 1, 1), (4, 2, 3, 3, 3), (4,), {"padding": 1}),
    ),
    good(
        "kernel",
        "padded-is-kernel",
        Case(C2, (1, 2, 1, 3), (4, 2, 3, 3), kwargs={"padding": (1, 0)}),
    ),
    good("kernel", "input-is-kernel", Case(C3B, (1, 2, 3, 3, 3), (4, 2, 3, 3, 3), (4,))),
    # 6. output (transposed)
    good(
        "output",
        "output-padding-stride-minus-1",
        Case(T2, (1, 2, 3, 3), (2, 3, 3, 3), (3,), {"output_padding": 1, "stride": 2}),
    ),
    good(
        "output",
        "output-padding-dilation-minus-1",
        Case(T2, (1, 2, 3, 3), (2, 3, 3, 3), kwargs={"output_padding": 2, "dilation": 3}),
    ),
    good(
        "output",
        "output-padding-axis",
        Case(T2, (1, 2, 3, 3), (2, 3, 3, 3), kwargs={"output_padding": (0, 1), "stride": (1, 2)}),
    ),
    good(
        "output",
        "output-padding-stride-minus-1",
        Case(T1, (1, 2, 3), (2, 3, 3), (3,), {"output_padding": 2, "stride": 3}),
    ),
    good(
        "output",
        "output-padding-stride-minus-1",
        Case(
            T3,
            (1, 4, 2, 2, 2),
            (4, 1, 2, 2, 2),
            (2,),
            {"output_padding": (1, 0, 1), "stride": 2, "groups": 2},
        ),
    ),
    good("output", "size-1", Case(T2, (1, 2, 1, 1), (2, 3, 3, 3), kwargs={"padding": 1})),
    good("output", "size-1", Case(T1, (1, 2, 1), (2, 3, 3), kwargs={"padding": 1})),
    good(
        "output",
        "size-1-axis",
        Case(T3, (1, 2, 1, 1, 1), (2, 3, 3, 3, 3), kwargs={"padding": (0, 1, 0)}),
    ),
    good(
        "output",
        "output-padding-stride-minus-1",
        Case(T3B, (1, 2, 2, 2, 2), (2, 3, 2, 2, 2), (3,), {"output_padding": 1, "stride": 2}),
    ),
    good("output", "size-1", Case(T1B, (1, 2, 1), (2, 3, 3), (3,), {"padding": 1})),
    good("output", "size-1", Case(T3B, (2, 1, 1, 1), (2, 3, 3, 3, 3), kwargs={"padding": 1})),
    good(
        "output",
        "output-padding-stride-minus-1",
        Case(T1B, (2, 3), (2, 3, 3), kwargs={"output_padding": 1, "stride": 2}),
    ),
]


def _arrays(case: Case, rng: np.random.Generator) -> list[np.ndarray | None]:
    """Input, weight and bias (``None`` without one), drawn in float64."""
    shapes = (case.x, case.w, case.bias)
    return [None if s is None else rng.normal(size=s) for s in shapes]


def _torch(case: Case, arrays: list[np.ndarray | None], grad: np.ndarray | None) -> list[Any]:
    """torch's output, or (backward) its gradients of the given arrays through autograd."""
    function = getattr(TF, case.function.removesuffix("_backward"))
    tensors = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    y = function(*tensors, **case.kwargs)
    if not case.backward:
        return [y]
    y.backward(torch.from_numpy(np.ones(y.shape) if grad is None else grad))
    return [None if t is None else t.grad for t in tensors]


def _refnet(case: Case, arrays: list[np.ndarray | None], grad: np.ndarray | None) -> list[Any]:
    function = getattr(F, case.function)
    if not case.backward:
        return [function(*arrays, **case.kwargs)]
    return list(function(grad, *arrays, **case.kwargs))


@pytest.mark.parametrize("bad", BAD)
def test_torch_and_refnet_refuse(bad: Bad) -> None:
    case = bad.case
    arrays = _arrays(case, np.random.default_rng(0))
    grad = np.ones(case.grad or (1,)) if case.backward else None
    with pytest.raises(bad.torch_error):
        _torch(case, arrays, grad)
    with pytest.raises(bad.error, match=rf"^{case.function}: .*{bad.match}"):
        _refnet(case, arrays, grad)


@pytest.mark.parametrize("case", GOOD)
def test_torch_and_refnet_accept_and_agree(case: Case) -> None:
    rng = np.random.default_rng(1)
    arrays = _arrays(case, rng)
    grad = None
    if case.backward:
        forward = Case(
            case.function.removesuffix("_backward"), case.x, case.w, case.bias, case.kwargs
        )
        grad = rng.normal(size=tuple(_torch(forward, arrays, None)[0].shape))
    theirs = _torch(case, arrays, grad)
    ours = _refnet(case, arrays, grad)
    assert len(ours) == len(theirs)
    for mine, torchs in zip(ours, theirs, strict=True):
        if torchs is None:
            assert mine is None
            continue
        expected = torchs.detach().numpy()
        assert mine.shape == expected.shape
        np.testing.assert_allclose(mine, expected, rtol=1e-12)
