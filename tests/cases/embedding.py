"""Cases for Embedding: index arrays of any shape (repeats included) and the options.

Indices are integers, so the gradient check differentiates the weight only. Repeated
indices are made likely (a vocabulary not much larger than the number of lookups), so
the accumulation of repeated rows is always exercised. ``padding_idx`` is drawn as a
non-negative or a negative index, and the indices avoid that row: its zero gradient is a
convention, not a derivative (tests/test_embedding.py checks it). Two options stay at
their defaults here and are compared with torch in tests/test_embedding.py instead:
``scale_grad_by_freq`` (a deliberately rescaled gradient, not the derivative a finite
difference measures) and ``max_norm`` (it rescales the weight in place during forward).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import refnet.nn as nn
from refnet.testing import seeds, shapes
from tests.cases.registry import ModuleCase, module_case

Draw = st.DrawFn


@module_case(nn.Embedding)
def embedding_case(draw: Draw) -> ModuleCase:
    num_embeddings = draw(st.integers(1, 6))
    embedding_dim = draw(st.integers(1, 4))
    padding_idx = None
    if num_embeddings > 1:
        padding_idx = draw(st.none() | st.integers(-num_embeddings, num_embeddings - 1))
    module = nn.Embedding(
        num_embeddings,
        embedding_dim,
        padding_idx=padding_idx,
        generator=draw(seeds()),
    ).double()
    shape = draw(shapes(min_dims=0, max_dims=3, max_side=4))
    dtype = draw(st.sampled_from([np.int64, np.int32]))
    allowed = [i for i in range(num_embeddings) if i != module.padding_idx]
    indices = np.random.default_rng(draw(seeds())).choice(allowed, shape).astype(dtype)
    return ModuleCase(module, indices)
