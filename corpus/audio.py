"""Audio I/O: any of WAV, FLAC, MP3, Ogg Vorbis and Ogg Opus in, float32 mono at the rate you ask for out.

libsndfile (through soundfile) decodes and encodes every format we meet; soxr resamples with its
high-quality filter. tensorflow-io was the design card's choice, but its last release (0.37.1) supports
only TensorFlow 2.16, so audio never goes through TensorFlow here.

Every failure is an `AudioError` subclass that names the file, so a pipeline can report which item
failed and why, then skip it or stop.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
import soxr

from corpus.fsutil import atomic_write_bytes

__all__ = [
    "AudioError", "AudioFileMissing", "EmptyAudioFile", "UndecodableAudio", "UnsupportedAudioFormat",
    "ZeroLengthAudio", "NonFiniteAudio", "AudioInfo", "audio_info", "load_audio", "save_audio", "resample",
    "read_blocks", "to_int16", "from_int16", "check_finite", "FORMATS", "encode_audio", "ogg_with_serial",
]


class AudioError(Exception):
    """An audio file could not be used; `path` says which, the message says why."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class AudioFileMissing(AudioError):
    pass


class EmptyAudioFile(AudioError):
    """The file has zero bytes."""


class UndecodableAudio(AudioError):
    """The decoder rejected the bytes (corrupt or truncated file)."""


class UnsupportedAudioFormat(AudioError):
    """The extension or container is not one we read or write."""


class ZeroLengthAudio(AudioError):
    """The file decodes but holds no samples."""


class NonFiniteAudio(AudioError):
    """Samples are NaN or infinite (float WAV files can carry them)."""


# extension -> (libsndfile major format, subtype, sample rates the encoder accepts or None for any)
FORMATS: dict[str, tuple[str, str, tuple[int, ...] | None]] = {
    ".wav": ("WAV", "PCM_16", None),
    ".flac": ("FLAC", "PCM_16", None),
    ".mp3": ("MP3", "MPEG_LAYER_III", (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)),
    ".ogg": ("OGG", "VORBIS", None),
    ".opus": ("OGG", "OPUS", (8000, 12000, 16000, 24000, 48000)),
}


@dataclass(frozen=True, kw_only=True)
class AudioInfo:
    path: str
    sample_rate_hz: int
    num_samples: int
    channels: int
    format: str

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate_hz


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise AudioFileMissing(path, "file does not exist")
    if not path.is_file():
        raise AudioFileMissing(path, "not a regular file")
    if path.stat().st_size == 0:
        raise EmptyAudioFile(path, "file is empty (0 bytes)")
    if path.suffix.lower() not in FORMATS:
        raise UnsupportedAudioFormat(path, f"unsupported extension {path.suffix!r}; expected one of {sorted(FORMATS)}")


def _open(path: Path) -> sf.SoundFile:
    _check_readable(path)
    try:
        return sf.SoundFile(path)
    except sf.LibsndfileError as error:
        raise UndecodableAudio(path, f"cannot decode: {error.error_string}") from None
    except (RuntimeError, TypeError) as error:
        raise UndecodableAudio(path, f"cannot decode: {error}") from None


def audio_info(path: str | os.PathLike[str]) -> AudioInfo:
    """Header facts without decoding the samples."""
    path = Path(path)
    with _open(path) as handle:
        info = AudioInfo(path=str(path), sample_rate_hz=handle.samplerate, num_samples=handle.frames,
                         channels=handle.channels, format=handle.format)
    if info.num_samples <= 0:
        raise ZeroLengthAudio(path, "no samples")
    return info


def check_finite(samples: np.ndarray, path: str | os.PathLike[str] = "<array>") -> np.ndarray:
    if not np.all(np.isfinite(samples)):
        bad = int(np.count_nonzero(~np.isfinite(samples)))
        raise NonFiniteAudio(path, f"{bad} of {samples.size} samples are NaN or infinite")
    return samples


def resample(samples: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """High-quality resampling (soxr 'HQ'), delay-compensated so times are preserved."""
    if from_hz == to_hz:
        return np.asarray(samples, dtype=np.float32)
    return soxr.resample(np.asarray(samples, dtype=np.float32), from_hz, to_hz, quality="HQ").astype(np.float32)


def _to_mono(block: np.ndarray) -> np.ndarray:
    return block if block.ndim == 1 else block.mean(axis=1, dtype=np.float32)


def load_audio(path: str | os.PathLike[str], *, sample_rate_hz: int | None = 16000, start_s: float = 0.0,
               duration_s: float | None = None) -> np.ndarray:
    """Decode `path` to float32 mono in [-1, 1] at `sample_rate_hz` (None keeps the file's rate).

    `start_s`/`duration_s` read a span without decoding the rest (seekable formats). Raises an
    `AudioError` subclass naming the file on every failure.
    """
    path = Path(path)
    with _open(path) as handle:
        file_hz = handle.samplerate
        if handle.frames <= 0:
            raise ZeroLengthAudio(path, "no samples")
        first = int(round(start_s * file_hz))
        count = -1 if duration_s is None else int(round(duration_s * file_hz))
        try:
            if first:
                handle.seek(min(first, handle.frames))
            block = handle.read(frames=count, dtype="float32", always_2d=False)
        except (sf.LibsndfileError, RuntimeError) as error:
            raise UndecodableAudio(path, f"decoding failed: {error}") from None
    samples = _to_mono(block)
    if samples.size == 0:
        raise ZeroLengthAudio(path, f"no samples in the requested span (start {start_s:.3f} s)")
    check_finite(samples, path)
    target_hz = file_hz if sample_rate_hz is None else sample_rate_hz
    return resample(samples, file_hz, target_hz)


def read_blocks(path: str | os.PathLike[str], *, block_s: float = 60.0, sample_rate_hz: int = 16000
                ) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (first_sample, block) of float32 mono at `sample_rate_hz`, for files too long to load whole.

    Resampling runs as one stream across blocks, so concatenating the blocks equals `load_audio`
    up to the resampler's edge handling; memory stays at one block whatever the file's length.
    """
    path = Path(path)
    with _open(path) as handle:
        file_hz = handle.samplerate
        if handle.frames <= 0:
            raise ZeroLengthAudio(path, "no samples")
        stream = None if file_hz == sample_rate_hz else soxr.ResampleStream(file_hz, sample_rate_hz, 1,
                                                                             dtype="float32", quality="HQ")
        block_frames = max(1, int(block_s * file_hz))
        emitted = 0
        while True:
            try:
                block = handle.read(frames=block_frames, dtype="float32", always_2d=False)
            except (sf.LibsndfileError, RuntimeError) as error:
                raise UndecodableAudio(path, f"decoding failed after {emitted} samples: {error}") from None
            last = len(block) < block_frames
            samples = check_finite(_to_mono(block), path)
            if stream is not None:
                samples = stream.resample_chunk(samples, last=last)
            if samples.size:
                yield emitted, samples.astype(np.float32, copy=False)
                emitted += samples.size
            if last:
                break


def to_int16(samples: np.ndarray) -> np.ndarray:
    """float [-1, 1] -> int16 with rounding and saturation (no wrap-around on overload)."""
    return np.clip(np.round(np.asarray(samples, dtype=np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def from_int16(samples: np.ndarray) -> np.ndarray:
    return (np.asarray(samples, dtype=np.float32) / 32768.0).astype(np.float32)


def _ogg_crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return tuple(table)


_OGG_CRC = _ogg_crc_table()


def ogg_with_serial(data: bytes, serial: int) -> bytes:
    """The Ogg stream `data` with every page's serial number set to `serial` and its CRC recomputed.

    libsndfile draws each Ogg stream's serial from a time-seeded generator, so encoding the same
    samples twice gives files that differ in 4 header bytes per page (and the page CRCs). Fixing the
    serial makes Ogg Vorbis/Opus output a pure function of the samples.
    """
    out = bytearray(data)
    pos = 0
    while pos < len(out):
        if out[pos:pos + 4] != b"OggS" or pos + 27 > len(out):
            raise ValueError(f"not an Ogg page at byte {pos}")
        segments = out[pos + 26]
        size = 27 + segments + sum(out[pos + 27:pos + 27 + segments])
        if pos + size > len(out):
            raise ValueError(f"truncated Ogg page at byte {pos}")
        out[pos + 14:pos + 18] = (serial & 0xFFFFFFFF).to_bytes(4, "little")
        out[pos + 22:pos + 26] = b"\0\0\0\0"
        crc = 0
        for byte in out[pos:pos + size]:
            crc = ((crc << 8) & 0xFFFFFFFF) ^ _OGG_CRC[(crc >> 24) ^ byte]
        out[pos + 22:pos + 26] = crc.to_bytes(4, "little")
        pos += size
    return bytes(out)


def encode_audio(samples: np.ndarray, sample_rate_hz: int, suffix: str, *, file_rate_hz: int | None = None,
                 name: str = "<memory>") -> bytes:
    """The bytes of mono `samples` encoded as `suffix` (".wav", ".flac", ".mp3", ".ogg", ".opus").

    WAV and FLAC are 16-bit PCM. Opus is written at 48 kHz unless `file_rate_hz` says otherwise (the
    encoder accepts 8/12/16/24/48 kHz); MP3 keeps the input rate when the encoder accepts it. The same
    samples always give the same bytes (Ogg serials are derived from the samples).
    """
    suffix = suffix.lower()
    if suffix not in FORMATS:
        raise UnsupportedAudioFormat(name, f"cannot write {suffix!r}; expected one of {sorted(FORMATS)}")
    major, subtype, rates = FORMATS[suffix]
    samples = check_finite(np.asarray(samples, dtype=np.float32).reshape(-1), name)
    if samples.size == 0:
        raise ZeroLengthAudio(name, "refusing to write an empty signal")
    out_hz = file_rate_hz or (48000 if suffix == ".opus" else sample_rate_hz)
    if rates is not None and out_hz not in rates:
        raise UnsupportedAudioFormat(name, f"{suffix} cannot store {out_hz} Hz; use one of {rates}")
    samples = np.clip(resample(samples, sample_rate_hz, out_hz), -1.0, 1.0).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, samples, out_hz, format=major, subtype=subtype)
    data = buffer.getvalue()
    if major == "OGG":
        data = ogg_with_serial(data, int.from_bytes(hashlib.sha256(samples.tobytes()).digest()[:4], "little"))
    return data


def save_audio(path: str | os.PathLike[str], samples: np.ndarray, sample_rate_hz: int, *,
               file_rate_hz: int | None = None) -> Path:
    """Write mono `samples` atomically with `encode_audio`; the format comes from the extension."""
    path = Path(path)
    atomic_write_bytes(path, encode_audio(samples, sample_rate_hz, path.suffix, file_rate_hz=file_rate_hz,
                                          name=str(path)))
    return path
