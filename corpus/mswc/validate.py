"""Stage 7, validate: the written release is what it claims to be.

Checks (each failure is a problem {"item", "reason", "detail"} in the report):

- `<lang>_splits.csv` parses (header, SET, VALID, safe LINK) and has no duplicate LINK (`duplicate_link`);
- the per-set CSVs hold exactly the splits file's rows of their set (`set_csv_mismatch`);
- every row has its clip (`missing_clip`) and every file under clips/ its row (`extra_clip`, which also
  catches left-over temporary files);
- folder names are safe: NFC, no path separator, not `.`/`..`, no control or format characters
  (`unsafe_folder`); no empty folders (`empty_folder`);
- every clip is Ogg Opus at 48 kHz and decodes to exactly 16,000 samples at 16 kHz (`bad_duration`,
  `unreadable_clip`; per clip on the engine), and so does its WAV when WAVs are written;
- metadata.json agrees with the splits (`metadata_mismatch`) and `<lang>_scores.csv`, when present,
  scores every row and nothing else (`scores_mismatch`).
"""

from __future__ import annotations

import csv
import json
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from corpus.audio import AudioError, audio_info, load_audio
from corpus.formats.mswc import SETS, MswcFormatError, read_scores, read_splits
from corpus.stages import Context, Outcome, StageOutput

__all__ = ["ClipCheck", "ClipChecked", "check_clip", "validate_release", "safe_folder", "run_validate"]


@dataclass(frozen=True, kw_only=True)
class ClipCheck:
    link: str
    path: str
    wav_path: str | None = None


@dataclass(frozen=True, kw_only=True)
class ClipChecked(Outcome):
    """Whether a clip (`id`: its link) is Ogg Opus at 48 kHz decoding to exactly 1 s."""


def check_clip(task: ClipCheck) -> ClipChecked:
    try:
        info = audio_info(task.path)
        if info.sample_rate_hz != 48000 or "OGG" not in info.format.upper():
            return ClipChecked(id=task.link, reason="bad_format",
                               detail=f"{info.format} at {info.sample_rate_hz} Hz, not Ogg Opus 48 kHz")
        count = len(load_audio(task.path, sample_rate_hz=16000))
        if count != 16000:
            return ClipChecked(id=task.link, reason="bad_duration",
                               detail=f"decodes to {count} samples at 16 kHz, not 16000")
        if task.wav_path is not None:
            wav = audio_info(task.wav_path)
            if wav.sample_rate_hz != 16000 or wav.num_samples != 16000:
                return ClipChecked(id=task.link, reason="bad_duration", detail=f"WAV has {wav.num_samples} "
                                   f"samples at {wav.sample_rate_hz} Hz, not 16000 at 16 kHz")
    except AudioError as error:
        return ClipChecked(id=task.link, reason="unreadable_clip", detail=f"{type(error).__name__}: {error.reason}")
    return ClipChecked(id=task.link, ok=True)


def safe_folder(name: str) -> bool:
    return (bool(name) and name not in (".", "..") and unicodedata.normalize("NFC", name) == name
            and not any(ch in "/\\\x00" or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name))


def validate_release(lang_dir: str | Path, language: str, *, engine=None, wav: bool | None = None,
                     progress: bool = False) -> tuple[list[dict], dict]:
    """(problems, counts) for the release in `lang_dir`; `engine` decodes the clips (None: in process)."""
    from corpus.engines import LocalEngine

    lang_dir = Path(lang_dir)
    problems: list[dict] = []

    def problem(item: str, reason: str, detail: str = "") -> None:
        problems.append({"item": item, "reason": reason, "detail": detail})

    try:
        rows = read_splits(lang_dir / f"{language}_splits.csv")
    except (MswcFormatError, OSError) as error:
        problem(f"{language}_splits.csv", "bad_splits_file", str(error))
        return problems, {"rows": 0, "clips": 0}
    counts = Counter(row.link for row in rows)
    for link, n in sorted(counts.items()):
        if n > 1:
            problem(link, "duplicate_link", f"{n} rows")
    for name in SETS:
        path = lang_dir / f"{language}_{name.lower()}.csv"
        expected = sorted((r.link, r.word, r.valid, r.speaker, r.gender) for r in rows if r.set == name)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as error:
            problem(path.name, "set_csv_mismatch", str(error))
            continue
        got = sorted((link, word, valid == "True", speaker, gender)
                     for link, word, valid, speaker, gender in csv.reader(lines[1:]))
        if lines[:1] != ["LINK,WORD,VALID,SPEAKER,GENDER"] or got != expected:
            problem(path.name, "set_csv_mismatch", f"{len(got)} rows, the splits file has {len(expected)} for {name}")
    wav = (lang_dir / "wav").is_dir() if wav is None else wav
    clips_dir = lang_dir / "clips"
    on_disk: set[str] = set()
    if clips_dir.is_dir():
        for folder in sorted(clips_dir.iterdir()):
            if not folder.is_dir():
                problem(folder.name, "extra_clip", "a file directly under clips/")
                continue
            if not safe_folder(folder.name):
                problem(folder.name, "unsafe_folder", "not NFC, or holds a separator, control character or '..'")
            entries = sorted(folder.iterdir())
            if not entries:
                problem(folder.name, "empty_folder", "no clips")
            for entry in entries:
                on_disk.add(f"{folder.name}/{entry.name}")
    else:
        problem("clips", "missing_clip", "no clips/ folder")
    linked = set(counts)
    for link in sorted(linked - on_disk):
        problem(link, "missing_clip", "row without its audio file")
    for link in sorted(on_disk - linked):
        problem(link, "extra_clip", "audio file without a row")
    tasks = []
    for link in sorted(linked & on_disk):
        wav_path = None
        if wav:
            wav_path = str(lang_dir / "wav" / (link[: -len(".opus")] + ".wav"))
        tasks.append(ClipCheck(link=link, path=str(clips_dir / link), wav_path=wav_path))
    engine = engine or LocalEngine(1)
    for result in engine.map(check_clip, tasks, desc="validate", unit="clip", progress=progress):
        if not result.ok:
            problem(result.id, result.reason, result.detail)
    try:
        meta = json.loads((lang_dir / "metadata.json").read_text(encoding="utf-8"))[language]
        names: dict[str, list[str]] = {}
        for row in rows:
            names.setdefault(row.word, []).append(row.link.split("/", 1)[1])
        if meta["wordcounts"] != {w: len(v) for w, v in sorted(names.items())} or \
                meta["filenames"] != {w: sorted(v) for w, v in sorted(names.items())} or \
                meta["number_of_words"] != len(names):
            problem("metadata.json", "metadata_mismatch", "word counts or file names differ from the splits")
        folders = {row.word: row.link.split("/", 1)[0] for row in rows}
        if meta.get("folders", folders) != dict(sorted(folders.items())):
            problem("metadata.json", "metadata_mismatch", "word -> folder mapping differs from the LINKs")
    except (OSError, KeyError, ValueError) as error:
        problem("metadata.json", "metadata_mismatch", f"unreadable: {error}")
    scores_path = lang_dir / f"{language}_scores.csv"
    if scores_path.exists():
        try:
            scores = read_scores(scores_path)
            if set(scores) != linked:
                problem(scores_path.name, "scores_mismatch",
                        f"{len(set(scores) - linked)} scored links without a row, {len(linked - set(scores))} rows "
                        "without a score")
        except (MswcFormatError, OSError) as error:
            problem(scores_path.name, "scores_mismatch", str(error))
    return problems, {"rows": len(rows), "clips": len(on_disk), "checked": len(tasks)}


def run_validate(ctx: Context) -> StageOutput:
    """The stage: every problem is reported (never stops the build); the release is valid without any."""
    problems, counts = validate_release(ctx.out_dir, ctx.source.language, engine=ctx.engine,
                                        wav=ctx.config.write_wav, progress=ctx.progress)
    for p in problems:
        ctx.problem(p["item"], p["reason"], p["detail"])
    bad_clips = {p["item"] for p in problems if p["reason"] in ("bad_duration", "unreadable_clip", "bad_format")}
    return StageOutput(count_in=counts["rows"], kept=counts.get("checked", 0) - len(bad_clips),
                       report={"valid": not problems, "clips_on_disk": counts["clips"]})
