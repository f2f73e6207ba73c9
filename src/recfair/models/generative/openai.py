"""Backend for any OpenAI-compatible HTTP endpoint (vLLM, llama.cpp server, Ollama, OpenAI).

Requests go to ``{base_url}/chat/completions`` (or ``/completions``) through
``httpx`` with a timeout, retries with exponential backoff on timeouts, transport
errors, 429/5xx and malformed replies, and a thread pool bounded by
``concurrency``.  Every successful reply is stored as a JSON file named by the
SHA-256 of (model, endpoint, prompt, parameters), so re-running a probe makes no
call at all.  Replies are free text: titles are parsed and matched to the
catalogue, and what did not match is reported, never silently dropped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, Sequence

from pydantic import Field

from recfair.data.titles import MatchReport, TitleMatcher
from recfair.errors import RecfairError, check_positive_int, require
from recfair.models.config import ComponentConfig, Configurable
from recfair.models.generative.backends import ReportingBackend, lists_to_recommendations
from recfair.recommendations import Recommendations

log = logging.getLogger(__name__)

ENDPOINTS = ("chat", "completions")
MISSING_KEY = "The API key environment variable '{name}' is not set; export it or drop --api-key-env for keyless servers."
FATAL_STATUS = "{url} answered HTTP {status}: {body}. Check --base-url, --model and the API key."


class OpenAIBackendConfig(ComponentConfig):
    """Hyper-parameters of :class:`OpenAIBackend` (``titles`` / ``years`` are data, passed apart)."""

    base_url: str = Field(min_length=1, description="server root with the API prefix, e.g. http://127.0.0.1:8000/v1")
    model: str = Field(min_length=1, description="model name sent with each request")
    api_key_env: str | None = Field(None, description="environment variable holding the API key (None = no key)")
    endpoint: Literal["chat", "completions"] = Field("chat", description="/chat/completions or /completions")
    temperature: float = Field(0.0, ge=0, description="sampling temperature (0 as in FaiRLLM)")
    max_tokens: int = Field(512, ge=1, description="most tokens per reply")
    seed: int | None = Field(0, description="request seed (None = not sent)")
    system_prompt: str | None = Field(None, description="system message of chat requests")
    timeout: float = Field(60.0, gt=0, description="seconds per request")
    max_retries: int = Field(3, ge=0, description="retries after the first try")
    backoff: float = Field(0.5, ge=0, description="first retry delay in seconds, doubled on each retry")
    concurrency: int = Field(4, ge=1, description="requests in flight at once")
    cache_dir: Path | None = Field(None, description="folder of cached replies (None = no cache)")
    threshold: float = Field(0.9, gt=0, le=1, description="fuzzy title-match threshold")


class ReplyError(Exception):
    """A reply that is not the JSON shape an OpenAI-compatible server returns."""


def _extract(endpoint: str, body: Any) -> str:
    try:
        choice = body["choices"][0]
        text = choice["message"]["content"] if endpoint == "chat" else choice["text"]
    except (KeyError, IndexError, TypeError) as exc:
        raise ReplyError(f"missing field in reply ({exc!r})") from exc
    if not isinstance(text, str):
        raise ReplyError(f"reply content is {type(text).__name__}, not text")
    return text


class OpenAIBackend(Configurable, ReportingBackend):
    """Generate item lists by prompting an OpenAI-compatible server.

    Parameters
    ----------
    base_url:
        Server root including the API prefix, e.g. ``http://127.0.0.1:8000/v1``.
    model:
        Model name sent with each request.
    titles, years:
        Catalogue titles (and release years) by item index, for the matcher.
    api_key_env:
        Name of the environment variable holding the key (``None``: no key).
    endpoint:
        ``"chat"`` (``/chat/completions``) or ``"completions"``.
    temperature, max_tokens, seed, system_prompt:
        Request parameters (temperature 0 as in FaiRLLM).
    timeout, max_retries, backoff:
        Per-request timeout (s); retries after the first try; first backoff delay
        (s), doubled on each retry.
    concurrency:
        Requests in flight at once.
    cache_dir:
        Folder of cached replies (``None``: no cache).
    threshold:
        Fuzzy-match threshold of the :class:`TitleMatcher`.
    """

    Config = OpenAIBackendConfig

    def __init__(
        self,
        base_url: str,
        model: str,
        titles: Sequence[str],
        years: Sequence[float] | None = None,
        *,
        config: Any = None,
        **params: Any,
    ) -> None:
        self._apply_config(config, {"base_url": base_url, "model": model, **params})
        self.base_url = self.base_url.rstrip("/")
        self.params = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        if self.seed is not None:
            self.params["seed"] = self.seed
        self.matcher = TitleMatcher(titles, years, threshold=self.threshold)
        self.api_key = None
        if self.api_key_env:
            self.api_key = os.environ.get(self.api_key_env)
            if not self.api_key:
                raise RecfairError(MISSING_KEY.format(name=self.api_key_env))
        self.calls = 0  # HTTP requests actually sent (retries included)
        self.cache_hits = 0
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- request
    def _payload(self, prompt: str) -> dict[str, Any]:
        if self.endpoint == "chat":
            messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
            messages.append({"role": "user", "content": prompt})
            return {"model": self.model, "messages": messages, **self.params}
        return {"model": self.model, "prompt": prompt, **self.params}

    def cache_key(self, prompt: str) -> str:
        """SHA-256 of (model, endpoint, prompt, parameters)."""
        blob = json.dumps({"endpoint": self.endpoint, "payload": self._payload(prompt)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _cache_path(self, key: str) -> Path:
        assert self.cache_dir is not None
        return self.cache_dir / key[:2] / f"{key}.json"

    def _cached(self, key: str) -> str | None:
        if self.cache_dir is None:
            return None
        p = self._cache_path(key)
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text())["text"]
        except (json.JSONDecodeError, KeyError, TypeError):
            log.warning("ignoring unreadable cache file %s", p)
            return None

    def _store(self, key: str, prompt: str, text: str) -> None:
        if self.cache_dir is None:
            return
        p = self._cache_path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(f".{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"model": self.model, "endpoint": self.endpoint, "prompt": prompt,
                                   "params": self.params, "text": text}))
        tmp.replace(p)

    def complete(self, client: Any, prompt: str) -> str:
        """The reply text for one prompt (cache first); raises after the last failed retry."""
        httpx = require("httpx", extra="llm", feature="The OpenAI-compatible backend")
        key = self.cache_key(prompt)
        hit = self._cached(key)
        if hit is not None:
            with self._lock:
                self.cache_hits += 1
            return hit
        url = f"{self.base_url}/{'chat/completions' if self.endpoint == 'chat' else 'completions'}"
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            with self._lock:
                self.calls += 1
            try:
                r = client.post(url, json=self._payload(prompt), headers=headers, timeout=self.timeout)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = exc
                log.info("request failed (%s), attempt %d", type(exc).__name__, attempt + 1)
                continue
            if r.status_code in (401, 403, 404):
                raise RecfairError(FATAL_STATUS.format(url=url, status=r.status_code, body=r.text[:200]))
            if r.status_code == 429 or r.status_code >= 500:
                last = ReplyError(f"HTTP {r.status_code}")
                continue
            if r.status_code >= 400:
                raise ReplyError(f"HTTP {r.status_code}: {r.text[:200]}")
            try:
                text = _extract(self.endpoint, r.json())
            except (ValueError, ReplyError) as exc:  # json.JSONDecodeError is a ValueError
                last = exc if isinstance(exc, ReplyError) else ReplyError(f"reply is not JSON ({exc})")
                continue
            self._store(key, prompt, text)
            return text
        raise ReplyError(f"no usable reply after {self.max_retries + 1} attempts: {last}")

    # --------------------------------------------------------------- generate
    def generate_report(
        self, prompts: Sequence[str], k: int, seen: Sequence[Sequence[int]] | None = None
    ) -> tuple[Recommendations, list[MatchReport]]:
        """Lists of matched items plus a :class:`MatchReport` per prompt (errors included)."""
        httpx = require("httpx", extra="llm", feature="The OpenAI-compatible backend")
        k = check_positive_int(k, "k", "generate")

        def one(args: tuple[int, str]) -> MatchReport:
            r, prompt = args
            try:
                text = self.complete(client, prompt)
            except ReplyError as exc:
                return MatchReport(error=str(exc))
            return self.matcher.match_reply(text, k, seen[r] if seen is not None else ())

        with httpx.Client() as client:
            if self.concurrency == 1 or len(prompts) <= 1:
                reports = [one(a) for a in enumerate(prompts)]
            else:
                with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                    reports = list(pool.map(one, enumerate(prompts)))
        return lists_to_recommendations([rep.items for rep in reports], k), reports
