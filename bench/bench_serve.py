"""Serving benchmark: latency under a fixed arrival rate, and what amortized exposure buys and costs.

1. **Load test.**  A BPR-MF trained on ML-100K (user-temporal 0.2 split, seed 0; the
   run folder is cached in ``--run``) is served by ``recfair serve`` in its own
   process on 127.0.0.1.  An asyncio client sends ``POST /recommend`` for
   random known users at a fixed arrival rate (default 200 req/s for 60 s, a bounded
   count; it stops by itself) three times: plain lists, a per-request re-ranker
   (FA*IR, ``fair``) and the amortized-exposure re-ranker.  Latency is measured from
   each request's *scheduled* send time (so a stalled client or server cannot hide
   queueing) and from its actual send time; p50 / p95 / p99 and errors per run.
   Goals (issue 14): p99 ≤ 20 ms plain, ≤ 30 ms re-ranked.
   The client is asyncio with hand-written keep-alive HTTP/1.1 (see ``_Connection``);
   ``recfair serve`` starts and is polled with httpx.
2. **Replay.**  Every ML-100K test user's request, once, in user order, through the
   serving code path (:func:`recfair.serve.engine.recommend`): the position-weighted
   share of attention the long tail (``popularity`` grouping's ``tail``) receives over
   all lists, with and without the amortized-exposure re-ranker (several λ), next to
   nDCG@10 on the test set.

The machine's load average is printed before and after: on a shared machine the
latencies include other processes' work.

Run: .venv/bin/python bench/bench_serve.py [--rate 200] [--seconds 60] [--scenarios none,fair,amortized]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SCENARIOS = {
    "none": None,
    "fair": {"method": "fair", "p": 0.5},
    "prefix": {"method": "prefix", "target": 0.3},
    "amortized": {"method": "amortized", "target": 0.2, "lambda": 0.1},
}
BPR = {"seed": 0}
#: Keep-alive connections idle longer than this are closed, not reused (uvicorn closes them after 5 s).
IDLE_SECONDS = 2.0


def prepare_run(path: Path) -> Path:
    """A BPR-MF run folder on ML-100K (trained once, then reused)."""
    from recfair.data import load_dataset, make_split
    from recfair.models.config import RuntimeOptions
    from recfair.runs import RunConfig, write_run
    from recfair.runs.pipeline import recommend_test, train_model

    if (path / "run.json").is_file():
        return path
    ds = load_dataset("ml-100k")
    split = make_split(ds, "user-temporal", test_size=0.2, seed=0)
    t0 = time.perf_counter()
    model, _ = train_model("bpr", split, dict(BPR), seed=0, runtime=RuntimeOptions(progress=False))
    recs, _ = recommend_test(model, split, 10, candidates=100)
    cfg = RunConfig("bpr", model.get_params(), "ml-100k", protocol="user-temporal", seed=0, n_candidates=100)
    write_run(path, cfg, model, recs, dataset=ds)
    print(f"trained BPR-MF on ML-100K in {time.perf_counter() - t0:.1f} s -> {path}")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(run: Path, state_dir: Path) -> tuple[subprocess.Popen, str]:
    """``recfair serve RUN`` in its own process on 127.0.0.1; returns it once /health answers."""
    import httpx

    port = _free_port()
    cmd = [sys.executable, "-m", "recfair", "serve", str(run), "--host", "127.0.0.1", "--port", str(port),
           "--state-dir", str(state_dir)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read()}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start within 120 s")


class _Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough HTTP for ``POST /recommend``.

    The load generator must cost far less than the server or it measures itself; a
    general client (httpx) spends about a millisecond of CPU per request, which on
    a loaded 2-core machine is the difference between keeping 200 req/s and not.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.used = time.monotonic()

    async def post(self, payload: bytes) -> int:
        """Send one prepared request; return the status after reading the whole answer."""
        self.writer.write(payload)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        self.used = time.monotonic()
        return status


def _request(path: str, body: dict, headers: dict[str, str]) -> bytes:
    data = json.dumps(body).encode()
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(data)}\r\n\r\n").encode() + data


async def _load(url: str, bodies: list[dict], rate: float, max_connections: int = 64) -> dict:
    """Send ``bodies`` at ``rate`` per second (request i due at i / rate); latencies and errors."""
    host, port = url.rsplit("//", 1)[1].split(":")
    payloads = [_request("/recommend", b, {}) for b in bodies]
    idle: list[_Connection] = []
    opened = 0
    free = asyncio.Semaphore(max_connections)
    scheduled, service, errors = [], [], Counter()
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.5

    async def one(i: int) -> None:
        nonlocal opened
        due = t0 + i / rate
        await asyncio.sleep(max(0.0, due - loop.time()))
        async with free:  # at most max_connections requests in flight; the rest wait (and it shows)
            start = loop.time()
            while idle and time.monotonic() - idle[0].used > IDLE_SECONDS:  # oldest first: the server may close them
                idle.pop(0).writer.close()
            conn = idle.pop() if idle else None
            try:
                if conn is None:
                    conn = _Connection(*await asyncio.open_connection(host, int(port)))
                    opened += 1
                status = await conn.post(payloads[i])
                if status != 200:
                    errors[str(status)] += 1
                idle.append(conn)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                errors[type(exc).__name__] += 1
            end = loop.time()
        scheduled.append(end - due)
        service.append(end - start)

    await asyncio.gather(*(one(i) for i in range(len(payloads))))
    wall = loop.time() - t0
    for conn in idle:
        conn.writer.close()
    q = lambda xs, p: float(np.percentile(np.asarray(xs) * 1e3, p))  # noqa: E731
    return {"requests": len(bodies), "seconds": round(wall, 2), "achieved_rate": round(len(bodies) / wall, 1),
            "errors": dict(errors), "connections": opened,
            **{f"p{p}_ms": round(q(scheduled, p), 2) for p in (50, 95, 99)},
            **{f"service_p{p}_ms": round(q(service, p), 2) for p in (50, 95, 99)},
            "max_ms": round(max(scheduled) * 1e3, 2)}


def load_test(run: Path, rate: float, seconds: float, scenarios: list[str]) -> dict[str, dict]:
    """One load run per scenario against one server process."""
    from recfair.data import load_dataset

    users = np.asarray(load_dataset("ml-100k").user_ids).astype(str)
    rng = np.random.default_rng(0)
    n = int(rate * seconds)
    out = {}
    with tempfile.TemporaryDirectory(prefix="recfair-bench-") as tmp:
        proc, url = start_server(run, Path(tmp))
        try:
            for name in scenarios:
                rerank = SCENARIOS[name]
                bodies = [{"user_id": str(u), "k": 10, **({"rerank": rerank} if rerank else {})}
                          for u in rng.choice(users, n)]
                out[name] = asyncio.run(_load(url, bodies, rate))
                print(f"  {name:10s} {json.dumps(out[name])}", flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return out


def _tail_share(recs, codes: np.ndarray) -> float:
    """Position-weighted share of attention on tail items (code 1) over every list."""
    from recfair.mitigation.amortized import position_weights

    w = np.broadcast_to(position_weights(recs.k), recs.items.shape)
    valid = recs.items >= 0
    tail = valid & (codes[np.where(valid, recs.items, 0)] == 1)
    return float(w[tail].sum() / w[valid].sum())


def replay(run: Path, lambdas: list[float], target: float) -> list[dict]:
    """Every test user's request once (user order): tail attention share and nDCG@10, plain vs amortized."""
    from recfair.metrics import evaluate
    from recfair.recommendations import Recommendations
    from recfair.runs import Run
    from recfair.serve.engine import recommend
    from recfair.serve.ledger import ExposureLedger
    from recfair.serve.schemas import RecommendRequest
    from recfair.serve.source import open_served

    served = open_served(run)
    split = Run(run).split
    users = np.flatnonzero(split.test.user_counts > 0)
    codes = served.item_groups["popularity"][0]
    rows = []
    for lam in [None, *lambdas]:
        ledger = ExposureLedger(None)
        rerank = None if lam is None else {"method": "amortized", "target": target, "lambda": lam}
        items = np.full((len(users), 10), -1, dtype=np.int32)
        scores = np.full((len(users), 10), np.nan, dtype=np.float32)
        t0 = time.perf_counter()
        for r, u in enumerate(users):
            req = RecommendRequest(user_id=served.user_ids[u], k=10, rerank=rerank)
            got = recommend(served, req, ledger, 100).items
            items[r, : len(got)] = [served.item_index[i.item_id] for i in got]
            scores[r, : len(got)] = [i.score for i in got]
        seconds = time.perf_counter() - t0
        recs = Recommendations(users.astype(np.int32), items, scores)
        ev = evaluate(recs, split.test, train=split.train, k=10)
        rows.append({"lambda": lam, "target": None if lam is None else target, "users": len(users),
                     "tail_share": round(_tail_share(recs, codes), 4), "ndcg@10": round(ev.overall["ndcg@10"], 4),
                     "ms_per_request": round(seconds / len(users) * 1e3, 3)})
        print(f"  {json.dumps(rows[-1])}", flush=True)
    return rows


def main() -> int:
    """Parse the options, run the load test and the replay, print and save the numbers."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=200.0, help="requests per second")
    ap.add_argument("--seconds", type=float, default=60.0, help="seconds per scenario")
    ap.add_argument("--scenarios", default="none,fair,amortized", help="comma list of: " + ", ".join(SCENARIOS))
    ap.add_argument("--lambdas", default="0.05,0.1,0.2,0.5", help="λ values of the replay")
    ap.add_argument("--target", type=float, default=0.2, help="tail attention target of the replay")
    ap.add_argument("--run", type=Path, default=Path(tempfile.gettempdir()) / "recfair-bench-serve-bpr")
    ap.add_argument("--out", type=Path, default=None, help="write the numbers as JSON here")
    args = ap.parse_args()
    run = prepare_run(args.run)
    print(f"load average before: {os.getloadavg()} on {os.cpu_count()} cores")
    print(f"load test: {args.rate:g} req/s for {args.seconds:g} s per scenario (latency from the scheduled time)")
    load = load_test(run, args.rate, args.seconds, args.scenarios.split(","))
    print(f"load average after: {os.getloadavg()}")
    print("replay of every test user's request (tail = popularity grouping's tail, attention-weighted):")
    rows = replay(run, [float(x) for x in args.lambdas.split(",")], args.target)
    if args.out:
        args.out.write_text(json.dumps({"load": load, "replay": rows}, indent=1))
    bad = [n for n, r in load.items() if r["errors"]]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
