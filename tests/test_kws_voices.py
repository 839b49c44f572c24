"""Synthesizer families (espeak-ng, Flite), TTS renditions of keywords, the held-out-synthesizer stream,
the real-speech protocol on the shared recordings, and augmentation on worker processes."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from corpus.voices import VoiceError, backend, backends_for, render, skipped_lines
from kws.augment_workers import AugmentWorkers
from kws.augmenter import Augmenter, AugmentConfig
from kws.data import AudioPool, ClipRef, make_noise_bank
from kws.datasets import train_dataset
from kws.streams import StreamConfig
from kws.synthetic_shots import keyword_renditions, synthetic_shots

SHARED_REAL = Path(__file__).resolve().parents[1].parent / "shared" / "real_speech"
needs_flite = pytest.mark.skipif(shutil.which("flite") is None,
                                 reason="flite is not installed (make voices / tools/ensure_flite.sh installs it)")


def test_espeak_family_serves_many_languages_with_word_times(tmp_path):
    espeak = backend("espeak")
    assert espeak.serves("lg") and espeak.serves("fr") and not espeak.serves("xx")
    voice = espeak.voices("en", 3, seed=1)[2]
    first = render(espeak, "better afternoon", language="en", voice=voice, cache_dir=tmp_path)
    again = render(espeak, "better afternoon", language="en", voice=voice, cache_dir=tmp_path)  # from the cache
    assert first.sample_rate_hz == 16000 and np.array_equal(first.samples, again.samples)
    assert len(first.word_times) == 2 and first.word_times == again.word_times
    assert 0 <= first.word_times[0][0] < first.word_times[0][1] <= first.word_times[1][0]
    assert len(list(tmp_path.glob("espeak-*.npz"))) == 1


@needs_flite
def test_flite_family_is_english_deterministic_and_has_four_voices(tmp_path):
    flite = backend("flite")
    assert flite.serves("en") and not flite.serves("lg") and flite.unavailable() is None
    voices = flite.voices("en", 4, seed=0)
    assert [v.base for v in voices] == ["kal16", "awb", "rms", "slt"]
    a = flite.speak("afternoon", language="en", voice=voices[0])
    b = flite.speak("afternoon", language="en", voice=voices[0])
    c = flite.speak("afternoon", language="en", voice=voices[3])
    assert np.array_equal(a.samples, b.samples) and a.word_times is None
    assert 0.3 < len(a.samples) / 16000 < 3.0 and len(c.samples) != len(a.samples)
    assert [b.family for b in backends_for("en")] == ["espeak", "flite"] and skipped_lines("en") == []
    with pytest.raises(VoiceError, match="empty"):
        flite.speak("  ", language="en", voice=voices[0])


def test_renditions_rotate_families_and_are_deterministic(tmp_path):
    shots = synthetic_shots("aunt", "en", 6, seed=2, cache_dir=tmp_path)
    again = synthetic_shots("aunt", "en", 6, seed=2, cache_dir=tmp_path)
    assert shots.audio.shape == (6, 16000) and shots.audio.dtype == np.int16
    assert np.array_equal(shots.audio, again.audio) and len(set(shots.speakers)) == 6
    families = {s.split("-")[0] for s in shots.speakers}
    assert families == set(shots.families) and "espeak" in families
    assert np.abs(shots.audio).max(axis=1).min() > 1000  # every row holds speech
    _, note = keyword_renditions(["akawuka"], "lg", 0, seed=0)
    assert "pure K-shot" in note
    made, note = keyword_renditions(["akawuka"], "lg", 2, seed=0, pronounce={"akawuka": "a ka wu ka"})
    assert made["akawuka"].shape == (2, 16000) and "SYNTHETIC" in note and "a ka wu ka" in note


@needs_flite
def test_held_out_synthesizer_stream_is_made_by_that_family_alone(tmp_path):
    from kws.voice_streams import family_stream

    noise = make_noise_bank(seed=0, seconds=5.0)
    config = StreamConfig(duration_s=40.0, seed=3, keyword_spacing_s=(4.0, 6.0))
    stream = family_stream("en", ("aunt", "better"), "flite", noise, config, keyword_voices=4, cache_dir=tmp_path)
    again = family_stream("en", ("aunt", "better"), "flite", noise, config, keyword_voices=4, cache_dir=tmp_path)
    assert np.array_equal(stream.audio, again.audio) and stream.filler == "given"
    assert 38 < stream.duration_s < 60 and len(stream.occurrences) >= 4
    assert {o.label for o in stream.occurrences} <= {"aunt", "better"}
    assert all(0 <= o.start_ms < o.end_ms <= stream.duration_s * 1000 for o in stream.occurrences)
    assert {p.name.split("-")[0] for p in tmp_path.glob("*.npz")} == {"flite"}
    with pytest.raises(VoiceError, match="cannot make a lg stream"):
        family_stream("lg", ("akawuka",), "flite", noise, config)


@pytest.mark.skipif(not (SHARED_REAL / "MANIFEST.tsv").is_file(),
                    reason=f"shared real speech not found at {SHARED_REAL}")
def test_real_speech_tree_is_speaker_disjoint_and_its_stream_pads_with_noise_only(tmp_path):
    from kws.data import DataError
    from kws.real_speech import REAL_KEYWORDS, real_keyword_tree, real_stream

    tree = real_keyword_tree(SHARED_REAL, tmp_path, REAL_KEYWORDS, shots=5, seed=0)
    train = {c.speaker for c in tree.by_set("TRAIN")}
    test = {c.speaker for c in tree.by_set("TEST")}
    assert train and test and not train & test
    for keyword in REAL_KEYWORDS:
        assert len({c.speaker for c in tree.by_set("TRAIN") if c.word == keyword}) >= 5
        assert any(c.word == keyword for c in tree.by_set("TEST"))
    assert tree.clip_path(tree.clips[0]).suffix == ".wav"
    with pytest.raises(DataError, match="speakers"):
        real_keyword_tree(SHARED_REAL, tmp_path / "x", ("eight",), shots=5, seed=0)
    real = real_stream(SHARED_REAL, tree, REAL_KEYWORDS, make_noise_bank(seed=1, seconds=5.0), negative_s=900.0,
                       seed=0)
    assert 700 < real.speech_s < 740 and real.keyword_clips == sum(
        1 for c in tree.by_set("TEST") if c.word in REAL_KEYWORDS)
    assert 800 < real.stream.duration_s < 1000 and len(real.stream.occurrences) > 30


@pytest.mark.slow
def test_augmentation_workers_give_the_same_batches_as_one_process():
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal((40, 16000)) * 2000).astype(np.int16)
    refs = tuple(ClipRef(language="x", link=str(i), word=f"w{i % 4}", speaker="s", set="TRAIN") for i in range(40))
    augmenter = Augmenter(AudioPool(refs=refs, audio=audio), make_noise_bank(seed=0, seconds=2.0),
                          AugmentConfig(speed_prob=0.5, tempo_prob=0.5, neighbor_prob=0.5, free_shift_prob=0.5))
    jobs = [(np.arange(first, first + 8), (4, epoch, first)) for epoch in range(2) for first in range(0, 40, 8)]
    here = list(AugmentWorkers(augmenter, jobs=1).map(jobs))
    workers = AugmentWorkers(augmenter, jobs=2, min_batches=1)
    pooled = list(workers.map(jobs))
    workers.close()
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(here, pooled))
    assert not np.array_equal(here[0][0], here[5][0])  # each epoch draws fresh augmentation
    dataset = train_dataset(augmenter, np.arange(40), np.arange(40) % 4, batch_size=8, seed=4)
    first, second = [x.numpy() for x, _ in dataset], [x.numpy() for x, _ in dataset]
    assert len(first) == 5 and not np.array_equal(first[0], second[0])
