"""Metrics, the FRR vs false-accepts-per-hour curve, the operating threshold, report.json and plots.

Detection scoring on streams (`match_detections`):
- an occurrence is a keyword spoken in the stream at [start_ms, end_ms] (ground truth);
- a detection of label L at time t (when RecognizeCommands fired) is a hit for the occurrence of L whose
  span, extended by `late_ms` after its end, contains t (RecognizeCommands decides after the word, once
  its averaged score has risen); each occurrence counts once: more hits on it are `duplicates`, not
  false accepts;
- every other detection is a false accept (including a keyword detected at another keyword's
  occurrence); false rejects are occurrences without a hit;
- FA per hour divides false accepts by the hours of negative audio: stream duration minus the spans
  of the occurrences.

`frr_fa_curve` sweeps the RecognizeCommands threshold over 0..255 on one set of per-window scores;
`choose_threshold` takes the threshold with the lowest FRR among those at or under the target FA/h
(the highest such threshold on ties).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from corpus.fsutil import atomic_path
from kws.streaming import StreamingConfig, averaged_scores, decide

__all__ = [
    "classification_metrics", "Occurrence", "MatchResult", "match_detections", "CurvePoint", "frr_fa_curve",
    "frr_by_label", "choose_threshold", "frr_at", "plot_confusion", "plot_curve", "plot_f1", "label_f1",
]


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> dict:
    """Accuracy, per-class precision/recall/F1/support, macro F1 and the confusion matrix (rows: truth)."""
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    n = len(labels)
    confusion = np.zeros((n, n), np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    per_class = {}
    for i, label in enumerate(labels):
        tp = confusion[i, i]
        precision = tp / confusion[:, i].sum() if confusion[:, i].sum() else 0.0
        recall = tp / confusion[i].sum() if confusion[i].sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": round(float(precision), 4), "recall": round(float(recall), 4),
                            "f1": round(float(f1), 4), "support": int(confusion[i].sum())}
    present = [label for label in labels if per_class[label]["support"] > 0]
    return {
        "accuracy": round(float(np.mean(y_true == y_pred)) if len(y_true) else 0.0, 4),
        "examples": int(len(y_true)),
        "macro_f1": round(float(np.mean([per_class[l]["f1"] for l in present])) if present else 0.0, 4),
        "per_class": per_class,
        "labels": list(labels),
        "confusion": confusion.tolist(),
    }


def label_f1(y_true: Sequence[int], y_pred: Sequence[int], label: int) -> float:
    """F1 of one class against everything else."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    tp = int(np.sum((y_true == label) & (y_pred == label)))
    fp = int(np.sum((y_true != label) & (y_pred == label)))
    fn = int(np.sum((y_true == label) & (y_pred != label)))
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


@dataclass(frozen=True, kw_only=True)
class Occurrence:
    label: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True, kw_only=True)
class MatchResult:
    occurrences: int
    hits: int
    false_rejects: int
    false_accepts: int
    duplicates: int
    negative_hours: float

    @property
    def frr(self) -> float:
        return self.false_rejects / self.occurrences if self.occurrences else 0.0

    @property
    def fa_per_hour(self) -> float:
        return self.false_accepts / self.negative_hours if self.negative_hours > 0 else float("inf")


def negative_hours(duration_s: float, occurrences: Sequence[Occurrence]) -> float:
    return max(0.0, duration_s - sum((o.end_ms - o.start_ms) / 1000 for o in occurrences)) / 3600


def _matches(labels: np.ndarray, times: np.ndarray, occ_labels: np.ndarray, occ_start: np.ndarray,
             occ_end: np.ndarray, late_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """Per detection: (the occurrence it falls on, whether it matches it); occurrences sorted by start and
    further apart than late_ms."""
    index = np.searchsorted(occ_start, times, side="right") - 1
    ok = index >= 0
    safe = np.clip(index, 0, max(len(occ_start) - 1, 0))
    if len(occ_start):
        ok &= (times <= occ_end[safe] + late_ms) & (occ_labels[safe] == labels)
    else:
        ok &= False
    return safe, ok


def _match_arrays(labels: np.ndarray, times: np.ndarray, occ_labels: np.ndarray, occ_start: np.ndarray,
                  occ_end: np.ndarray, late_ms: int) -> tuple[int, int, int]:
    """(hits, false accepts, duplicates)."""
    if len(times) == 0:
        return 0, 0, 0
    safe, ok = _matches(labels, times, occ_labels, occ_start, occ_end, late_ms)
    hits = len(np.unique(safe[ok]))
    return hits, int(np.sum(~ok)), int(np.sum(ok)) - hits


def _occurrence_arrays(occurrences: Sequence[Occurrence], label_index: dict[str, int]):
    ordered = sorted(occurrences, key=lambda o: o.start_ms)
    return (np.array([label_index.get(o.label, -1) for o in ordered], np.int64),
            np.array([o.start_ms for o in ordered], np.int64), np.array([o.end_ms for o in ordered], np.int64))


def match_detections(detections, occurrences: Sequence[Occurrence], duration_s: float, *, labels: Sequence[str],
                     late_ms: int = 1500) -> MatchResult:
    """Score `Detection`s (label, time_ms) against the truth (see the module docstring)."""
    index = {label: i for i, label in enumerate(labels)}
    occ_labels, occ_start, occ_end = _occurrence_arrays(occurrences, index)
    det_labels = np.array([index.get(d.label, -2) for d in detections], np.int64)
    det_times = np.array([d.time_ms for d in detections], np.int64)
    hits, fa, dup = _match_arrays(det_labels, det_times, occ_labels, occ_start, occ_end, late_ms)
    return MatchResult(occurrences=len(occurrences), hits=hits, false_rejects=len(occurrences) - hits,
                       false_accepts=fa, duplicates=dup, negative_hours=negative_hours(duration_s, occurrences))


@dataclass(frozen=True, kw_only=True)
class CurvePoint:
    threshold: int
    frr: float
    fa_per_hour: float
    false_accepts: int
    false_rejects: int
    duplicates: int


def _reported_detections(averaged: tuple[np.ndarray, np.ndarray, np.ndarray], times: np.ndarray,
                         config: StreamingConfig, threshold: int) -> np.ndarray:
    """Positions of RecognizeCommands' new detections at `threshold` whose label is reported (a keyword)."""
    top, top_score, valid = averaged
    chosen = np.flatnonzero(decide(top, top_score, valid, times, config, threshold=threshold))
    return chosen[np.isin(top[chosen], [config.labels.index(l) for l in config.reported])]


def frr_fa_curve(scores: np.ndarray, times_ms: np.ndarray, occurrences: Sequence[Occurrence], duration_s: float,
                 config: StreamingConfig, *, thresholds: Sequence[int] = range(0, 256), late_ms: int = 1500
                 ) -> list[CurvePoint]:
    """RecognizeCommands at every threshold over the same per-window scores."""
    averaged = averaged_scores(scores, times_ms, config)
    top = averaged[0]
    index = {label: i for i, label in enumerate(config.labels)}
    occ_labels, occ_start, occ_end = _occurrence_arrays(occurrences, index)
    hours = negative_hours(duration_s, occurrences)
    times = np.asarray(times_ms, np.int64)
    points = []
    for threshold in thresholds:
        chosen = _reported_detections(averaged, times, config, threshold)
        hits, fa, dup = _match_arrays(top[chosen], times[chosen], occ_labels, occ_start, occ_end, late_ms)
        points.append(CurvePoint(threshold=int(threshold),
                                 frr=(len(occurrences) - hits) / len(occurrences) if occurrences else 0.0,
                                 fa_per_hour=fa / hours if hours > 0 else float("inf"),
                                 false_accepts=fa, false_rejects=len(occurrences) - hits, duplicates=dup))
    return points


def frr_by_label(scores: np.ndarray, times_ms: np.ndarray, occurrences: Sequence[Occurrence], config: StreamingConfig,
                 *, threshold: int, late_ms: int = 1500) -> dict[str, float]:
    """False-reject rate of each keyword at one threshold (a curve point's FRR pools the keywords, and one
    hard word -- short, one syllable -- can carry most of it)."""
    averaged = averaged_scores(scores, times_ms, config)
    top = averaged[0]
    times = np.asarray(times_ms, np.int64)
    chosen = _reported_detections(averaged, times, config, threshold)
    occ_labels, occ_start, occ_end = _occurrence_arrays(occurrences, {l: i for i, l in enumerate(config.labels)})
    hit = np.zeros(len(occ_start), bool)
    if len(chosen) and len(occ_start):
        safe, ok = _matches(top[chosen], times[chosen], occ_labels, occ_start, occ_end, late_ms)
        hit[safe[ok]] = True
    return {label: round(1.0 - float(np.mean(hit[occ_labels == i])), 4)
            for i, label in enumerate(config.labels) if label in config.reported and np.any(occ_labels == i)}


def choose_threshold(curve: Sequence[CurvePoint], target_fa_per_hour: float) -> tuple[CurvePoint, bool]:
    """(point, target met). Lowest FRR with FA/h <= target, highest threshold on ties; if no threshold
    meets the target, the one with the fewest false accepts (then lowest FRR)."""
    meeting = [p for p in curve if p.fa_per_hour <= target_fa_per_hour]
    if meeting:
        return min(meeting, key=lambda p: (p.frr, -p.threshold)), True
    return min(curve, key=lambda p: (p.false_accepts, p.frr, -p.threshold)), False


def frr_at(curve: Sequence[CurvePoint], fa_per_hour: float) -> float:
    return choose_threshold(curve, fa_per_hour)[0].frr


# -------------------------------------------------------------------------------------------- plots

def _save(figure, path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    import matplotlib.pyplot as plt
    plt.close(figure)
    return path


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_confusion(metrics: dict, path: str | os.PathLike[str], title: str = "confusion matrix") -> Path:
    plt = _pyplot()
    confusion = np.asarray(metrics["confusion"], np.float64)
    labels = metrics["labels"]
    share = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.45 * len(labels) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    axis.imshow(share, cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    if len(labels) <= 30:
        for i in range(len(labels)):
            for j in range(len(labels)):
                if confusion[i, j]:
                    axis.text(j, i, int(confusion[i, j]), ha="center", va="center", fontsize=7,
                              color="white" if share[i, j] > 0.5 else "black")
    axis.set_title(f"{title} (accuracy {metrics['accuracy']:.3f})")
    return _save(figure, path)


def plot_f1(metrics: dict, path: str | os.PathLike[str]) -> Path:
    plt = _pyplot()
    labels = metrics["labels"]
    values = [metrics["per_class"][l]["f1"] for l in labels]
    figure, axis = plt.subplots(figsize=(max(4.0, 0.4 * len(labels) + 2), 3.2))
    axis.bar(range(len(labels)), values, color="#4477aa")
    axis.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    axis.set_ylim(0, 1)
    axis.set_ylabel("F1")
    axis.set_title("per-class F1 (held-out speakers)")
    return _save(figure, path)


def plot_curve(curve: Sequence[CurvePoint], chosen: CurvePoint, path: str | os.PathLike[str], *,
               target_fa_per_hour: float, title: str = "streaming: FRR vs false accepts per hour") -> Path:
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(5.5, 4))
    fa = np.array([p.fa_per_hour for p in curve])
    frr = np.array([p.frr for p in curve])
    finite = np.isfinite(fa)
    axis.plot(fa[finite], frr[finite], marker=".", lw=1, color="#4477aa")
    axis.axvline(target_fa_per_hour, color="grey", ls="--", lw=0.8, label=f"target {target_fa_per_hour:g} FA/h")
    axis.plot([chosen.fa_per_hour], [chosen.frr], "o", color="#cc3311",
              label=f"threshold {chosen.threshold}: FRR {chosen.frr:.3f}, {chosen.fa_per_hour:.2f} FA/h")
    axis.set_xscale("symlog", linthresh=0.5)
    axis.set_xlabel("false accepts per hour")
    axis.set_ylabel("false reject rate")
    axis.set_ylim(-0.02, 1.02)
    axis.legend(fontsize=8)
    axis.set_title(title, fontsize=10)
    return _save(figure, path)
