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

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.audio import AudioError, audio_info, load_audio
from corpus.manifest import Recording, Supervision, validate_supervisions
from corpus.mswc.errors import BuildError
from corpus.stages import Context, Outcome, Problem, StageOutput

__all__ = ["ProbeTask", "Probe", "probe_clip", "frame_energy_range_db", "recording_id_for", "plan_ingest",
           "ingest_problems", "collect_ingest"]


@dataclass(frozen=True, kw_only=True)
class ProbeTask:
    id: str
    path: str  # absolute path of the clip
    min_duration_s: float
    silence_range_db: float
    # the TSV row, for the supervision made on the driver
    sentence: str = ""
    speaker: str = ""
    gender: str = ""
    sentence_id: str = ""


@dataclass(frozen=True, kw_only=True)
class Probe(Outcome):
    """What decoding one clip showed. ok=False: unusable (reason, detail); silent: decodable, no speech
    (reason "silent": a problem only with drop_silent, see `ingest_problems`)."""

    silent: bool = False
    sample_rate_hz: int = 0
    num_samples: int = 0
    energy_range_db: float = 0.0
    peak_db: float = 0.0


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


def probe_clip(task: ProbeTask) -> Probe:
    """Decode one clip (per item, on the engine)."""
    try:
        samples = load_audio(task.path, sample_rate_hz=None)
        rate = audio_info(task.path).sample_rate_hz
    except AudioError as error:
        return Probe(id=task.id, reason="unreadable_audio", detail=f"{type(error).__name__}: {error.reason}")
    except Exception as error:  # noqa: BLE001 - a decoder failure of any kind is this clip's problem
        return Probe(id=task.id, reason="unreadable_audio", detail=f"{type(error).__name__}: {error}")
    duration = len(samples) / rate
    spread, peak = frame_energy_range_db(samples, rate)
    measured = {"sample_rate_hz": int(rate), "num_samples": int(len(samples)),
                "energy_range_db": round(spread, 2), "peak_db": round(peak, 2)}
    if duration < task.min_duration_s:
        return Probe(id=task.id, reason="too_short", detail=f"{duration:.3f} s < {task.min_duration_s} s", **measured)
    if peak < -80.0:
        return Probe(id=task.id, ok=True, silent=True, reason="silent",
                     detail=f"digital silence (peak {peak:.1f} dBFS)", **measured)
    if spread < task.silence_range_db:
        return Probe(id=task.id, ok=True, silent=True, reason="silent",
                     detail=f"no speech: frame energies vary by {spread:.1f} dB (< {task.silence_range_db} dB)",
                     **measured)
    return Probe(id=task.id, ok=True, **measured)


# ---------------------------------------------------------------- the stage, on the driver

def plan_ingest(ctx: Context) -> list[ProbeTask]:
    """One probe per clip of the TSV; bad rows and repeated clips are reported here."""
    from corpus.formats.common_voice import normalize_gender, read_cv_tsv

    source, config = ctx.source, ctx.config
    tsv = source.cv_dir / f"{config.tsv}.tsv"
    try:
        rows, row_problems = read_cv_tsv(tsv)
    except (FileNotFoundError, ValueError) as error:
        raise BuildError(str(error)) from None
    for p in row_problems:
        ctx.problem(f"{tsv.name}:{p.line}", "bad_tsv_row", p.reason)
    by_id: dict = {}
    for row in rows:
        clip_id = recording_id_for(row.path)
        if clip_id in by_id:
            ctx.problem(clip_id, "duplicate_clip", f"{row.path} listed again; its first row is kept")
            continue
        by_id[clip_id] = row
    tasks = []
    for clip_id, row in by_id.items():
        path = source.cv_dir / "clips" / row.path
        if not path.exists() and not Path(row.path).suffix and path.with_name(row.path + ".mp3").exists():
            path = path.with_name(row.path + ".mp3")  # the oldest releases list paths without .mp3
        tasks.append(ProbeTask(id=clip_id, path=str(path), min_duration_s=config.min_duration_s,
                               silence_range_db=config.silence_range_db, sentence=row.sentence,
                               speaker=row.client_id, gender=normalize_gender(row.gender),
                               sentence_id=row.sentence_id))
    return tasks


def ingest_problems(ctx: Context, probe: Probe) -> list[Problem]:
    usable = probe.ok and not (probe.silent and ctx.config.drop_silent)
    return [] if usable else [Problem(item=probe.id, reason=probe.reason, detail=probe.detail)]


def collect_ingest(ctx: Context, tasks: list[ProbeTask], probes: list[Probe]) -> StageOutput:
    source = ctx.source
    kept = [(task, probe) for task, probe in zip(tasks, probes) if not ingest_problems(ctx, probe)]
    kept.sort(key=lambda pair: pair[0].id)
    recordings, supervisions = [], []
    for task, probe in kept:
        rel = os.path.relpath(task.path, source.cv_dir)
        recording = Recording(id=task.id, path=Path(rel).as_posix(), sample_rate_hz=probe.sample_rate_hz,
                              num_samples=probe.num_samples)
        recordings.append(recording)
        supervisions.append(Supervision(
            id=task.id, recording_id=task.id, start_s=0.0, duration_s=recording.duration_s, text=task.sentence,
            language=source.language, speaker=task.speaker, gender=task.gender,
            custom={"sentence_id": task.sentence_id, **({"silent": True} if probe.silent else {})}))
    validate_supervisions(supervisions, recordings)
    rows_not_probed = sum(p.reason in ("bad_tsv_row", "duplicate_clip") for p in ctx.problems)
    return StageOutput(count_in=len(tasks) + rows_not_probed, kept=len(supervisions),
                       manifests={"recordings": recordings, "supervisions": supervisions},
                       report={"speakers": len({s.speaker for s in supervisions}),
                               "silent_kept": sum(probe.silent for _, probe in kept),
                               "hours": round(sum(r.duration_s for r in recordings) / 3600, 4),
                               "source": f"{ctx.config.tsv}.tsv"})
