"""Shared helpers for the MSWC builder tests (imported by the other test_mswc_* modules), and their tests.

`synthetic_cv` writes a small synthetic Common Voice tree once per test session (cached in the
session's temp folder with a file lock, so xdist workers and modules reuse it); `built_release` the
local build of it that several tests compare against.
`truth_textgrids` writes the TextGrids a perfect forced aligner would: word times from the synthetic
ground truth (spoken words; a silent clip gets none), for the builder's TextGrid import path.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import soundfile as sf

from corpus.audio import save_audio
from corpus.demo.common_voice import SynthCVConfig, synth_common_voice
from corpus.formats.textgrid import read_textgrid, word_intervals, write_textgrid
from corpus.manifest import read_jsonl

SMALL = SynthCVConfig(language="lg", sentences=60, speakers=10, seed=5, wrong_transcript_share=0.05,
                      silent_clip_share=0.05, corrupt_clips=2, odd_unicode_share=0.05, hostile_word_share=0.1)


def synthetic_cv(tmp_path_factory, config: SynthCVConfig = SMALL) -> Path:
    """The language folder of a synthetic Common Voice tree for `config`, made once per session."""
    key = hashlib.sha1(json.dumps(asdict(config), sort_keys=True, default=str).encode()).hexdigest()[:12]
    # xdist workers' temp folders share this session's parent; without xdist the session's own folder
    # (never the parent: that one outlives the session, and a cached build must not outlive the code)
    session = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        session = session.parent
    root = session / "mswc-cv-cache" / key
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = root / "done"
        if not done.exists():
            lang_dir = synth_common_voice(config, root / "cv", jobs=2, progress=False)
            truth_textgrids(lang_dir, root / "textgrids")
            if config == SMALL:
                plant_tsv_faults(lang_dir, root / "textgrids")
            done.write_text(str(lang_dir))
        return Path(done.read_text())


REPEATED_ID = "common_voice_lg_29999999"  # two sentences spoken in one clip, sharing a word
PLANTED = {  # item in report.json -> reason, for the rows plant_tsv_faults appends
    "validated.tsv:LINE_SHORT": "bad_tsv_row", "validated.tsv:LINE_EMPTY": "bad_tsv_row",
    "validated.tsv:LINE_PATH": "bad_tsv_row", "common_voice_lg_29999990": "unreadable_audio",
    "common_voice_lg_29999991": "digits", "common_voice_lg_29999992": "no_words",
}


def plant_tsv_faults(lang_dir: Path, textgrids: Path) -> None:
    """Rows real releases get wrong, appended to validated.tsv, plus one clip with a repeated word.

    A short row, an empty sentence, a path with a folder in it, a clip that does not exist, a sentence
    with digits, one of punctuation only, a row listed twice; and `REPEATED_ID`: two clips sharing a
    keyword, concatenated (audio, transcript and TextGrid), so that keyword occurs twice in one clip.
    """
    tsv = lang_dir / "validated.tsv"
    lines = tsv.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"))) for line in lines[1:]]
    truth = {r["path"]: r for r in read_jsonl(lang_dir / "synthetic_truth.jsonl.gz")}
    clean = [r for r in rows if not truth[r["path"]]["faults"]]

    def line(row: dict) -> str:
        return "\t".join(row.get(name, "") for name in header)

    first, pair = None, None
    for a in clean:
        words_a = {w.strip(".,").lower() for w in a["sentence"].split() if len(w.strip(".,")) >= 5}
        for b in clean:
            if b is not a and words_a & {w.strip(".,").lower() for w in b["sentence"].split()}:
                first, pair = a, b
                break
        if first:
            break
    audio_a, rate = sf.read(lang_dir / "clips" / first["path"], dtype="float32")
    audio_b, _ = sf.read(lang_dir / "clips" / pair["path"], dtype="float32")
    save_audio(lang_dir / "clips" / f"{REPEATED_ID}.mp3", np.concatenate([audio_a, audio_b]), rate)
    offset = len(audio_a) / rate
    words = [(w["start_s"], w["end_s"], w["text"]) for w in truth[first["path"]]["words"]]
    words += [(w["start_s"] + offset, w["end_s"] + offset, w["text"]) for w in truth[pair["path"]]["words"]]
    write_textgrid(textgrids / f"{REPEATED_ID}.TextGrid", {"words": words}, offset + len(audio_b) / rate)
    donor = clean[0]
    for n in (1, 2):
        shutil.copy(lang_dir / "clips" / donor["path"], lang_dir / "clips" / f"common_voice_lg_2999999{n}.mp3")
    extra = [
        "short\trow",
        line({**donor, "path": "common_voice_lg_29999993.mp3", "sentence": ""}),
        line({**donor, "path": "../common_voice_lg_29999994.mp3"}),
        line({**donor, "path": "common_voice_lg_29999990.mp3"}),
        line({**donor, "path": "common_voice_lg_29999991.mp3", "sentence": "Omwana alina ente 3."}),
        line({**donor, "path": "common_voice_lg_29999992.mp3", "sentence": "... !!! ,,,"}),
        line(donor),
        line({**first, "path": f"{REPEATED_ID}.mp3", "sentence": first["sentence"] + " " + pair["sentence"]}),
    ]
    numbers = {"LINE_SHORT": len(lines) + 1, "LINE_EMPTY": len(lines) + 2, "LINE_PATH": len(lines) + 3}
    (lang_dir / "planted.json").write_text(json.dumps(
        {k.replace("LINE_SHORT", str(numbers["LINE_SHORT"])).replace("LINE_EMPTY", str(numbers["LINE_EMPTY"]))
         .replace("LINE_PATH", str(numbers["LINE_PATH"])): v for k, v in PLANTED.items()}
        | {donor["path"][:-4]: "duplicate_clip"}, indent=1))
    tsv.write_text("\n".join(lines + extra) + "\n", encoding="utf-8")


def planted(lang_dir: Path) -> dict[str, str]:
    return json.loads((lang_dir / "planted.json").read_text())


def test_config(lang_dir: Path):
    from corpus.mswc import BuildConfig

    return BuildConfig(aligner="textgrid", textgrids=str(textgrids_of(lang_dir)), min_clips=3, alphabet_min_count=2)


test_config.__test__ = False  # a helper, not a test


def built_release(tmp_path_factory, lang_dir: Path) -> Path:
    """The release `build_mswc` makes from `lang_dir` with `test_config` on the local engine, built once
    per session and machine. Tests must not modify it (copy it first)."""
    from corpus.mswc import build_mswc

    root = lang_dir.parents[2]
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = root / "built.done"
        if not done.exists():
            shutil.rmtree(root / "built", ignore_errors=True)
            build_mswc(lang_dir, "lg", root / "built", test_config(lang_dir), jobs=2, progress=False)
            done.write_text("ok")
        return root / "built" / "lg"


def textgrids_of(lang_dir: Path) -> Path:
    return lang_dir.parents[2] / "textgrids"


def truth_textgrids(lang_dir: Path, out: Path) -> Path:
    """`<clip id>.TextGrid` per validated, decodable clip with the spoken words' true times."""
    out.mkdir(parents=True, exist_ok=True)
    for record in read_jsonl(lang_dir / "synthetic_truth.jsonl.gz"):
        if record["tsv"] != "validated" or "corrupt_clip" in record["faults"]:
            continue
        words = [(w["start_s"], w["end_s"], w["text"]) for w in record["words"]]
        write_textgrid(out / (Path(record["path"]).stem + ".TextGrid"), {"words": words}, record["duration_s"])
    return out


def release_files(lang_dir: Path) -> dict[str, bytes]:
    """Every file of a built release except the work folder, as {relative path: bytes}."""
    return {p.relative_to(lang_dir).as_posix(): p.read_bytes() for p in sorted(lang_dir.rglob("*"))
            if p.is_file() and ".work" not in p.relative_to(lang_dir).parts}


def test_truth_textgrids_hold_the_spoken_words(tmp_path_factory):
    lang_dir = synthetic_cv(tmp_path_factory)
    grids = sorted(textgrids_of(lang_dir).glob("*.TextGrid"))
    truth = {Path(r["path"]).stem: r for r in read_jsonl(lang_dir / "synthetic_truth.jsonl.gz")}
    assert len(grids) == 1 + sum(r["tsv"] == "validated" and "corrupt_clip" not in r["faults"] for r in truth.values())
    for grid in [g for g in grids if g.stem != REPEATED_ID][:10]:
        words = word_intervals(read_textgrid(grid))
        assert [w[2] for w in words] == [w["text"] for w in truth[grid.stem]["words"]]
