"""`--backend mfa`: run an installed Montreal Forced Aligner on the items and read its TextGrids.

MFA needs Kaldi binaries that pip cannot install, so it is never a dependency: the backend looks for
`mfa` on PATH and, when it is missing, says how to get it (conda). With it, the items are written as an
MFA corpus folder (each audio file, or its span cut to a WAV, beside a `.lab` transcript of its
normalized words), then either

- `mfa align CORPUS DICTIONARY ACOUSTIC_MODEL OUT` when an acoustic model is given, or
- `mfa train CORPUS DICTIONARY MODEL.zip --output_directory OUT`, training on the corpus itself as
  MSWC did, when none is given;

with a grapheme dictionary (`word<TAB>g r a p h e m e s`) written from the items when no dictionary is
given. The TextGrids MFA writes are read back (`corpus.formats.textgrid`) into `AlignResult`s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

from corpus.align.lexicon import graphemes
from corpus.align.types import AlignError, AlignItem, AlignResult
from corpus.audio import AudioError, load_audio, save_audio
from corpus.fsutil import atomic_write_text
from corpus.formats.textgrid import TextGridError, labelled, read_textgrid, word_intervals
from corpus.manifest import AlignedWord, Alignment

__all__ = ["MfaNotFound", "MFA_INSTALL_HINT", "find_mfa", "write_mfa_corpus", "grapheme_dictionary", "run_mfa",
           "results_from_textgrids"]

MFA_INSTALL_HINT = (
    "the Montreal Forced Aligner command `mfa` is not on PATH. MFA needs Kaldi binaries that pip cannot "
    "install; install it with conda: `conda create -n mfa -c conda-forge montreal-forced-aligner`, then "
    "`conda activate mfa` and rerun this command in that environment (see "
    "https://montreal-forced-aligner.readthedocs.io/en/latest/installation.html). The built-in aligner "
    "(`--backend builtin`, the default) needs nothing beyond pip.")


class MfaNotFound(AlignError):
    pass


def find_mfa() -> str:
    path = shutil.which("mfa")
    if path is None:
        raise MfaNotFound(MFA_INSTALL_HINT)
    return path


def _corpus_name(item_id: str) -> str:
    return item_id.replace("\\", "_").strip("/") or "item"


def write_mfa_corpus(items: Sequence[AlignItem], folder: Path) -> tuple[dict[str, Path], list[AlignResult]]:
    """Audio + .lab per item; returns (id -> relative stem, results for items that could not be written)."""
    folder.mkdir(parents=True, exist_ok=True)
    stems: dict[str, Path] = {}
    failed = []
    for item in items:
        if not item.words:
            failed.append(AlignResult(id=item.id, alignment=None, error="empty transcript: nothing to align"))
            continue
        stem = Path(_corpus_name(item.id))
        if ".." in stem.parts:
            failed.append(AlignResult(id=item.id, alignment=None, error=f"unsafe item id {item.id!r}"))
            continue
        target = folder / stem
        target.parent.mkdir(parents=True, exist_ok=True)
        source = Path(item.audio_path)
        try:
            if item.start_s or item.duration_s is not None:
                samples = load_audio(source, start_s=item.start_s, duration_s=item.duration_s)
                save_audio(target.with_suffix(".wav"), samples, 16000)
            else:
                link = target.with_suffix(source.suffix.lower())
                if link.is_symlink() or link.exists():
                    link.unlink()
                os.symlink(source.resolve(), link)
        except (AudioError, OSError) as error:
            failed.append(AlignResult(id=item.id, alignment=None, error=f"audio: {error}"))
            continue
        atomic_write_text(target.with_suffix(".lab"), " ".join(item.words) + "\n")
        stems[item.id] = stem
    return stems, failed


def grapheme_dictionary(items: Sequence[AlignItem], path: Path) -> Path:
    """MFA dictionary spelling every word as its graphemes (MSWC's 'graphemes as phones')."""
    words = sorted({w for item in items for w in item.words})
    lines = [f"{w}\t{' '.join(g for g in graphemes(w) if not g.isspace())}" for w in words]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def results_from_textgrids(items: Sequence[AlignItem], stems: dict[str, Path], out_dir: Path) -> list[AlignResult]:
    results = []
    for item in items:
        if item.id not in stems:
            continue
        grid = out_dir / stems[item.id].with_suffix(".TextGrid")
        if not grid.is_file():
            results.append(AlignResult(id=item.id, alignment=None,
                                       error="MFA wrote no TextGrid for this item (it could not align it)"))
            continue
        try:
            tiers = read_textgrid(grid)
            words = word_intervals(tiers)
            phone_tier = next((n for n in tiers if n.lower() == "phones" or n.lower().endswith(" - phones")), None)
            phones = labelled(tiers[phone_tier]) if phone_tier else []
        except TextGridError as error:
            results.append(AlignResult(id=item.id, alignment=None, error=f"MFA output: {error}"))
            continue
        shift = item.start_s
        alignment = Alignment(
            id=item.id, recording_id=item.id,
            words=tuple(AlignedWord(text=t, start_s=round(a + shift, 4), duration_s=round(b - a, 4))
                        for a, b, t in words),
            units=tuple(AlignedWord(text=t, start_s=round(a + shift, 4), duration_s=round(b - a, 4))
                        for a, b, t in phones if t not in ("sil", "sp", "spn")),
            custom={"backend": "mfa", "mismatch": False})
        results.append(AlignResult(id=item.id, alignment=alignment))
    return results


def run_mfa(items: Sequence[AlignItem], work_dir: str | os.PathLike[str], *, dictionary: str | None = None,
            acoustic_model: str | None = None, jobs: int = 2, extra_args: Sequence[str] = ()) -> list[AlignResult]:
    """Align `items` with an installed MFA; results in input order. Raises MfaNotFound without `mfa`."""
    mfa = find_mfa()
    work = Path(work_dir)
    corpus, out = work / "mfa_corpus", work / "mfa_output"
    stems, failed = write_mfa_corpus(items, corpus)
    dict_path = dictionary or str(grapheme_dictionary([i for i in items if i.id in stems], work / "graphemes.dict"))
    if acoustic_model:
        command = [mfa, "align", str(corpus), dict_path, acoustic_model, str(out)]
    else:
        command = [mfa, "train", str(corpus), dict_path, str(work / "mfa_acoustic_model.zip"), "--output_directory",
                   str(out)]
    command += ["-j", str(jobs), "--clean", *extra_args]
    process = subprocess.run(command, capture_output=True, text=True)
    if process.returncode != 0:
        tail = (process.stderr or process.stdout).strip().splitlines()[-15:]
        raise AlignError(f"`{' '.join(command[:2])}` failed with exit code {process.returncode}:\n" + "\n".join(tail))
    by_id = {r.id: r for r in [*results_from_textgrids(items, stems, out), *failed]}
    return [by_id[item.id] for item in items]
