"""The two character-level language models: a GPT and an LSTM, each with its backward.

Both map ids (B, T) to logits (B, T, V) over the next character. Both are a user's own
``Module`` built from refnet's public layers, with the chain rule written out in
``backward``, last layer first.

**GPT** (nanoGPT's model, without dropout): token and position embeddings, ``n_layer``
pre-norm blocks ``x + attn(ln_1(x))`` then ``x + mlp(ln_2(x))`` with causal
``MultiheadAttention`` and a GELU MLP four times wider, a final LayerNorm, and the output
layer tied to the token embedding (one matrix, both gradients added into it).
nanoGPT's initialisation: every weight N(0, 0.02), the projections back into the residual
stream N(0, 0.02/√(2·n_layer)), biases 0.

**LSTM** (char-rnn's model): an embedding, ``n_layer`` LSTM layers of ``n_embd`` units,
a linear read-out.
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np

import refnet.nn as nn
from refnet._typing import Array, IntArray
from refnet.nn import init

__all__ = ["GPT", "Block", "CharLSTM", "build_model"]

STD = 0.02


def causal_mask(length: int) -> Array:
    """(T, T) boolean, True above the diagonal: position t may not attend to s > t
    (MultiheadAttention's boolean masks mark the blocked pairs)."""
    return np.triu(np.ones((length, length), dtype=bool), k=1)


class Block(nn.Module):
    """One pre-norm Transformer block: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``."""

    def __init__(self, n_embd: int, n_head: int, generator: np.random.Generator) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = nn.MultiheadAttention(n_embd, n_head, batch_first=True, generator=generator)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd, generator=generator),
            nn.GELU(),
            nn.Linear(4 * n_embd, n_embd, generator=generator),
        )

    # --8<-- [start:block]
    def forward(self, x: Array, need_weights: bool = False) -> Array:
        a = self.ln_1(x)
        mask = causal_mask(x.shape[1])
        y, self.weights = self.attn(
            a,
            a,
            a,
            attn_mask=mask,
            is_causal=True,
            need_weights=need_weights,
            average_attn_weights=False,
        )
        x = x + y
        return x + self.mlp(self.ln_2(x))

    def backward(self, grad: Array) -> Array:
        # x2 = x1 + mlp(ln_2(x1)): the residual passes the gradient on unchanged, plus the
        # MLP branch's; likewise x1 = x + attn(a, a, a): the three inputs' gradients add.
        grad = grad + self.ln_2.backward(self.mlp.backward(grad))
        grad_q, grad_k, grad_v = self.attn.backward(grad, None)
        return grad + self.ln_1.backward(grad_q + grad_k + grad_v)

    # --8<-- [end:block]


class GPT(nn.Module):
    """A decoder-only Transformer over characters (nanoGPT's ``GPT``, bias and no dropout)."""

    def __init__(
        self,
        vocab_size: int,
        block_size: int,
        n_layer: int,
        n_head: int,
        n_embd: int,
        generator: np.random.Generator,
    ) -> None:
        super().__init__()
        self.block_size = block_size
        self.wte = nn.Embedding(vocab_size, n_embd, generator=generator)
        self.wpe = nn.Embedding(block_size, n_embd, generator=generator)
        self.h = nn.ModuleList(Block(n_embd, n_head, generator) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying: one matrix, two uses
        self._initialise(n_layer, generator)

    def _initialise(self, n_layer: int, generator: np.random.Generator) -> None:
        for name, param in self.named_parameters():
            if name.endswith("bias"):
                init.zeros_(param)
            elif param.ndim == 2:
                residual = name.endswith(("out_proj.weight", "mlp.2.weight"))
                std = STD / math.sqrt(2 * n_layer) if residual else STD
                init.normal_(param, 0.0, std, generator=generator)

    # --8<-- [start:gpt]
    def forward(self, idx: IntArray) -> Array:
        T = idx.shape[1]
        if self.block_size < T:
            raise ValueError(
                f"GPT: a context of {T} characters is longer than the model's block size "
                f"{self.block_size}"
            )
        x = self.wte(idx) + self.wpe(np.arange(T))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))

    def backward(self, grad_logits: Array) -> None:
        grad_final = self.lm_head.backward(grad_logits)
        assert grad_final is not None
        grad = self.ln_f.backward(grad_final)
        for block in reversed(self.h):
            grad = block.backward(grad)
        self.wte.backward(grad)
        self.wpe.backward(grad.sum(axis=0))  # the positions are shared by the batch

    # --8<-- [end:gpt]

    def attention_maps(self, idx: IntArray) -> Array:
        """Every layer's and head's attention weights for ``idx`` (1, T): (layers, heads, T, T)."""
        x = self.wte(idx) + self.wpe(np.arange(idx.shape[1]))
        maps = []
        for block in self.blocks:
            x = block(x, need_weights=True)
            maps.append(block.weights[0])
        return np.stack(maps)

    @property
    def blocks(self) -> list[Block]:
        return [cast(Block, block) for block in self.h]

    def next_logits(self, context: IntArray, state: Any) -> tuple[Array, Any]:
        """Logits (V,) of the character after ``context`` (the last block_size ids count)."""
        return self(context[None, -self.block_size :])[0, -1], None


class CharLSTM(nn.Module):
    """Embedding, ``n_layer`` LSTM layers (batch-first), a linear read-out."""

    def __init__(
        self, vocab_size: int, n_layer: int, n_embd: int, generator: np.random.Generator
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, n_embd, generator=generator)
        self.lstm = nn.LSTM(
            n_embd, n_embd, num_layers=n_layer, batch_first=True, generator=generator
        )
        self.head = nn.Linear(n_embd, vocab_size, generator=generator)

    def forward(self, idx: IntArray, hx: Any = None) -> Array:
        out, self.state = self.lstm(self.embedding(idx), hx)
        return self.head(out)

    def backward(self, grad_logits: Array) -> None:
        grad = self.lstm.backward(self.head.backward(grad_logits))
        assert isinstance(grad, np.ndarray)  # no hx in training: one gradient, the input's
        self.embedding.backward(grad)

    def next_logits(self, context: IntArray, state: Any) -> tuple[Array, Any]:
        """Logits of the next character: the whole context first, then one id at a time."""
        new = context[None] if state is None else context[None, -1:]
        logits = self(new, state)
        return logits[0, -1], self.state


def build_model(
    name: str,
    vocab_size: int,
    block_size: int,
    n_layer: int,
    n_head: int,
    n_embd: int,
    generator: np.random.Generator,
) -> GPT | CharLSTM:
    if name == "gpt":
        return GPT(vocab_size, block_size, n_layer, n_head, n_embd, generator)
    if name == "lstm":
        return CharLSTM(vocab_size, n_layer, n_embd, generator)
    raise ValueError(f"unknown model {name!r} (gpt or lstm)")
