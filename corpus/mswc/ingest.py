"""Stage 1, ingest: a Common Voice language folder -> recordings and supervisions.

Reads `<tsv>.tsv` (validated by default) with `corpus.formats.common_voice.read_cv_tsv`; bad rows are
reported with file, line and reason. Every clip is then decoded in full by `probe_clip` (per item, on
the engine): a clip that is missing, empty, undecodable, too short, or silent (its 25-ms frame energies
vary by less than `silence_range_db` between the 10th and 95th percentile: stationary noise, no speech)
is reported and skipped. A clip listed twice keeps its first row. With `drop_silent=False` silent clips
are kept (flagged `custom["silent"]`; the aligner is never trained on them, but they are aligned and
cut like the others, e.g. to measure how outlier scoring treats them).

Output: `Recording` (path relative to the Common Voice language folder, the file's rate and decoded
length) and `Supervision` (the raw sentence, speaker = client_id, gender 'male'/'female'/'other'/'').
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.audio import AudioError, audio_info, load_audio

__all__ = ["ProbeTask", "probe_clip", "frame_energy_range_db", "recording_id_for"]


@dataclass(frozen=True, kw_only=True)
class ProbeTask:
    id: str
    path: str  # absolute path of the clip
    min_duration_s: float
    silence_range_db: float


def recording_id_for(clip_path: str) -> str:
    """`common_voice_lg_123.mp3` -> `common_voice_lg_123` (the id MSWC file names are built from)."""
    name = Path(clip_path).name
    return name[: -len(Path(name).suffix)] if Path(name).suffix else name


def frame_energy_range_db(samples: np.ndarray, sample_rate_hz: int, *, frame_s: float = 0.025) -> tuple[float, float]:
    """(p95 - p10 of frame energies in dB, peak dB): speech swings by tens of dB, steady noise by a few."""
    frame = max(1, int(round(frame_s * sample_rate_hz)))
    count = len(samples) // frame
    if count < 4:
        return 0.0, float(20 * np.log10(np.max(np.abs(samples)) + 1e-10))
    frames = samples[: count * frame].astype(np.float64).reshape(count, frame)
    energy = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    spread = float(np.percentile(energy, 95) - np.percentile(energy, 10))
    return spread, float(20 * np.log10(np.max(np.abs(samples)) + 1e-10))


def probe_clip(task: ProbeTask) -> dict:
    """Decode one clip; {"id", "ok", "silent", "reason", "detail", "sample_rate_hz", "num_samples", ...}.

    ok=False: unusable (unreadable, too short). ok=True with silent=True: decodable but no speech.
    """
    result: dict = {"id": task.id, "ok": False, "reason": "", "detail": ""}
    try:
        samples = load_audio(task.path, sample_rate_hz=None)
        rate = audio_info(task.path).sample_rate_hz
    except AudioError as error:
        result.update(reason="unreadable_audio", detail=f"{type(error).__name__}: {error.reason}")
        return result
    except Exception as error:  # noqa: BLE001 - a decoder failure of any kind is this clip's problem
        result.update(reason="unreadable_audio", detail=f"{type(error).__name__}: {error}")
        return result
    duration = len(samples) / rate
    spread, peak = frame_energy_range_db(samples, rate)
    result.update(sample_rate_hz=int(rate), num_samples=int(len(samples)), energy_range_db=round(spread, 2),
                  peak_db=round(peak, 2))
    if duration < task.min_duration_s:
        result.update(reason="too_short", detail=f"{duration:.3f} s < {task.min_duration_s} s")
        return result
    result["ok"] = True
    result["silent"] = peak < -80.0 or spread < task.silence_range_db
    if peak < -80.0:
        result.update(reason="silent", detail=f"digital silence (peak {peak:.1f} dBFS)")
    elif spread < task.silence_range_db:
        result.update(reason="silent", detail=f"no speech: frame energies vary by {spread:.1f} dB "
                                              f"(< {task.silence_range_db} dB)")
    return result
