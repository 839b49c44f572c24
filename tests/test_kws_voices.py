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
    assert [b.family for b in backends_for("en")][:2] == ["espeak", "flite"]
    assert not any("flite" in line for line in skipped_lines("en"))
    with pytest.raises(VoiceError, match="empty"):
        flite.speak("  ", language="en", voice=voices[0])


needs_kokoro = pytest.mark.skipif(backend("kokoro").unavailable() is not None,
                                  reason=f"kokoro: {backend('kokoro').unavailable()}")


@needs_kokoro
def test_kokoro_family_speaks_english_from_espeak_ipa_deterministically(tmp_path):
    from corpus.voices.kokoro import _espeak_ipa

    kokoro = backend("kokoro")
    assert kokoro.serves("en") and kokoro.serves("es") and not kokoro.serves("lg")
    voices = kokoro.voices("en", 3, seed=0)
    assert len({v.speaker_id for v in voices}) == 3 and all("+" in v.base for v in voices)
    assert _espeak_ipa("stop", "en-us") == "stˈɑːp"
    first = render(kokoro, "stop", language="en", voice=voices[0], cache_dir=tmp_path)
    second = kokoro.speak("stop", language="en", voice=voices[0])  # not from the cache: the model again
    other = kokoro.speak("stop", language="en", voice=voices[1])
    assert first.sample_rate_hz == 16000 and np.array_equal(first.samples, second.samples)
    assert 0.3 < len(first.samples) / 16000 < 2.5 and not np.array_equal(first.samples[:8000], other.samples[:8000])
    # the word is in it: loud frames span at least 150 ms
    power = np.square(first.samples[: len(first.samples) // 160 * 160]).reshape(-1, 160).mean(axis=1)
    assert np.sum(power > power.max() * 1e-2) >= 15
    with pytest.raises(VoiceError, match="does not serve"):
        kokoro.speak("akawuka", language="lg", voice=voices[0])


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


def test_microphone_and_room_augmentation_shape_the_spectrum_and_keep_the_level():
    from kws.voice_augment import microphone_eq, room_reverb, vocal_tract

    rng = np.random.default_rng(0)
    noise = rng.standard_normal((4, 16000)).astype(np.float32) * 0.1
    phone = microphone_eq(noise, np.random.default_rng(1), tilt_db_per_octave=(0.0, 0.0), highpass_hz=(300.0, 300.0),
                          lowpass_hz=(3400.0, 3400.0), lowpass_prob=1.0, peaks=0, peak_db=0.0, sample_rate_hz=16000)
    spectrum = np.abs(np.fft.rfft(phone, axis=1)) ** 2
    freqs = np.fft.rfftfreq(16000, 1 / 16000)
    band = spectrum[:, (freqs > 500) & (freqs < 3000)].mean()
    assert spectrum[:, freqs > 6000].mean() < band * 1e-2 and spectrum[:, freqs < 80].mean() < band * 1e-2
    assert np.allclose(np.sqrt(np.mean(phone ** 2, axis=1)), np.sqrt(np.mean(noise ** 2, axis=1)), rtol=1e-3)
    same = microphone_eq(noise, np.random.default_rng(1), tilt_db_per_octave=(0.0, 0.0), highpass_hz=(300.0, 300.0),
                         lowpass_hz=(3400.0, 3400.0), lowpass_prob=1.0, peaks=0, peak_db=0.0, sample_rate_hz=16000)
    assert np.array_equal(phone, same)
    burst = np.zeros((1, 16000), np.float32)
    burst[0, 4000:6000] = noise[0, :2000]
    wet = room_reverb(burst, np.random.default_rng(2), rt60_s=(0.5, 0.5), direct_to_reverb_db=(0.0, 0.0),
                      sample_rate_hz=16000)
    assert np.sqrt(np.mean(wet ** 2)) == pytest.approx(np.sqrt(np.mean(burst ** 2)), rel=1e-3)
    assert np.mean(wet[0, 6400:9000] ** 2) > 1e-4 * np.mean(burst[0, 4000:6000] ** 2)  # the room's tail
    tone = np.sin(2 * np.pi * 200 * np.arange(16000) / 16000).astype(np.float32)
    higher = vocal_tract(tone, 1.2, sample_rate_hz=16000)
    assert len(higher) == 16000 and abs(np.argmax(np.abs(np.fft.rfft(higher))) - 240) <= 3  # 200 Hz -> 240 Hz


def test_voice_augmentation_in_the_augmenter_is_seeded_and_off_by_default():
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal((8, 16000)) * 2000).astype(np.int16)
    refs = tuple(ClipRef(language="x", link=str(i), word="w", speaker="s", set="TRAIN") for i in range(8))
    pool, noise = AudioPool(refs=refs, audio=audio), make_noise_bank(seed=0, seconds=2.0)
    plain = Augmenter(pool, noise, AugmentConfig()).audio(np.arange(8), np.random.default_rng(5))
    voiced_config = AugmentConfig(vocal_tract_prob=1.0, reverb_prob=1.0, eq_prob=1.0)
    voiced = Augmenter(pool, noise, voiced_config).audio(np.arange(8), np.random.default_rng(5))
    again = Augmenter(pool, noise, voiced_config).audio(np.arange(8), np.random.default_rng(5))
    assert voiced[0].shape == plain[0].shape and np.array_equal(voiced[0], again[0])
    assert not np.array_equal(voiced[0], plain[0])
    explicit_off = AugmentConfig(vocal_tract_prob=0.0, reverb_prob=0.0, eq_prob=0.0)
    assert np.array_equal(Augmenter(pool, noise, explicit_off).audio(np.arange(8), np.random.default_rng(5))[0],
                          plain[0])


def test_target_unknown_share_repeats_the_targets_own_words():
    from kws.fewshot import _target_unknown_repeats

    refs = tuple(ClipRef(language=lang, link=str(i), word=f"w{i}", speaker="s", set="TRAIN")
                 for i, lang in enumerate(["en"] * 3 + ["sw"] * 6 + ["neg"] * 3))
    pool = AudioPool(refs=refs, audio=np.zeros((len(refs), 16000), np.int16))
    bank = list(range(len(refs)))
    assert _target_unknown_repeats(pool, bank, "en", None) == []
    extra = _target_unknown_repeats(pool, bank, "en", 0.75)  # 6 other words -> 18 of the target's own
    assert len(extra) == 15 and set(extra) == {0, 1, 2}  # running-speech windows ("neg") keep their weight
    assert _target_unknown_repeats(pool, bank, "de", 0.75) == []  # no words of its own: nothing to repeat


def test_real_check_source_is_auto_a_real_speech_folder_or_an_mswc_tree(tmp_path):
    from kws.data import DataError
    from kws.real_check import resolve_real_source

    assert resolve_real_source("none") is None and resolve_real_source(None) is None
    with pytest.raises(DataError, match="neither a real_speech folder"):
        resolve_real_source(str(tmp_path))
    (tmp_path / "en_splits.csv").write_text("SET,LINK,WORD,VALID,SPEAKER,GENDER\n")
    assert resolve_real_source(str(tmp_path)).kind == "mswc"
    if (SHARED_REAL / "MANIFEST.tsv").is_file():
        assert resolve_real_source("auto").kind == "speech-commands"
        assert resolve_real_source(str(SHARED_REAL)).path == SHARED_REAL
