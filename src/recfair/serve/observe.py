"""Request metrics in the Prometheus text format (written here: no extra dependency).

:class:`RequestMetrics` counts requests by route template and status and keeps a
latency histogram per route; :func:`exposition` renders them together with the
served model's version, reload counts and the amortized-exposure state.
Route labels are route *templates* (``/items/{item_id}``) or ``unmatched``, so
a scan of random paths cannot grow the label set.
"""

from __future__ import annotations

import bisect
import threading
from typing import Any, Iterable

__all__ = ["BUCKETS", "CONTENT_TYPE", "RequestMetrics", "exposition"]

#: Upper bounds (seconds) of the latency histogram buckets.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**pairs: Any) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in pairs.items()) + "}"


class RequestMetrics:
    """Thread-safe request counters and latency histograms."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[tuple[str, str, int], int] = {}
        self.hist: dict[str, list[int]] = {}
        self.sums: dict[str, float] = {}
        self.reloads: dict[str, int] = {"ok": 0, "failed": 0}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        with self._lock:
            key = (route, method, int(status))
            self.counts[key] = self.counts.get(key, 0) + 1
            buckets = self.hist.setdefault(route, [0] * (len(BUCKETS) + 1))
            buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
            self.sums[route] = self.sums.get(route, 0.0) + seconds

    def reloaded(self, ok: bool) -> None:
        """Count one ``/admin/reload`` (succeeded or failed)."""
        with self._lock:
            self.reloads["ok" if ok else "failed"] += 1

    def lines(self) -> list[str]:
        """The request, latency and reload families as exposition lines."""
        with self._lock:
            out = ["# HELP recfair_requests_total Requests answered, by route template, method and status.",
                   "# TYPE recfair_requests_total counter"]
            for (route, method, status), n in sorted(self.counts.items()):
                out.append(f"recfair_requests_total{_labels(route=route, method=method, status=status)} {n}")
            out += ["# HELP recfair_request_duration_seconds Time to answer a request, by route template.",
                    "# TYPE recfair_request_duration_seconds histogram"]
            for route, buckets in sorted(self.hist.items()):
                running = 0
                for bound, n in zip([*BUCKETS, "+Inf"], buckets):
                    running += n
                    le = bound if isinstance(bound, str) else repr(bound)
                    out.append(f"recfair_request_duration_seconds_bucket{_labels(route=route, le=le)} {running}")
                out.append(f"recfair_request_duration_seconds_sum{_labels(route=route)} {self.sums[route]!r}")
                out.append(f"recfair_request_duration_seconds_count{_labels(route=route)} {running}")
            out += ["# HELP recfair_model_reloads_total Model reloads through /admin/reload, by result.",
                    "# TYPE recfair_model_reloads_total counter"]
            out += [f"recfair_model_reloads_total{_labels(result=r)} {n}" for r, n in self.reloads.items()]
        return out


def _exposure_lines(states: dict[str, dict[str, Any]]) -> Iterable[str]:
    yield "# HELP recfair_amortized_exposure Cumulative attention per item group (amortized-exposure re-ranker)."
    yield "# TYPE recfair_amortized_exposure gauge"
    for key, st in sorted(states.items()):
        for g, v in sorted(st["exposure"].items()):
            yield f"recfair_amortized_exposure{_labels(item_groups=key, group=g)} {float(v)!r}"
    yield "# HELP recfair_amortized_exposure_share Share of cumulative attention per item group."
    yield "# TYPE recfair_amortized_exposure_share gauge"
    for key, st in sorted(states.items()):
        for g, v in sorted(st["shares"].items()):
            yield f"recfair_amortized_exposure_share{_labels(item_groups=key, group=g)} {float(v)!r}"
    yield "# HELP recfair_amortized_lists_total Lists re-ranked by the amortized-exposure re-ranker."
    yield "# TYPE recfair_amortized_lists_total counter"
    for key, st in sorted(states.items()):
        yield f"recfair_amortized_lists_total{_labels(item_groups=key)} {int(st['lists'])}"


def exposition(metrics: RequestMetrics, model: dict[str, Any], states: dict[str, dict[str, Any]]) -> str:
    """The whole ``/metrics`` page: requests, latency, reloads, model version, exposure state."""
    lines = metrics.lines()
    lines += ["# HELP recfair_model_info The served model (value 1); labels name it.",
              "# TYPE recfair_model_info gauge",
              f"recfair_model_info{_labels(model=model['model'], version=model['version'], source=model['source'])} 1"]
    lines += list(_exposure_lines(states))
    return "\n".join(lines) + "\n"
