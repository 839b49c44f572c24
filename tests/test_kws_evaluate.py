"""Metrics on crafted data: classification report, detection matching, FRR vs FA/hour, threshold choice."""

import numpy as np
import pytest

from kws.common import SILENCE, UNKNOWN
from kws.evaluate import (Occurrence, choose_threshold, classification_metrics, frr_by_label, frr_fa_curve,
                          label_f1, match_detections, plot_confusion, plot_curve, plot_f1)
from kws.streaming import Detection, StreamingConfig

LABELS = (SILENCE, UNKNOWN, "akawuka", "senyiga")


def test_classification_metrics_on_a_crafted_confusion():
    y_true = [0, 0, 1, 1, 2, 2, 2, 3]
    y_pred = [0, 1, 1, 1, 2, 2, 3, 3]
    m = classification_metrics(y_true, y_pred, LABELS)
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["confusion"][2] == [0, 0, 2, 1]
    assert m["per_class"]["senyiga"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(0.6667, abs=1e-4),
                                         "support": 1}
    assert m["per_class"]["akawuka"]["f1"] == pytest.approx(0.8)
    assert label_f1(y_true, y_pred, 2) == pytest.approx(0.8)


def test_match_counts_hits_duplicates_false_accepts_and_wrong_labels():
    truth = [Occurrence(label="akawuka", start_ms=10_000, end_ms=10_600),
             Occurrence(label="senyiga", start_ms=30_000, end_ms=30_500),
             Occurrence(label="akawuka", start_ms=50_000, end_ms=50_700)]
    detections = [Detection("akawuka", 10_900, 220),  # hit (after the word, within 1500 ms)
                  Detection("akawuka", 11_500, 210),  # duplicate of the same occurrence
                  Detection("akawuka", 30_800, 230),  # wrong keyword at senyiga's occurrence: false accept
                  Detection("senyiga", 40_000, 230),  # nothing there: false accept
                  Detection("akawuka", 52_300, 230)]  # too late (end 50_700 + 1500 < 52_300): false accept
    result = match_detections(detections, truth, duration_s=3600.0, labels=LABELS)
    assert (result.hits, result.false_rejects, result.false_accepts, result.duplicates) == (1, 2, 3, 1)
    negative_h = (3600 - 1.8) / 3600
    assert result.negative_hours == pytest.approx(negative_h)
    assert result.fa_per_hour == pytest.approx(3 / negative_h)
    assert result.frr == pytest.approx(2 / 3)


def test_frr_fa_curve_and_threshold_choice_on_crafted_scores():
    cfg = StreamingConfig(labels=LABELS, minimum_count=1, average_window_ms=100, suppression_ms=1500)
    times = np.arange(0, 600_000, 100, dtype=np.int64)  # 10 minutes, a result every 100 ms
    scores = np.zeros((len(times), 4), np.int64)
    scores[:, 0] = 255
    truth = []
    for k, start in enumerate(range(20_000, 600_000, 60_000)):  # 10 keywords, strength falls with k
        i = start // 100 + 6
        scores[i:i + 3] = [0, 0, 250 - 15 * k, 0]
        truth.append(Occurrence(label="akawuka", start_ms=start, end_ms=start + 500))
    for start in (45_000, 275_000):  # two false alarms of medium strength
        i = start // 100
        scores[i:i + 3] = [0, 0, 0, 160]
    curve = frr_fa_curve(scores, times, truth, 600.0, cfg)
    by_threshold = {p.threshold: p for p in curve}
    assert by_threshold[0].frr == 0 and by_threshold[0].false_accepts == 2
    assert by_threshold[159].false_accepts == 2 and by_threshold[160].false_accepts == 0
    assert by_threshold[250].frr == 1.0 and by_threshold[249].frr == pytest.approx(0.9)
    frr = [p.frr for p in curve]
    assert frr == sorted(frr)  # a higher threshold never rejects less
    chosen, met = choose_threshold(curve, target_fa_per_hour=1.0)
    # FA-free from 160 up; keywords 6..9 (160..115) are lost there; the same FRR holds up to 174 (the 175 keyword
    # still fires), and ties go to the higher threshold
    assert met and chosen.threshold == 174 and chosen.false_accepts == 0
    assert chosen.frr == pytest.approx(0.4)
    # unreachable target: fewest false accepts
    chosen, met = choose_threshold([p for p in curve if p.threshold < 100], target_fa_per_hour=1.0)
    assert not met and chosen.false_accepts == 2


def test_frr_by_label_splits_the_pooled_frr_by_keyword():
    cfg = StreamingConfig(labels=LABELS, minimum_count=1, average_window_ms=100, suppression_ms=1500)
    times = np.arange(0, 300_000, 100, dtype=np.int64)
    scores = np.zeros((len(times), 4), np.int64)
    scores[:, 0] = 255
    truth = []
    # akawuka: 4 occurrences at strength 220; senyiga: 4 at 220, 200, 180, 160; one senyiga occurrence is
    # answered "akawuka" (a confusion: a miss of senyiga, and a false accept)
    strengths = {"akawuka": [220] * 4, "senyiga": [220, 200, 180, 160]}
    start = 10_000
    for label, levels in strengths.items():
        for level in levels:
            i = start // 100 + 6
            scores[i:i + 3] = 0
            scores[i:i + 3, LABELS.index(label)] = level
            truth.append(Occurrence(label=label, start_ms=start, end_ms=start + 500))
            start += 20_000
    i = start // 100 + 6
    scores[i:i + 3] = [0, 0, 240, 0]
    truth.append(Occurrence(label="senyiga", start_ms=start, end_ms=start + 500))
    assert frr_by_label(scores, times, truth, cfg, threshold=190) == {"akawuka": 0.0, "senyiga": 0.6}
    assert frr_by_label(scores, times, truth, cfg, threshold=100) == {"akawuka": 0.0, "senyiga": 0.2}
    assert frr_by_label(scores, times, truth, cfg, threshold=230) == {"akawuka": 1.0, "senyiga": 1.0}
    pooled = {p.threshold: p.frr for p in frr_fa_curve(scores, times, truth, 300.0, cfg)}
    assert pooled[190] == pytest.approx((0 + 3) / 9)


def test_plots_are_written(tmp_path):
    m = classification_metrics([0, 1, 2, 3], [0, 1, 2, 2], LABELS)
    assert plot_confusion(m, tmp_path / "c.png").stat().st_size > 1000
    assert plot_f1(m, tmp_path / "f.png").stat().st_size > 1000
    cfg = StreamingConfig(labels=LABELS)
    times = np.arange(0, 60_000, 20, dtype=np.int64)
    scores = np.tile([255, 0, 0, 0], (len(times), 1))
    curve = frr_fa_curve(scores, times, [Occurrence(label="akawuka", start_ms=5000, end_ms=5500)], 60.0, cfg)
    chosen, _ = choose_threshold(curve, 0.5)
    assert plot_curve(curve, chosen, tmp_path / "r.png", target_fa_per_hour=0.5).stat().st_size > 1000
