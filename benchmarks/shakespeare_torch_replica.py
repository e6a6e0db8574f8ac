"""The Shakespeare example's recipes in PyTorch: what refnet's runs are measured against.

    python -m benchmarks.shakespeare_torch_replica --data TEXT [--model lstm] [--seeds 0 1 2]
    python -m benchmarks.shakespeare_torch_replica --data TEXT --same-init --iters 20

The same models written in plain ``torch.nn`` with the same parameter names (so one
``state_dict`` fits both), the same recipe (``refnet.examples.shakespeare.training``'s
``Config`` and ``RECIPES``; every flag overrides as in the refnet CLI), AdamW with the
same two parameter groups, the same warm-up + cosine schedule, gradient clipping, and the
same batches and evaluation batches (drawn by refnet's data code from the same seeds).
Without ``--same-init`` torch draws its own initial weights (nanoGPT's initialisation,
seeded by ``torch.manual_seed``); with it, the run starts from refnet's initial weights
for the seed, leaving floating-point rounding as the only difference, so the two loss
curves agree step by step at first.

Timing: torch runs at ``--threads`` threads (2 by default); ``ms_per_iter`` counts the
training iterations only, as refnet's does.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from refnet.examples.shakespeare.data import Vocabulary, get_batch, read_text, split
from refnet.examples.shakespeare.training import RECIPES, Config, Trainer, WarmupCosine


class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = nn.MultiheadAttention(n_embd, n_head, batch_first=True)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        a = self.ln_1(x)
        x = x + self.attn(a, a, a, attn_mask=mask, need_weights=False, is_causal=True)[0]
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab: int, block_size: int, n_layer: int, n_head: int, n_embd: int) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.h = nn.ModuleList(Block(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab, bias=False)
        self.lm_head.weight = self.wte.weight
        for name, p in self.named_parameters():  # nanoGPT's initialisation
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.ndim == 2:
                residual = name.endswith(("out_proj.weight", "mlp.2.weight"))
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layer) if residual else 0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        T = idx.shape[1]
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for block in self.h:
            x = block(x, mask)
        return self.lm_head(self.ln_f(x))


class CharLSTM(nn.Module):
    def __init__(self, vocab: int, n_layer: int, n_embd: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, n_embd)
        self.lstm = nn.LSTM(n_embd, n_embd, num_layers=n_layer, batch_first=True)
        self.head = nn.Linear(n_embd, vocab)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.head(self.lstm(self.embedding(idx))[0])


def build(config: Config, vocab: int) -> nn.Module:
    if config.model == "gpt":
        return GPT(vocab, config.block_size, config.n_layer, config.n_head, config.n_embd)
    return CharLSTM(vocab, config.n_layer, config.n_embd)


class Replica:
    """A torch run of ``config``: the model, AdamW groups, schedule, refnet's batches."""

    def __init__(
        self, config: Config, vocab: Vocabulary, train: Any, val: Any, same_init: bool
    ) -> None:
        torch.manual_seed(config.seed)
        self.config, self.train_ids, self.val_ids = config, train, val
        self.model = build(config, vocab.size)
        if same_init:
            ours = Trainer(config, vocab, train, val).model.state_dict()
            self.model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.items()})
        params = list(self.model.parameters())
        groups = [
            {"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
        ]
        self.optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, config.beta2))
        schedule = WarmupCosine(config.warmup_iters, config.iters, config.min_lr / config.lr)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule)
        self.batches = np.random.default_rng([config.seed, 1])
        self.iter = 0

    def loss(self, x: Any, y: Any) -> torch.Tensor:
        logits = self.model(torch.from_numpy(x))
        return nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), torch.from_numpy(y).reshape(-1)
        )

    def step(self) -> float:
        c = self.config
        x, y = get_batch(self.train_ids, c.block_size, c.batch_size, self.batches)
        self.optimizer.zero_grad()
        loss = self.loss(x, y)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.iter += 1
        return loss.item()

    @torch.no_grad()
    def estimate_loss(self) -> dict[str, float]:
        c = self.config
        self.model.eval()
        losses = {}
        for name, ids in (("train", self.train_ids), ("val", self.val_ids)):
            rng = np.random.default_rng([c.seed, 2, self.iter, name == "val"])
            batches = [get_batch(ids, c.block_size, c.batch_size, rng) for _ in range(c.eval_iters)]
            losses[name] = sum(float(self.loss(x, y)) for x, y in batches) / c.eval_iters
        self.model.train()
        return losses


def run(config: Config, text: str, same_init: bool) -> dict[str, Any]:
    vocab = Vocabulary.from_text(text)
    train, val = split(vocab.encode(text))
    replica = Replica(config, vocab, train, val, same_init)
    losses, history, seconds = [], [], 0.0
    while replica.iter < config.iters:
        start = time.perf_counter()
        losses.append(replica.step())
        seconds += time.perf_counter() - start
        if replica.iter % config.eval_interval == 0 or replica.iter == config.iters:
            evaluation = replica.estimate_loss()
            history.append(
                {
                    "iter": replica.iter,
                    "train_loss": evaluation["train"],
                    "val_loss": evaluation["val"],
                }
            )
            per_iter = 1e3 * seconds / replica.iter
            print(
                f"seed {config.seed} iter {replica.iter}: train {evaluation['train']:.4f}, "
                f"val {evaluation['val']:.4f}, {per_iter:.1f} ms/iter",
                flush=True,
            )
    return {
        "seed": config.seed,
        "history": history,
        "step_losses": losses,
        "ms_per_iter": 1e3 * seconds / config.iters,
    }


FLAGS = (
    "iters", "batch_size", "block_size", "n_layer", "n_head", "n_embd", "lr",
    "eval_interval", "eval_iters", "warmup_iters",
)  # fmt: skip


def config_from(args: argparse.Namespace, seed: int) -> Config:
    values = {
        **dataclasses.asdict(Config()),
        **RECIPES[args.model],
        "model": args.model,
        "seed": seed,
    }
    for field in FLAGS:
        if getattr(args, field) is not None:
            values[field] = getattr(args, field)
    return Config(**values)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", choices=("gpt", "lstm"), default="gpt")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    for field in FLAGS:
        parser.add_argument(f"--{field.replace('_', '-')}", type=float if field == "lr" else int)
    parser.add_argument(
        "--same-init", action="store_true", help="start from refnet's initial weights"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="write the runs here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    text = read_text(args.data)
    runs = [run(config_from(args, seed), text, args.same_init) for seed in args.seeds]
    finals = [r["history"][-1]["val_loss"] for r in runs]
    ms = np.mean([r["ms_per_iter"] for r in runs])
    listed = ", ".join(f"{v:.4f}" for v in finals)
    print(f"final validation loss: {listed} (mean {np.mean(finals):.4f}); {ms:.1f} ms/iter")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=1)


if __name__ == "__main__":
    main()
