"""One percentile for every bench, so p99 means the same in each printed figure."""

from __future__ import annotations


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile, `q` in 0..1 (0.99 = p99); NaN when nothing was measured."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]
