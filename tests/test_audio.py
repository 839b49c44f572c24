import io

import numpy as np
import pytest
import soundfile as sf

from corpus.audio import (AudioFileMissing, EmptyAudioFile, NonFiniteAudio, UndecodableAudio,
                          UnsupportedAudioFormat, ZeroLengthAudio, audio_info, encode_audio, from_int16, load_audio,
                          ogg_with_serial, read_blocks, resample, save_audio, to_int16)


def tone(seconds: float, rate: int = 16000, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.mark.parametrize("ext", [".wav", ".flac", ".mp3", ".ogg", ".opus"])
def test_round_trip_every_format(tmp_path, ext):
    x = tone(1.0)
    path = save_audio(tmp_path / f"a{ext}", x, 16000)
    y = load_audio(path, sample_rate_hz=16000)
    assert abs(len(y) - len(x)) <= 16  # lossy codecs may pad by a few samples at most
    n = min(len(x), len(y))
    # Same waveform, not just same length: correlation of the middle part.
    mid = slice(n // 4, 3 * n // 4)
    corr = np.corrcoef(x[mid], y[mid])[0, 1]
    assert corr > (0.9999 if ext in (".wav", ".flac") else 0.98)


def test_opus_is_written_at_48k_and_mp3_keeps_rate(tmp_path):
    save_audio(tmp_path / "a.opus", tone(0.5), 16000)
    save_audio(tmp_path / "a.mp3", tone(0.5), 16000)
    assert audio_info(tmp_path / "a.opus").sample_rate_hz == 48000
    assert audio_info(tmp_path / "a.mp3").sample_rate_hz == 16000


def test_mp3_timing_is_preserved(tmp_path):
    # a click at exactly 0.5 s must decode at 0.5 s: ground-truth word times rely on it
    x = np.zeros(16000, np.float32)
    x[8000:8040] = 0.8
    save_audio(tmp_path / "c.mp3", x, 16000, file_rate_hz=48000)
    y = load_audio(tmp_path / "c.mp3", sample_rate_hz=16000)
    onset = int(np.argmax(np.abs(y) > 0.3))
    assert abs(onset - 8000) <= 16  # within 1 ms


def test_resample_preserves_duration_and_pitch():
    x = tone(1.0, 22050, 1000.0)
    y = resample(x, 22050, 16000)
    assert abs(len(y) - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spectrum) - 1000) <= 2  # 1 Hz bins


def test_span_read(tmp_path):
    x = np.arange(16000, dtype=np.float32) / 16000 - 0.5
    save_audio(tmp_path / "a.wav", x, 16000)
    y = load_audio(tmp_path / "a.wav", start_s=0.25, duration_s=0.5)
    assert len(y) == 8000
    np.testing.assert_allclose(y[:10], x[4000:4010], atol=1e-4)


def test_read_blocks_equals_whole_load(tmp_path):
    x = tone(5.0, 44100, 300.0)
    save_audio(tmp_path / "long.flac", x, 44100)
    blocks = list(read_blocks(tmp_path / "long.flac", block_s=1.3, sample_rate_hz=16000))
    starts = [s for s, _ in blocks]
    joined = np.concatenate([b for _, b in blocks])
    whole = load_audio(tmp_path / "long.flac", sample_rate_hz=16000)
    assert len(blocks) >= 4
    assert starts == sorted(starts) and starts[0] == 0
    assert abs(len(joined) - len(whole)) <= 2
    n = min(len(joined), len(whole))
    assert np.max(np.abs(joined[100:n - 100] - whole[100:n - 100])) < 1e-3


def test_int16_helpers_saturate_and_round_trip():
    x = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 0.99997, 2.0], dtype=np.float32)
    q = to_int16(x)
    assert q.dtype == np.int16 and q[0] == -32768 and q[-1] == 32767 and q[3] == 0
    np.testing.assert_allclose(from_int16(q)[1:-1], np.clip(x[1:-1], -1, 32767 / 32768), atol=1 / 32768)


def test_missing_file(tmp_path):
    with pytest.raises(AudioFileMissing) as info:
        load_audio(tmp_path / "nope.wav")
    assert "nope.wav" in str(info.value)


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.mp3").write_bytes(b"")
    with pytest.raises(EmptyAudioFile, match="empty.mp3"):
        load_audio(tmp_path / "empty.mp3")


def test_garbage_bytes_are_undecodable(tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"RIFF" + bytes(range(256)) * 4)
    with pytest.raises(UndecodableAudio, match="bad.wav"):
        load_audio(tmp_path / "bad.wav")


def test_unsupported_extension(tmp_path):
    (tmp_path / "a.m4a").write_bytes(b"\x00" * 100)
    with pytest.raises(UnsupportedAudioFormat, match="m4a"):
        load_audio(tmp_path / "a.m4a")
    with pytest.raises(UnsupportedAudioFormat):
        save_audio(tmp_path / "a.aac", tone(0.1), 16000)


def test_zero_length_audio(tmp_path):
    sf.write(tmp_path / "z.wav", np.zeros(0, np.int16), 16000, subtype="PCM_16")
    with pytest.raises(ZeroLengthAudio, match="z.wav"):
        load_audio(tmp_path / "z.wav")


def test_non_finite_samples(tmp_path):
    x = tone(0.1)
    x[10] = np.nan
    sf.write(tmp_path / "nan.wav", x, 16000, subtype="FLOAT")
    with pytest.raises(NonFiniteAudio, match="nan.wav"):
        load_audio(tmp_path / "nan.wav")
    with pytest.raises(NonFiniteAudio):
        save_audio(tmp_path / "out.wav", x, 16000)
    assert not (tmp_path / "out.wav").exists()


def test_save_is_atomic_on_failure(tmp_path):
    with pytest.raises(UnsupportedAudioFormat):
        save_audio(tmp_path / "a.opus", tone(0.1), 16000, file_rate_hz=44100)
    assert list(tmp_path.iterdir()) == []


def test_ogg_output_is_byte_identical_across_processes(tmp_path):
    # libsndfile draws a random Ogg serial per stream; encode_audio fixes it from the samples
    import subprocess
    import sys
    script = ("import sys, numpy as np; from corpus.audio import encode_audio; "
              "x = np.load(sys.argv[1]); sys.stdout.buffer.write(encode_audio(x, 16000, sys.argv[2]))")
    x = tone(1.0)
    np.save(tmp_path / "x.npy", x)
    for suffix in (".opus", ".ogg"):
        runs = [subprocess.run([sys.executable, "-c", script, str(tmp_path / "x.npy"), suffix], capture_output=True,
                               check=True).stdout for _ in range(2)]
        assert runs[0] == runs[1] == encode_audio(x, 16000, suffix)
        assert encode_audio(x * 0.5, 16000, suffix) != runs[0]
    raw = []
    for _ in range(2):
        buffer = io.BytesIO()
        sf.write(buffer, x, 16000, format="OGG", subtype="OPUS")
        raw.append(buffer.getvalue())
    assert ogg_with_serial(raw[0], 7) == ogg_with_serial(raw[1], 7)
    with pytest.raises(ValueError, match="not an Ogg page"):
        ogg_with_serial(b"RIFF" + bytes(40), 1)
