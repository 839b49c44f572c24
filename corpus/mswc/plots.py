"""The keyword frequency distribution as a PNG (`<lang>/keyword_frequency.png`), byte-deterministic.

Left: clips per keyword against the keyword's rank (log-log; MSWC's long tail shows as a straight-ish
line), the most frequent keywords labelled. Right: how many keywords have how many clips.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from corpus.fsutil import atomic_write_bytes

__all__ = ["plot_keyword_frequency"]


def plot_keyword_frequency(wordcounts: dict[str, int], path: str | Path, *, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib import pyplot as plt

    counts = sorted(wordcounts.items(), key=lambda item: (-item[1], item[0]))
    figure, (rank_axis, hist_axis) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    if counts:
        values = np.array([n for _, n in counts], dtype=float)
        ranks = np.arange(1, len(values) + 1)
        rank_axis.loglog(ranks, values, marker=".", linestyle="-", color="tab:blue")
        for rank, (word, n) in list(enumerate(counts, start=1))[:5]:
            rank_axis.annotate(word, (rank, n), textcoords="offset points", xytext=(4, 2), fontsize=8)
        bins = np.unique(np.round(np.logspace(np.log10(values.min()), np.log10(values.max() + 1), 20)))
        hist_axis.hist(values, bins=bins if len(bins) > 1 else 10, color="tab:green")
        hist_axis.set_xscale("log")
    else:
        rank_axis.text(0.5, 0.5, "no keywords", ha="center", va="center", transform=rank_axis.transAxes)
    rank_axis.set(xlabel="keyword rank", ylabel="clips", title="clips per keyword")
    hist_axis.set(xlabel="clips per keyword", ylabel="keywords", title="distribution")
    total = sum(n for _, n in counts)
    figure.suptitle(f"{title}: {len(counts)} keywords, {total} clips" if title else f"{len(counts)} keywords, "
                    f"{total} clips")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)
