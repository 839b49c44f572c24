"""Evaluation of a model folder on a data source: wer.json, an sclite-style .pra file, a PNG of WER by
utterance length, hypotheses as a trn file (sclite can score it again)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from corpus.configs import write_json
from corpus.fsutil import atomic_path, atomic_write_text

from asr.data import DataConfig, Utterance, prepare
from asr.recognizer import Recognizer
from asr.wer import Scored, pra_text, score

__all__ = ["evaluate", "plot_wer_by_length", "write_results"]


def plot_wer_by_length(scored: Scored, durations_s: dict[str, float], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = [0, 2, 4, 6, 8, 10, 15, 20, 35, float("inf")]
    labels, rates, counts = [], [], []
    for low, high in zip(edges, edges[1:]):
        ids = [u for u in scored.alignments if low <= durations_s.get(u, 0.0) < high]
        if not ids:
            continue
        errors = sum(scored.alignments[u].substitutions + scored.alignments[u].deletions +
                     scored.alignments[u].insertions for u in ids)
        words = sum(scored.alignments[u].correct + scored.alignments[u].substitutions +
                    scored.alignments[u].deletions for u in ids)
        labels.append(f"{low:g}-{high:g} s" if high != float("inf") else f">= {low:g} s")
        rates.append(100.0 * errors / max(words, 1))
        counts.append(len(ids))
    figure, axis = plt.subplots(figsize=(7, 4))
    bars = axis.bar(labels, rates, color="#4477aa")
    for bar, count in zip(bars, counts):
        axis.annotate(f"n={count}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                      va="bottom", fontsize=8)
    axis.set_xlabel("utterance length")
    axis.set_ylabel("WER (%)")
    axis.set_title(title)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    plt.close(figure)


def write_results(out: Path, scored: Scored, hyps: dict[str, str], durations_s: dict[str, float],
                  extra: dict, title: str) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    result = {**scored.counts.as_dict(), "cer": round(scored.char_counts.wer, 6), **extra}
    write_json(out / "wer.json", result)
    atomic_write_text(out / "wer.pra", pra_text(scored))
    atomic_write_text(out / "hyp.trn", "".join(f"{hyps.get(u, '')} ({u})\n" for u in sorted(scored.alignments)))
    plot_wer_by_length(scored, durations_s, out / "wer_by_length.png", title)
    return result


def evaluate(recognizer: Recognizer, utterances: Sequence[Utterance], out: str | Path | None, *,
             method: str = "greedy", jobs: int | None = None, progress: bool = True) -> dict:
    """Decode every utterance (nothing is filtered for length: long ones are decoded whole) and score."""
    config = DataConfig(max_duration_s=10_000.0, min_duration_s=0.0)
    examples, report = prepare(utterances, lambda text: [1], features=recognizer.features, config=config,
                               train=False, jobs=jobs, progress=progress)
    started = time.perf_counter()
    texts = recognizer.transcribe_features([e.features.astype(np.float32) for e in examples], method)
    decode_s = time.perf_counter() - started
    refs = {u.id: u.text for u in utterances}
    hyps = {e.id: text for e, text in zip(examples, texts)}
    scored = score(refs, hyps)
    durations = {e.id: e.duration_s for e in examples}
    audio_s = sum(durations.values())
    extra = {"method": method, "decode_rtf": round(decode_s / audio_s, 5) if audio_s else 0.0,
             "audio_s": round(audio_s, 3), "unreadable": report.as_dict()["dropped"]}
    if out is None:
        return {**scored.counts.as_dict(), "cer": round(scored.char_counts.wer, 6), **extra, "hyps": hyps}
    return write_results(Path(out), scored, hyps, durations, extra, f"WER by length ({method})")
