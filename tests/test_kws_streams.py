"""Test streams: keywords spliced into running speech, with pauses, silence and noise; the truth times are exact."""

import numpy as np
import pytest

from corpus.augment import active_power
from corpus.demo.mswc import SynthMswcConfig, synth_mswc
from kws.data import NoiseBank, make_noise_bank, open_tree
from kws.streams import StreamConfig, keyword_clips, make_stream, read_stream, running_speech, write_stream


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("streams")
    synth_mswc(SynthMswcConfig(language="lg", words=5, clips_per_word=10, speakers=12, seed=4), root, jobs=2,
               progress=False)
    return open_tree(root, "lg")


SILENT = NoiseBank(names=("none",), signals=(np.zeros(16000, np.float32),))


@pytest.mark.parametrize("filler", ["clips", "sentences"])
def test_keywords_sit_exactly_where_the_truth_says(tree, filler):
    keywords = ["akawuka", "senyiga"]
    clips = keyword_clips(tree, keywords)
    assert clips and {c.word for c in clips} == set(keywords)
    config = StreamConfig(duration_s=40.0, keyword_spacing_s=(4.0, 6.0), filler=filler, seed=1)
    stream = make_stream(tree, keywords, SILENT, config, clips=clips, jobs=1)
    assert stream.filler == filler and 40.0 <= stream.duration_s < 60.0
    assert len(stream.occurrences) >= 4
    order = np.random.default_rng([config.seed, 0x57AE]).permutation(len(clips))
    levels_db = []
    for k, occurrence in enumerate(stream.occurrences):
        clip = clips[int(order[k % len(clips)])]
        assert occurrence.label == clip.word
        first = occurrence.start_ms * 16 - int(clip.word_start_s * 16000)
        best = max(range(first - 20, first + 21), key=lambda s: float(np.dot(stream.audio[s:s + len(clip.audio)],
                                                                              clip.audio)))
        assert abs(best - first) <= 16  # within 1 ms
        piece = stream.audio[best:best + len(clip.audio)]
        scale = float(np.dot(piece, clip.audio) / np.dot(clip.audio, clip.audio))  # level matching, limiting
        assert scale > 0 and np.allclose(piece, scale * clip.audio, atol=1e-5)
        levels_db.append(10 * np.log10(active_power(piece)))
        assert occurrence.end_ms - occurrence.start_ms == pytest.approx((clip.word_end_s - clip.word_start_s) * 1000,
                                                                        abs=2)
    starts = [o.start_ms for o in stream.occurrences]
    assert starts == sorted(starts) and min(np.diff(starts)) > 3000
    # every keyword at the running speech's level +-3 dB (config.keyword_level_db), whatever its clip's level
    speech_db = 10 * np.log10(active_power(stream.audio))
    assert max(levels_db) - min(levels_db) <= 6.5 and abs(np.mean(levels_db) - speech_db) < 3.0


def test_noise_snr_and_round_trip(tree, tmp_path):
    noise = make_noise_bank(seed=0, seconds=5.0)
    config = StreamConfig(duration_s=20.0, snr_db=(10.0, 10.0), filler="clips", seed=2)
    quiet = make_stream(tree, ["okugema"], SILENT, config, jobs=1)
    noisy = make_stream(tree, ["okugema"], noise, config, jobs=1)
    assert np.array_equal(quiet.audio.shape, noisy.audio.shape)
    added = noisy.audio - quiet.audio
    snr = 10 * np.log10(active_power(quiet.audio) / np.mean(added ** 2))
    assert snr == pytest.approx(10.0, abs=1.0)
    path = write_stream(noisy, tmp_path / "s.wav")
    again = read_stream(path)
    assert again.occurrences == noisy.occurrences and abs(len(again.audio) - len(noisy.audio)) <= 1


def test_running_speech_has_no_keyword_and_the_right_length(tree):
    audio = running_speech(tree, ["akawuka"], 15.0, seed=0, jobs=1)
    assert len(audio) == 15 * 16000 and np.sqrt(np.mean(audio ** 2)) > 0.01
    clips_only = running_speech(tree, ["akawuka"], 8.0, seed=0, filler="clips")
    assert len(clips_only) == 8 * 16000
