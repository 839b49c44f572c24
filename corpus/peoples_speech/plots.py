"""PNG plots of a build: CER histogram with the tier thresholds, utterance lengths, caption timing."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

__all__ = ["plot_cer", "plot_lengths", "plot_caption_offsets"]


def _figure(width_in: float, height_in: float, panels: int = 1):
    """(figure, axes) on the Agg canvas, fixed margins: matplotlib's object API, no pyplot (its import and
    `tight_layout` were most of the write stage's time; nothing here needs a GUI backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in))
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, panels, k + 1) for k in range(panels)]
    fig.subplots_adjust(left=0.1 if panels == 1 else 0.08, right=0.97, bottom=0.15, top=0.9, wspace=0.3)
    return fig, axes


def _save(fig, path: Path) -> None:
    from corpus.fsutil import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})


def plot_cer(values: Sequence[float], clean_max: float, noisy_max: float, path: Path) -> None:
    fig, (ax,) = _figure(7, 3.5)
    ax.hist([min(v, 1.5) for v in values], bins=60, range=(0, 1.5), color="#4472c4")
    for x, label in ((clean_max, "clean"), (noisy_max, "noisy")):
        ax.axvline(x, color="#c00000", linestyle="--")
        ax.text(x, ax.get_ylim()[1] * 0.9, f" {label} < {x:.2f}", color="#c00000")
    ax.set_xlabel("CER (recognizer output vs aligned text; > 1.5 shown at 1.5)")
    ax.set_ylabel("utterances")
    ax.set_title(f"CER of {len(values)} utterances")
    _save(fig, path)


def plot_lengths(durations_s: Sequence[float], path: Path) -> None:
    fig, (ax,) = _figure(7, 3.5)
    ax.hist(durations_s, bins=30, range=(0, 16), color="#70ad47")
    ax.set_xlabel("utterance length (s)")
    ax.set_ylabel("utterances")
    ax.set_title(f"{len(durations_s)} utterances, {sum(durations_s) / 3600:.2f} h")
    _save(fig, path)


def plot_caption_offsets(offsets_s: Sequence[float], path: Path, *, truth: Sequence[tuple[float, float]] = ()
                         ) -> None:
    """Histogram of caption start - aligned start per utterance; with synthetic truth, estimated vs true offset."""
    panels = 2 if truth else 1
    fig, axes = _figure(5 * panels, 3.5, panels)
    ax = axes[0]
    ax.hist([max(-5, min(5, v)) for v in offsets_s], bins=50, range=(-5, 5), color="#ed7d31")
    ax.set_xlabel("caption start - aligned start (s)")
    ax.set_ylabel("utterances")
    if truth:
        ax = axes[1]
        ax.scatter([t for t, _ in truth], [e for _, e in truth], s=12)
        ax.plot([-4, 4], [-4, 4], color="grey", linewidth=0.8)
        ax.set_xlabel("true caption offset (s)")
        ax.set_ylabel("estimated offset (s)")
    _save(fig, path)
