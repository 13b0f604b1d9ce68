"""The training loop's pieces (shared by `train()` and `benchmarks.finetune_steps`) on a tiny random Gemma 3."""

from __future__ import annotations

from typing import Any

import pytest

from core.finetune.jobs import TrainConfig
from core.finetune.train import Example, answer_loss, collate, epoch_batches, total_steps, training_step, with_lora

BATCH = [
    Example([2, 5, 6, 7, 8, 9], [-100, -100, -100, 7, 8, 9], "plain"),
    Example([2, 5, 6, 10], [-100, -100, 6, 10], "plain"),
]


def config(**fields: Any) -> TrainConfig:
    return TrainConfig(job_id="t", data_dir=".", dataset="", **fields)


@pytest.fixture
def tiny_gemma() -> Any:
    """A two-layer Gemma 3 with random weights (same classes as the bundled base, no download), logits soft-capped.

    Weights drawn wider than Gemma's default (0.3, not 0.02): with 32 dimensions the default leaves logits too
    small for any adapter to move the loss much."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    return Gemma3ForCausalLM(
        Gemma3TextConfig(
            vocab_size=97,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=16,
            max_position_embeddings=128,
            final_logit_softcapping=30.0,
            initializer_range=0.3,
        )
    )


def test_answer_loss_is_the_full_vocabulary_loss_on_answer_tokens(tiny_gemma: Any) -> None:
    batch = collate(BATCH, pad_id=0)
    assert batch["input_ids"].tolist()[1] == [2, 5, 6, 10, 0, 0] and batch["attention_mask"].tolist()[1] == [
        1,
        1,
        1,
        1,
        0,
        0,
    ]
    assert answer_loss(tiny_gemma, batch).item() == pytest.approx(tiny_gemma(**batch).loss.item(), rel=1e-5)


@pytest.mark.slow
def test_training_step_trains_only_the_adapters_and_lowers_the_loss(tiny_gemma: Any) -> None:
    import torch

    base_before = {n: p.detach().clone() for n, p in tiny_gemma.named_parameters()}
    lora = with_lora(tiny_gemma, config(learning_rate=1e-2), total=20)
    batch = collate(BATCH, pad_id=0)
    losses = [training_step(lora, batch) for _ in range(20)]
    assert losses[-1] < losses[0] / 5, losses
    assert all(p.grad is None for p in lora.params)  # nothing left over for the next step
    adapters = {n for n, _ in lora.model.named_parameters() if "lora_" in n}
    assert adapters and {n for n, p in lora.model.named_parameters() if p.requires_grad} == adapters
    base_after = {
        n.replace(".base_layer", ""): p for n, p in lora.model.get_base_model().named_parameters() if "lora_" not in n
    }
    assert base_after.keys() == base_before.keys()
    assert all(torch.equal(base_after[n], p) for n, p in base_before.items())


def test_epoch_batches_shuffle_every_epoch_and_total_steps_caps() -> None:
    cfg = config(epochs=3, batch_size=4, seed=1)
    batches = list(epoch_batches(10, cfg))
    assert [len(b) for _, b in batches] == [4, 4, 2] * 3
    epochs = [sorted(i for e, b in batches if e == k for i in b) for k in range(3)]
    assert epochs == [list(range(10))] * 3
    orders = [[i for e, b in batches if e == k for i in b] for k in range(3)]
    assert len({tuple(o) for o in orders}) == 3  # a fresh shuffle each epoch
    assert list(epoch_batches(10, cfg)) == batches  # seeded: a job and the benchmark see the same batches
    assert total_steps(cfg, 10) == 9 == len(batches)
    assert total_steps(config(epochs=3, batch_size=4, max_steps=5), 10) == 5
