"""Typed hyper-parameters of the ``lm-*`` recommenders.

The text fields (encoder, rendering) are shared by all four models; the encoder
tuning fields by ``lm-finetune`` and ``lm-classifier``; the history sampling
fields by ``lm-frozen`` and ``lm-hybrid``.  Each model's ``Config`` is one of the
four classes at the end.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from recfair.data import text as T
from recfair.models.config import ComponentConfig, Fraction, LearningRate, training_config

#: How a training example's history is cut from the user's time-ordered row.
HistorySampling = Literal["prefix", "random-cut", "mixed", "leave-one-out"]
#: Pooling of a history: its mean, or its sum over sqrt(n).
HistoryNorm = Literal["mean", "sqrt"]


class LMTextConfig(ComponentConfig):
    """Text model and how users and items are rendered as text (:mod:`recfair.data.text`)."""

    encoder: str | None = Field(None, description="text model folder or name (None: all-MiniLM-L6-v2)")
    encoder_batch_size: int = Field(64, ge=1, description="texts per encoder forward pass")
    user_fields: tuple[str, ...] = Field(
        T.DEFAULT_USER_FIELDS, description="user attribute fields in the profile text (default: those the data has)"
    )
    max_history: int = Field(T.DEFAULT_MAX_HISTORY, ge=1, description="most recent items named in a user text")
    item_template: str = Field(T.DEFAULT_ITEM_TEMPLATE, description="item text template ({title}, {year}, {genres}...)")
    user_template: str = Field(T.DEFAULT_USER_TEMPLATE, description="user text template ({profile}, {history})")


class EncoderTuningConfig(training_config(LMTextConfig, "EncoderTraining", epochs=1, reg=0.0, batch_size=32,
                                          patience=2, seed=0)):
    """Fields of the models whose encoder reads the whole user text and may be tuned."""

    accumulation_steps: int = Field(1, ge=1, description="mini-batches whose gradients are summed per optimiser step")
    steps_per_epoch: int | None = Field(None, ge=1, description="cap on mini-batches per epoch (None: one pass)")
    lora_r: int = Field(8, ge=1, description="LoRA rank")
    lora_alpha: int = Field(16, ge=1, description="LoRA scaling")
    lora_targets: tuple[str, ...] = Field(("query", "value"), min_length=1, description="module names given LoRA adapters")
    max_length: int = Field(128, ge=1, description="token budget per text")
    lr_decay: bool = Field(False, description="decay the learning rate linearly to 0 over all steps")


class HistoryConfig(LMTextConfig):
    """History sampling of the models that pool a user's items (lm-frozen, lm-hybrid)."""

    history_sampling: HistorySampling = Field(
        "mixed",
        description="history of a training example: items before it (prefix), before a random earlier point "
        "(random-cut), either with p=1/2 (mixed) or all the user's other items (leave-one-out)",
    )
    history_window: int | None = Field(10, ge=1, description="use only the most recent items (None: all)")
    history_norm: HistoryNorm = Field("mean", description="pool the history by its mean or its sum over sqrt(n)")
    fold_in_epochs: int = Field(100, ge=0, description="optimisation steps fitting new users / items in observe()")


class LMFrozenConfig(training_config(HistoryConfig, "LMFrozenTraining", embedding_size=128, epochs=10,
                                     learning_rate=0.002, reg=0.0, batch_size=1024, patience=3, seed=0)):
    """Hyper-parameters of ``lm-frozen`` (frozen text embeddings + trained two-tower head)."""

    n_negatives: int | None = Field(
        None, ge=1, description="None: softmax over every trained item; an int: sampled softmax with that many negatives"
    )
    cut_max: int | None = Field(5, ge=1, description="random cuts fall within the first cut_max items (None: anywhere)")
    history_dropout: Fraction = Field(0.5, description="training-time dropout of history items")
    id_dropout: Fraction = Field(0.0, description="training-time dropout of item-id parts")
    use_item_ids: bool = Field(True, description="learn id embeddings next to the text")
    use_profile: bool = Field(True, description="add the profile pathway to the user tower")
    warm_start: bool = Field(False, description="a re-fit continues from the current weights (same catalogue size)")


class LMFinetuneConfig(EncoderTuningConfig):
    """Hyper-parameters of ``lm-finetune`` (contrastive two-tower, encoder tuned)."""

    encoder_mode: Literal["full", "lora"] = Field("lora", description="tune every weight (full) or LoRA adapters only")
    learning_rate: LearningRate = 5e-4
    n_negatives: int = Field(0, ge=0, description="extra uniform negative items per mini-batch (besides in-batch)")
    temperature: float = Field(0.05, gt=0, description="softmax temperature on cosine similarities")
    train_layers: int | None = Field(
        None, ge=1, description="train only the top N encoder layers (weights or LoRA on them); None: all"
    )
    cache_lower: bool = Field(True, description="with train_layers: cache the frozen lower layers' output per text")
    cache_dtype: Literal["float16", "float32"] = Field("float16", description="storage type of that cache")
    item_refresh_every: int = Field(
        1, ge=1, description="1: item texts encoded with gradients every step; n: items scored from a catalogue "
        "table encoded without gradients every n steps (only the user side trains)"
    )
    user_window: int = Field(
        1, ge=1, description="examples at positions [k·w, (k+1)·w) of a user's row share one user text (the "
        "history before k·w) and are batched together: w times fewer user texts per epoch; 1: one text per example"
    )
    negatives: Literal["in-batch", "all"] = Field(
        "in-batch", description="softmax over the batch's positives (+ n_negatives) or over every trained item "
        "(from the catalogue table)"
    )
    use_item_ids: bool = Field(False, description="learn an id vector per item, added to its text vector")
    item_bias: bool = Field(False, description="learn a score bias per item (untrained items get the mean)")


class LMClassifierConfig(EncoderTuningConfig):
    """Hyper-parameters of ``lm-classifier`` (text encoder + linear head over the catalogue)."""

    encoder_mode: Literal["frozen", "lora", "full"] = Field("frozen", description="how the encoder trains")
    loss: Literal["softmax", "multilabel"] = Field(
        "softmax", description="next item (softmax) or the user's future items (multilabel)"
    )
    init_from_text: bool = Field(True, description="initialise head rows from the items' text embeddings")
    learning_rate: LearningRate = 1e-3


class LMHybridConfig(training_config(HistoryConfig, "LMHybridTraining", embedding_size=64, epochs=30,
                                     learning_rate=0.01, reg=0.01, batch_size=4096, patience=5, seed=0)):
    """Hyper-parameters of ``lm-hybrid`` (BPR-MF anchored on LM item embeddings)."""

    reg_lm: float = Field(1e-4, ge=0, description="L2 weight of the item factors' offset from their text projection")
    history_sampling: Literal["prefix", "random-cut", "mixed"] = Field(
        "mixed", description="history of a training example: prefix, random-cut or mixed (as for lm-frozen)"
    )
    use_profile: bool = Field(False, description="add the projected profile embedding to the user factor")
    lr_decay: bool = Field(True, description="decay the learning rate linearly to 0 over the epochs")
    text_prior: bool = Field(True, description="False: ablation with free item factors and no text projection")
