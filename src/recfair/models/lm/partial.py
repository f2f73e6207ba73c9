"""Partial fine-tuning of a BERT-style text tower: frozen lower layers, cached outputs.

With ``train_layers=N`` only the top ``N`` transformer layers of the encoder train
(all their weights, or LoRA adapters placed on them only); the embeddings and the
lower layers are frozen, so their output for a text never changes.  That output
(token hidden states after the last frozen layer, trimmed to the text's tokens, plus
the implied attention mask) is computed once per text and kept by :class:`LowerLayerCache`
— in memory and on disk, keyed by the SHA-1 of the text like the embedding cache
(:mod:`recfair.models.lm.encoder`).  A training step then runs only the top layers.

Disk layout (no pickles)::

    $RECFAIR_CACHE/hidden/<model key>-lower<k>-len<max_length>-<dtype>/shard-<sha1>.safetensors
        {"keys": (n, 20) uint8 text SHA-1s, "lengths": (n,) int64 token counts,
         "hidden": (sum of lengths, d) float16 / float32}

Memory: one text of ``t`` tokens costs ``t × hidden × 2`` bytes in float16
(all-MiniLM-L6-v2, 100 tokens: 77 kB).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from recfair.errors import RecfairError
from recfair.models.lm.encoder import default_cache_dir, model_key, text_key

log = logging.getLogger(__name__)

#: ``train_layers`` larger than the encoder's depth
TOO_MANY_LAYERS = "train_layers={value} but the encoder '{path}' has {n} layers; choose 1..{n} (or None: all)."
#: the encoder is not BERT-like (no ``embeddings`` + ``encoder.layer`` list)
NOT_LAYERED = ("train_layers needs a BERT-style encoder (embeddings + encoder.layer); '{path}' has none. "
               "Use train_layers=None.")
CACHE_DTYPES = ("float16", "float32")


def base_model(model: torch.nn.Module) -> torch.nn.Module:
    """The transformer under a ``peft`` wrapper (or ``model`` itself)."""
    get = getattr(model, "get_base_model", None)
    return get() if callable(get) else model


def layer_list(model: torch.nn.Module, path: object) -> torch.nn.ModuleList:
    """The encoder's transformer layers; raises :class:`RecfairError` (:data:`NOT_LAYERED`) otherwise."""
    base = base_model(model)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if not isinstance(layers, torch.nn.ModuleList) or getattr(base, "embeddings", None) is None:
        raise RecfairError(NOT_LAYERED.format(path=path))
    return layers


def check_train_layers(n_layers: int, train_layers: int | None, path: object) -> int:
    """Number of frozen lower layers for ``train_layers`` (``None``: 0)."""
    if train_layers is None:
        return 0
    if not 1 <= int(train_layers) <= n_layers:
        raise RecfairError(TOO_MANY_LAYERS.format(value=train_layers, path=path, n=n_layers))
    return n_layers - int(train_layers)


def freeze_lower(model: torch.nn.Module, n_lower: int) -> None:
    """Freeze the embeddings and the first ``n_lower`` layers (and the pooler, unused by mean pooling)."""
    base = base_model(model)
    frozen = [base.embeddings, *layer_list(model, "")[:n_lower]]
    if getattr(base, "pooler", None) is not None:
        frozen.append(base.pooler)
    for module in frozen:
        for p in module.parameters():
            p.requires_grad_(False)


def additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``(B, T)`` 0/1 attention mask → ``(B, 1, 1, T)`` additive mask (0 keep, dtype-min masked)."""
    ext = mask[:, None, None, :].to(dtype)
    return (1.0 - ext) * torch.finfo(dtype).min


def run_layers(layers: Sequence[torch.nn.Module], hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Apply transformer layers to ``(B, T, d)`` hidden states under a ``(B, T)`` 0/1 mask."""
    ext = additive_mask(mask, hidden.dtype)
    for layer in layers:
        out = layer(hidden, attention_mask=ext)
        hidden = out[0] if isinstance(out, tuple) else out
    return hidden


def pad_rows(rows: Sequence[np.ndarray], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-text ``(t_i, d)`` arrays → padded float32 ``(B, T, d)`` hidden states and ``(B, T)`` mask."""
    t = max(len(r) for r in rows)
    hidden = np.zeros((len(rows), t, rows[0].shape[1]), np.float32)
    mask = np.zeros((len(rows), t), np.int64)
    for i, r in enumerate(rows):
        hidden[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return torch.from_numpy(hidden).to(device), torch.from_numpy(mask).to(device)


class LowerLayerCache:
    """Hidden states after the frozen lower layers, once per distinct text (memory + disk).

    Parameters
    ----------
    tower:
        The :class:`~recfair.models.lm.hf.TextTower` whose tokenizer, embeddings and
        lower layers produce the states.
    n_lower:
        Frozen layers whose output is cached (``0``: the embedding output).
    path:
        The model folder (part of the cache key).
    dtype:
        ``"float16"`` (half the memory, ~1e-3 relative error) or ``"float32"`` (exact).
    cache_dir:
        Root folder (default ``$RECFAIR_CACHE/hidden``); ``False``: memory only.
    """

    def __init__(self, tower, n_lower: int, path: Path, dtype: str = "float16",
                 cache_dir: str | os.PathLike | None | bool = None) -> None:
        if dtype not in CACHE_DTYPES:
            raise RecfairError(f"cache_dtype must be one of {', '.join(CACHE_DTYPES)}; got {dtype!r}")
        self.tower, self.n_lower, self.dtype = tower, int(n_lower), np.dtype(dtype)
        key = f"{model_key(Path(path), normalize=False)}-lower{self.n_lower}-len{tower.max_length}-{dtype}"
        root = default_cache_dir().parent / "hidden" if cache_dir in (None, True) else cache_dir
        self.path = None if root is False else Path(root).expanduser() / key
        self._rows: dict[bytes, np.ndarray] | None = None
        #: texts computed (cache misses) and served from the cache since construction
        self.stats = {"computed": 0, "hits": 0}

    def _load(self) -> dict[bytes, np.ndarray]:
        if self._rows is not None:
            return self._rows
        self._rows = {}
        if self.path is None or not self.path.is_dir():
            return self._rows
        from safetensors.numpy import load_file

        for shard in sorted(self.path.glob("shard-*.safetensors")):
            try:
                data = load_file(str(shard))
            except Exception as exc:  # a damaged shard is skipped, never fatal
                log.warning("skipping unreadable hidden-state cache shard %s (%s)", shard, exc)
                continue
            ends = np.cumsum(data["lengths"])
            for k, a, b in zip(data["keys"], ends - data["lengths"], ends):
                self._rows[k.tobytes()] = data["hidden"][a:b]
        return self._rows

    def _write(self, keys: list[bytes], rows: list[np.ndarray]) -> None:
        if self.path is None or not keys:
            return
        from safetensors.numpy import save_file

        self.path.mkdir(parents=True, exist_ok=True)
        karr = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 20)
        name = hashlib.sha1(karr.tobytes()).hexdigest()[:16]
        tmp = self.path / f".tmp-{name}-{os.getpid()}"
        save_file({"keys": karr, "lengths": np.array([len(r) for r in rows], np.int64),
                   "hidden": np.ascontiguousarray(np.concatenate(rows))}, str(tmp))
        tmp.replace(self.path / f"shard-{name}.safetensors")

    @torch.no_grad()
    def compute(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Lower-layer states of ``texts`` (no cache): one ``(tokens, d)`` array per text."""
        tw = self.tower
        was = tw.training
        tw.eval()  # frozen layers run deterministically (no dropout): a text's states never change
        batch = tw.tokenizer(list(texts), padding=True, truncation=True, max_length=tw.max_length,
                             return_tensors="pt")
        batch = {k: v.to(tw.device) for k, v in batch.items()}
        base = base_model(tw.model)
        hidden = base.embeddings(input_ids=batch["input_ids"], token_type_ids=batch.get("token_type_ids"))
        hidden = run_layers(layer_list(tw.model, "")[: self.n_lower], hidden, batch["attention_mask"])
        lengths = batch["attention_mask"].sum(1).tolist()
        out = hidden.float().cpu().numpy().astype(self.dtype, copy=False)
        tw.train(was)
        return [out[i, :n].copy() for i, n in enumerate(lengths)]

    def lookup(self, texts: Sequence[str], batch_size: int = 64) -> list[np.ndarray]:
        """States of ``texts`` in order, computing and storing the missing ones (in ``batch_size`` chunks)."""
        rows = self._load()
        keys = [text_key(t) for t in texts]
        missing: dict[bytes, str] = {}
        for k, t in zip(keys, texts):
            if k not in rows and k not in missing:
                missing[k] = t
        if missing:
            mk, mt = list(missing), list(missing.values())
            order = np.argsort([-len(t) for t in mt], kind="stable")  # similar lengths share a batch
            new: list[np.ndarray | None] = [None] * len(mt)
            for s in range(0, len(mt), batch_size):
                idx = order[s : s + batch_size]
                for i, r in zip(idx, self.compute([mt[i] for i in idx])):
                    new[i] = r
            rows.update(zip(mk, new))
            self._write(mk, new)
        self.stats["computed"] += len(missing)
        self.stats["hits"] += len(texts) - sum(1 for k in keys if k in missing)
        return [rows[k] for k in keys]

    def __len__(self) -> int:
        return len(self._load())


def window_batches(users: np.ndarray, ranks: np.ndarray, window: int, batch_size: int,
                   generator: torch.Generator) -> list[torch.Tensor]:
    """Mini-batches of examples grouped by user window, in a seeded random window order.

    An example at position ``r`` of its user's time-ordered row belongs to window
    ``(user, r // window)``; all examples of a window share one user text (the
    history before the window), so a batch of whole windows encodes few texts.
    Windows are shuffled, their examples laid end to end and cut into ``batch_size``
    batches (a window may straddle two batches).
    """
    keys = users.astype(np.int64) * (int(ranks.max(initial=0)) // window + 1) + ranks // window
    uniq, inv = np.unique(keys, return_inverse=True)
    place = torch.randperm(len(uniq), generator=generator).numpy()
    order = np.lexsort((np.arange(len(keys)), place[inv]))
    return list(torch.from_numpy(order).split(batch_size))


def shared_text_mask(text_of: np.ndarray, label: np.ndarray, n_candidates: int) -> np.ndarray:
    """``(B, C)`` mask of the candidates that are *another* example's positive with the same text.

    Those items are positives of that user text too, so they are not scored as its
    negatives (multi-positive softmax with user windows).
    """
    same = (text_of[:, None] == text_of[None, :]) & (label[:, None] != label[None, :])
    mask = np.zeros((len(label), n_candidates), dtype=bool)
    ii, jj = np.nonzero(same)
    mask[ii, label[jj]] = True
    return mask
