"""The Shakespeare example: models proven, a smoke run, sampling, resuming, bad input.

The smoke runs train tiny models on the first 50,000 characters of the shared corpus (or
of a generated play-like text when the corpus is absent) for a few dozen iterations: the
loss must fall well below the uniform ln V. Resuming after an interruption must give the
uninterrupted run bit for bit.
"""

from __future__ import annotations

import json
import math
import string
import sys
from pathlib import Path

import numpy as np
import pytest

import refnet
import refnet._download as download_module
from refnet.examples.shakespeare import cli, data
from refnet.examples.shakespeare.data import TextError, Vocabulary, get_batch, read_text, split
from refnet.examples.shakespeare.models import GPT, CharLSTM
from refnet.examples.shakespeare.training import RECIPES, Config, Trainer, WarmupCosine
from refnet.gradcheck import check_module

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "shakespeare" / "shakespeare.txt"
TINY = [
    "--n-layer", "1", "--n-embd", "32", "--n-head", "2", "--block-size", "32",
    "--batch-size", "16", "--lr", "2e-2", "--warmup-iters", "5", "--eval-iters", "2",
]  # fmt: skip


def _play(characters: int) -> str:
    """A play-like text: speaker names on their own lines, then verse-like lines."""
    rng = np.random.default_rng(0)
    words = [
        "the",
        "and",
        "my",
        "lord",
        "to",
        "thee",
        "of",
        "is",
        "not",
        "that",
        "love",
        "thou",
        "art",
        "what",
        "with",
        "night",
    ]
    lines = []
    while sum(len(line) + 1 for line in lines) < characters:
        lines.append(rng.choice(["Rom.", "Jul.", "Nurse."]))
        lines.append(" ".join(rng.choice(words, size=8)).capitalize() + ".")
    return "\n".join(lines)[:characters]


@pytest.fixture(scope="module")
def text_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    head = CORPUS.read_text()[:50_000] if CORPUS.is_file() else _play(50_000)
    path = tmp_path_factory.mktemp("text") / "head.txt"
    path.write_text(head)
    return path


def _train(text_file: Path, out: Path, *extra: str) -> int:
    return cli.main(
        ["--data", str(text_file), "--out-dir", str(out), "--no-progress", *TINY, *extra]
    )


def test_gpt_and_lstm_backward_pass_the_gradient_check() -> None:
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 7, size=(2, 5))
    gpt = GPT(7, 6, n_layer=2, n_head=2, n_embd=8, generator=np.random.default_rng(2)).double()
    report = check_module(gpt, idx)
    assert report.passed and len(report.tensors) == len(list(gpt.parameters()))
    lstm = CharLSTM(7, n_layer=2, n_embd=6, generator=np.random.default_rng(3)).double()
    assert check_module(lstm, idx).passed


def test_gpt_ties_its_embedding_and_refuses_a_long_context() -> None:
    gpt = GPT(7, 6, n_layer=1, n_head=2, n_embd=8, generator=np.random.default_rng(2))
    assert gpt.lm_head.weight is gpt.wte.weight
    assert "lm_head.weight" not in dict(gpt.named_parameters())
    with pytest.raises(ValueError, match="longer than the model's block size 6"):
        gpt(np.zeros((1, 7), dtype=np.int64))


def test_the_schedule_warms_up_then_follows_the_cosine_to_the_floor() -> None:
    schedule = WarmupCosine(warmup=10, horizon=110, floor=0.1)
    assert schedule(0) == pytest.approx(1 / 11) and schedule(9) == pytest.approx(10 / 11)
    assert schedule(10) == pytest.approx(1.0)
    assert schedule(60) == pytest.approx(0.55)  # halfway down the cosine
    assert schedule(110) == schedule(500) == 0.1


def test_vocabulary_round_trip_and_batches() -> None:
    text = "To be, or not to be:\nthat is the question."
    vocab = Vocabulary.from_text(text)
    ids = vocab.encode(text)
    assert vocab.decode(ids) == text and ids.max() == vocab.size - 1
    with pytest.raises(TextError, match=r"outside the model's vocabulary: 'Zd!'"):
        vocab.encode("Zounds!")
    x, y = get_batch(ids, 8, 4, np.random.default_rng(0))
    assert x.shape == y.shape == (4, 8)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])  # the targets are the next characters


def test_smoke_run_learns_and_writes_its_files(text_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "gpt"
    assert _train(text_file, out, "--iters", "100", "--eval-interval", "50") == 0
    metrics = json.loads((out / "metrics.json").read_text())
    history = metrics["history"]
    assert [h["iter"] for h in history] == [50, 100]
    vocab = Vocabulary.from_text(text_file.read_text())
    assert history[-1]["val_loss"] < math.log(vocab.size) - 1.0  # well below uniform
    for name in (
        "latest.npz",
        "best.npz",
        "metrics.csv",
        "samples.txt",
        "curves.png",
        "attention.png",
    ):
        assert (out / name).is_file(), name
    checkpoint = refnet.load(out / "latest.npz")
    assert checkpoint["vocab"] == vocab.chars  # the vocabulary travels in the checkpoint
    assert (out / "samples.txt").read_text().count("\n") > 3


def test_lstm_smoke_run(text_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "lstm"
    code = _train(
        text_file, out, "--model", "lstm", "--iters", "60", "--eval-interval", "60", "--no-plots"
    )
    assert code == 0
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert (
        history[-1]["val_loss"] < math.log(Vocabulary.from_text(text_file.read_text()).size) - 1.0
    )


def test_sampling_is_seeded_and_starts_with_the_prompt(
    text_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert _train(text_file, out, "--iters", "10", "--eval-interval", "10", "--no-plots") == 0
    capsys.readouterr()
    prompt = text_file.read_text()[:3]  # characters the model knows, whatever the text
    args = ["sample", "--checkpoint", str(out / "best.npz"), "--prompt", prompt, "--length", "80"]
    assert cli.main([*args, "--top-k", "5"]) == 0
    first = capsys.readouterr().out
    assert cli.main([*args, "--top-k", "5"]) == 0
    assert capsys.readouterr().out == first and first.startswith(prompt)
    assert len(first) == 3 + 80 + 1  # the prompt, the sample, print's newline
    assert cli.main([*args, "--seed", "1"]) == 0
    assert capsys.readouterr().out != first


def _interrupt_at(iteration: int, monkeypatch: pytest.MonkeyPatch) -> None:
    step = Trainer.step

    def interrupted(self: Trainer) -> float:
        if self.iter == iteration:
            raise KeyboardInterrupt
        return step(self)

    monkeypatch.setattr(Trainer, "step", interrupted)


def test_resume_continues_the_run_bit_for_bit(
    text_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    flags = ["--iters", "30", "--eval-interval", "10", "--no-plots"]
    assert _train(text_file, whole, *flags) == 0
    with monkeypatch.context() as patch:
        _interrupt_at(15, patch)
        assert _train(text_file, parts, *flags) == 130
    assert refnet.load(parts / "latest.npz")["iter"] == 10
    assert (
        cli.main(
            [
                "--data",
                str(text_file),
                "--out-dir",
                str(parts),
                "--resume",
                "--no-plots",
                "--no-progress",
            ]
        )
        == 0
    )
    a, b = refnet.load(whole / "latest.npz"), refnet.load(parts / "latest.npz")
    for key, value in a["model"].items():
        np.testing.assert_array_equal(value, b["model"][key], err_msg=key)
    assert [h["val_loss"] for h in a["history"]] == [h["val_loss"] for h in b["history"]]
    assert _train(text_file, parts, "--iters", "40", "--resume") == 2  # another horizon


def _error_of(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    code = cli.main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "is empty"), (b"\x00\x01\x02binary", "looks binary"), (b"\xff\xfe\xfa", "not UTF-8")],
)
def test_unusable_texts_are_refused_in_one_line(
    content: bytes, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    code, err = _error_of(capsys, ["--data", str(path), "--out-dir", str(tmp_path / "o")])
    assert code == 2 and message in err and err.count("\n") == 1


def test_bad_prompts_and_foreign_texts(
    text_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert _train(text_file, out, "--iters", "5", "--eval-interval", "5", "--no-plots") == 0
    checkpoint = str(out / "latest.npz")
    code, err = _error_of(capsys, ["sample", "--checkpoint", checkpoint, "--prompt", "日本"])
    assert code == 2 and "never saw: '日本'" in err
    other = tmp_path / "other.txt"
    other.write_text(read_text(text_file)[:2000] + "日本語")
    assert cli.main(["evaluate", "--checkpoint", checkpoint, "--data", str(other)]) == 0
    captured = capsys.readouterr()
    assert "skipped 3 characters" in captured.err and "nats/char" in captured.out
    code, err = _error_of(capsys, ["sample", "--checkpoint", str(text_file)])
    assert code == 2 and "error:" in err
    code, err = _error_of(capsys, ["--data", str(text_file), "--out-dir", str(out), "--no-plots"])
    assert code == 2 and "--resume" in err  # the directory holds a run


def test_too_short_a_text_for_the_context(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "short.txt"
    path.write_text("To be or not to be.\n" * 3)
    code, err = _error_of(capsys, ["--data", str(path), "--out-dir", str(tmp_path / "o"), *TINY])
    assert code == 2 and "too few for --block-size 32" in err


@pytest.mark.parametrize("model", ["gpt", "lstm"])
def test_the_torch_replica_from_refnets_weights_follows_step_by_step(
    model: str, text_file: Path
) -> None:
    """The whole recipe (model, AdamW groups, schedule, clipping) against torch's: from the
    same initial weights and batches, the training losses agree to float32 round-off."""
    pytest.importorskip("torch")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        import shakespeare_torch_replica as replica
    finally:
        sys.path.pop(0)
    text = read_text(text_file)
    vocab = Vocabulary.from_text(text)
    train, val = split(vocab.encode(text))
    small = {"n_layer": 2, "n_embd": 32, "n_head": 2, "block_size": 16, "batch_size": 4}
    config = Config(**{**RECIPES[model], **small, "model": model, "warmup_iters": 2, "lr": 1e-2})
    ours = Trainer(config, vocab, train, val)
    theirs = replica.Replica(config, vocab, train, val, same_init=True)
    mine = [ours.step() for _ in range(8)]
    torch_losses = [theirs.step() for _ in range(8)]
    np.testing.assert_allclose(mine, torch_losses, rtol=2e-5)
    assert mine[-1] < mine[0] - 0.2  # and they are learning, not standing still


def _looks_like_tiny_shakespeare() -> str:
    """A text that passes the published checks: the length, 65 characters, the opening."""
    alphabet = "\n !$&',-.3:;?" + string.ascii_letters
    body = alphabet * (data.TINY_SHAKESPEARE_LENGTH // len(alphabet) + 1)
    text = data.TINY_SHAKESPEARE_OPENING + body
    return text[: data.TINY_SHAKESPEARE_LENGTH]


def test_download_checks_the_text_and_then_uses_the_cache(tmp_path: Path) -> None:
    served = tmp_path / "served.txt"
    served.write_text(_looks_like_tiny_shakespeare())
    cache = tmp_path / "cache"
    path = data.download_tiny_shakespeare(cache, served.as_uri())
    assert path.read_bytes() == served.read_bytes()
    assert sorted(p.name for p in cache.iterdir()) == ["input.txt"]
    gone = (tmp_path / "nowhere.txt").as_uri()  # a second call does not fetch
    assert data.download_tiny_shakespeare(cache, gone) == path


def test_a_download_that_is_not_tiny_shakespeare_leaves_nothing(tmp_path: Path) -> None:
    served = tmp_path / "served.txt"
    served.write_text(_looks_like_tiny_shakespeare()[:-1000])
    cache = tmp_path / "cache"
    with pytest.raises(TextError, match=r"not tiny shakespeare.*expected 1115394"):
        data.download_tiny_shakespeare(cache, served.as_uri())
    assert list(cache.iterdir()) == []
    with pytest.raises(TextError, match="cannot download"):
        data.download_tiny_shakespeare(cache, (tmp_path / "nowhere.txt").as_uri())


def test_a_trickling_download_hits_its_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = tmp_path / "served.txt"
    served.write_text(_looks_like_tiny_shakespeare())
    clock = iter(range(0, 10**6, 7))  # every reading of the clock is 7 s later
    monkeypatch.setattr(download_module.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(data, "DOWNLOAD_DEADLINE", 20.0)
    cache = tmp_path / "cache"
    with pytest.raises(TextError, match="too slow"):
        data.download_tiny_shakespeare(cache, served.as_uri())
    assert list(cache.iterdir()) == []
