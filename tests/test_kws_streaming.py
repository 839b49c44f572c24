"""RecognizeCommands semantics on crafted score sequences; the vectorized form equals the class; streaming
over features equals calling the model on every window."""

import numpy as np
import pytest

from kws.common import SILENCE, UNKNOWN
from kws.streaming import (RecognizeCommands, StreamingConfig, StreamingDetector, averaged_scores, decide,
                           detections_from_scores, load_streaming, save_streaming, scores_from_probabilities,
                           sliding_windows)

LABELS = (SILENCE, UNKNOWN, "yes", "no")


def config(**kw):
    return StreamingConfig(labels=LABELS, **kw)


def scores(yes=0, no=0, silence=None):
    silence = 255 - yes - no if silence is None else silence
    return [max(silence, 0), 0, yes, no]


def run(rc, items):
    return [rc.process(s, t) for t, s in items]


def test_minimum_count_and_quarter_window_gate_decisions():
    rc = RecognizeCommands(config(minimum_count=3))
    results = run(rc, [(0, scores(250)), (100, scores(250)), (200, scores(250)), (300, scores(250))])
    # 1st and 2nd: fewer than 3 results; 3rd: span 200 ms < 1000 / 4
    assert [r.is_new for r in results] == [False, False, False, True]
    assert [r.score for r in results[:3]] == [0, 0, 0] and results[3].label_index == 2 and results[3].score == 250


def test_average_uses_integer_division_and_drops_results_older_than_the_window():
    rc = RecognizeCommands(config(minimum_count=1, average_window_ms=1000, detection_threshold=255))
    run(rc, [(0, scores(255)), (300, scores(0, 0, 255))])
    r = rc.process(scores(100), 600)
    assert r.label_index == 0 and r.score == (0 + 255 + 155) // 3  # silence averaged over 3 results
    assert rc.process(scores(100), 1000).score == (255 + 155 + 155) // 4  # t=0 still inside [0, 1000]
    r = rc.process(scores(100), 1001)  # t=0 is now older than 1001 - 1000: dropped
    assert r.label_index == 0 and r.score == (255 + 155 + 155 + 155) // 4
    # yes average: (0 + 100 * 3) // 4 = 75 while silence leads
    assert not r.is_new


def test_threshold_is_strict():
    rc = RecognizeCommands(config(minimum_count=1, detection_threshold=200))
    results = run(rc, [(0, scores(200)), (250, scores(200)), (500, scores(201))])
    assert not results[1].is_new and results[1].score == 200
    assert results[2].is_new is False  # average (200+200+201)//3 = 200, still not > 200
    assert rc.process(scores(230), 750).is_new  # (200+200+201+230)//4 = 207


def test_suppression_blocks_the_same_label_but_not_a_new_one():
    rc = RecognizeCommands(config(minimum_count=1, average_window_ms=200, suppression_ms=1500, detection_threshold=150))
    timeline = [(t, scores(250)) for t in range(0, 2001, 100)]
    new_times = [t for (t, _), r in zip(timeline, run(rc, timeline)) if r.is_new]
    assert new_times == [100, 1700]  # first at 100 (span gate at 0), next once 1500 ms have passed (strictly more)
    rc = RecognizeCommands(config(minimum_count=1, average_window_ms=200, suppression_ms=1500, detection_threshold=150))
    run(rc, [(t, scores(250)) for t in (0, 100)])
    results = run(rc, [(t, scores(0, 250)) for t in (200, 300, 400)])
    assert [r.label_index for r in results if r.is_new] == [3]  # "no" fires at once, despite "yes" 200 ms before


def test_previous_top_silence_disables_suppression():
    rc = RecognizeCommands(config(minimum_count=1, average_window_ms=100, detection_threshold=100, suppression_ms=1500))
    results = run(rc, [(0, scores(0, 0, 255)), (50, scores(0, 0, 255)), (100, scores(0, 0, 255))])
    # TFLM: while the previous top is silence there is no suppression, so silence is "new" every time
    assert [r.is_new for r in results] == [False, True, True]
    results = run(rc, [(150, scores(250)), (200, scores(250)), (300, scores(0, 0, 255)), (400, scores(0, 0, 255)),
                       (500, scores(250)), (600, scores(250))])
    fired = [(time, r.label_index) for time, r in zip((150, 200, 300, 400, 500, 600), results) if r.is_new]
    # averages over the last 100 ms: silence leads at 150, yes at 200, silence at 300-500, yes at 600; yes fires
    # again at 600 (400 ms after the first) because the previous top was silence, not yes
    assert fired == [(150, 0), (200, 2), (300, 0), (400, 0), (500, 0), (600, 2)]


def test_time_must_not_go_back_and_scores_must_be_0_to_255():
    rc = RecognizeCommands(config())
    rc.process(scores(10), 1000)
    with pytest.raises(ValueError):
        rc.process(scores(10), 999)
    with pytest.raises(ValueError):
        rc.process([300, 0, 0, 0], 2000)
    with pytest.raises(ValueError):
        StreamingConfig(labels=("yes", SILENCE))


def _random_sequence(rng, n, classes=4):
    times = np.cumsum(rng.integers(0, 60, size=n)).astype(np.int64)
    raw = rng.random((n, classes)) ** 3
    raw[:, 2] += (np.sin(np.arange(n) / 7) > 0.6) * 2
    return scores_from_probabilities(raw / raw.sum(axis=1, keepdims=True)), times


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorized_form_equals_the_class(seed):
    rng = np.random.default_rng(seed)
    s, times = _random_sequence(rng, 3000)
    cfg = config(minimum_count=int(rng.integers(1, 5)), average_window_ms=int(rng.integers(200, 1200)),
                 suppression_ms=int(rng.integers(0, 2000)))
    top, top_score, valid = averaged_scores(s, times, cfg)
    for threshold in (0, 60, 120, 200):
        rc = RecognizeCommands(cfg.__class__(**{**cfg.__dict__, "detection_threshold": threshold}))
        expected = [rc.process(row, int(t)) for row, t in zip(s, times)]
        new = decide(top, top_score, valid, times, cfg, threshold=threshold)
        assert new.tolist() == [r.is_new for r in expected]
        assert [int(x) for x in np.where(valid, top_score, 0)] == [r.score for r in expected]
        assert sum(new) > 0 or threshold == 200


def test_streaming_over_features_equals_the_per_window_model_call():
    import keras

    from kws.features import int8_to_float
    from kws.models import build_classifier, preset

    keras.utils.set_random_seed(0)
    model = build_classifier(preset("tiny_conv"), len(LABELS))
    calls = []

    def scorer(windows):
        calls.append(len(windows))
        return scores_from_probabilities(model.predict(int8_to_float(windows), verbose=0))

    rng = np.random.default_rng(5)
    frames = rng.integers(-128, 128, size=(400, 40)).astype(np.int8)
    cfg = config(stride_frames=3, minimum_count=2, detection_threshold=60)
    detector = StreamingDetector(scorer, cfg, batch_windows=7)
    detector.keep_results = True
    found, position = [], 0
    while position < len(frames):
        size = int(rng.integers(1, 60))
        found += detector.push_features(frames[position:position + size])
        position += size
    windows, ends = sliding_windows(frames, cfg)
    assert len(detector.results) == len(windows) == len(range(48, 400, 3))
    # every window scored by the streaming path equals the model on that window alone
    for (time_ms, row), window, end in zip(detector.results, windows, ends):
        assert time_ms == end * 20 + 30
        alone = scores_from_probabilities(np.asarray(model(int8_to_float(window[None]), training=False)))[0]
        assert np.abs(row - alone).max() <= 1  # batch vs single predict: float rounding only
    offline_scores = np.stack([r for _, r in detector.results])
    offline = detections_from_scores(offline_scores, cfg.window_time_ms(ends), cfg)
    assert found == offline


def test_streaming_json_roundtrip(tmp_path):
    cfg = config(detection_threshold=123, stride_frames=2)
    save_streaming(tmp_path / "streaming.json", cfg)
    assert load_streaming(tmp_path / "streaming.json") == cfg
    assert cfg.queue_capacity() == 1000 // 40 + 1
