"""corpus.logmel: the one log-mel front end behind the aligner's features and the MSWC outlier embedding."""

import numpy as np
import pytest

from corpus import logmel
from corpus.align.features import frame_count, log_mel
from corpus.mswc.embedding import log_mel_frames


def test_filterbank_is_htk_triangles_between_fmin_and_fmax():
    bank = logmel.mel_filterbank(40, 512, 16000, 60.0, 7600.0)
    assert bank.shape == (257, 40)
    bins = np.fft.rfftfreq(512, 1 / 16000)
    assert np.all(bank[(bins < 60.0) | (bins > 7600.0)] == 0)
    assert np.all(bank.max(axis=0) > 0.5) and np.all(bank <= 1.0)
    centres = bins[np.argmax(bank, axis=0)]
    assert np.all(np.diff(centres) > 0)  # band centres rise with the mel scale
    assert np.diff(centres)[-1] > np.diff(centres)[0]
    with pytest.raises(ValueError):
        bank[0, 0] = 1.0  # cached: read-only


def test_both_users_read_the_same_filterbank_with_their_own_framing():
    rng = np.random.default_rng(1)
    x = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    aligner = log_mel(x)
    assert aligner.dtype == np.float32 and aligner.shape == (frame_count(len(x)), 40) == (100, 40)
    mel_db, level_db = log_mel_frames(x)
    assert mel_db.dtype == np.float64 and mel_db.shape == (98, 40) and level_db.shape == (98,)
    # the embedding's settings are exactly corpus.logmel's EMBEDDING configuration
    plain = logmel.LogMelConfig(window="hann", decibels=True, floor=1e-10, dtype="float64")
    assert np.array_equal(logmel.log_mel(x, plain), mel_db)
    assert logmel.log_mel(np.zeros(0, np.float32)).shape == (0, 40)


def test_config_is_checked():
    with pytest.raises(ValueError):
        logmel.LogMelConfig(window="kaiser")
    with pytest.raises(ValueError):
        logmel.LogMelConfig(hop_samples=500)
