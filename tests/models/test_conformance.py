"""Every registered recommender passes the shipped conformance suite (:mod:`recfair.testing`)."""

from __future__ import annotations

import pytest

from recfair.models.registry import MODELS
from recfair.testing import RecommenderConformance

SMALL_TORCH = {"embedding_size": 8, "epochs": 3, "batch_size": 64}


class TestRandom(RecommenderConformance):
    model_name = "random"
    params = {"seed": 3}


class TestPopularity(RecommenderConformance):
    model_name = "popularity"


class TestItemKNN(RecommenderConformance):
    model_name = "itemknn"
    params = {"neighbors": 10}


class TestMF(RecommenderConformance):
    model_name = "mf"
    params = SMALL_TORCH


class TestBPR(RecommenderConformance):
    model_name = "bpr"
    params = SMALL_TORCH


class TestBPRHardNegatives(RecommenderConformance):
    model_name = "bpr"
    params = {**SMALL_TORCH, "n_negatives": 4, "item_bias": False}


class TestGenerative(RecommenderConformance):
    model_name = "generative"
    params = {"embedding_size": 16, "n_layers": 1, "n_heads": 2, "max_len": 12, "epochs": 2, "batch_size": 16}


class _WithTinyEncoder(RecommenderConformance):
    """The ``lm-*`` models read texts with a tiny random BERT built for the session (no download)."""

    @pytest.fixture(autouse=True)
    def _encoder(self, tiny_bert):
        self.encoder = tiny_bert

    def model_params(self):
        return {**self.params, "encoder": self.encoder}


class TestLMFrozen(_WithTinyEncoder):
    model_name = "lm-frozen"
    params = {"embedding_size": 8, "epochs": 2, "batch_size": 64}


class TestLMHybrid(_WithTinyEncoder):
    model_name = "lm-hybrid"
    params = {"embedding_size": 8, "epochs": 2, "batch_size": 64, "fold_in_epochs": 5}


class TestLMFinetune(_WithTinyEncoder):
    model_name = "lm-finetune"
    params = {"epochs": 1, "batch_size": 32, "steps_per_epoch": 3, "encoder_mode": "lora", "max_length": 32}


class TestLMFinetunePartial(_WithTinyEncoder):
    model_name = "lm-finetune"
    params = {"epochs": 1, "batch_size": 32, "steps_per_epoch": 3, "encoder_mode": "full", "max_length": 32,
              "train_layers": 1, "item_refresh_every": 2, "negatives": "all"}


class TestLMClassifier(_WithTinyEncoder):
    model_name = "lm-classifier"
    params = {"epochs": 1, "batch_size": 32, "steps_per_epoch": 3, "encoder_mode": "frozen", "max_length": 32}


def test_every_registered_model_runs_the_suite():
    covered = {cls.model_name for cls in _all_subclasses(RecommenderConformance) if hasattr(cls, "model_name")}
    assert covered == set(MODELS)


def _all_subclasses(cls):
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _all_subclasses(sub)
    return out
