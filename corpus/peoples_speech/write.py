"""Stage 7b, write: the dataset in the formats users load.

    OUT/audio/<split>/<item>/<utterance id>.flac      16 kHz mono 16-bit FLAC per utterance
    OUT/<subset>/<split>/nemo_manifest.jsonl          NeMo: audio_filepath (relative to OUT), text, duration
    OUT/<subset>/<split>/recordings.jsonl.gz          lhotse-style `corpus.manifest.Recording` per FLAC
    OUT/<subset>/<split>/supervisions.jsonl.gz        `Supervision` (text, language, speaker = document,
                                                     custom: cer, tier, license, source_item, document span)
    OUT/<subset>/<split>/data.parquet                 Hugging Face style: id, audio {bytes, path},
                                                     duration_ms, text, cer, tier, license, source_item
    OUT/shards/<subset>/<split>-NNNNN.tar             optional: ~shard_bytes each, <id>.flac + <id>.json
    OUT/credits.csv                                   item id, title, creator, license URL (attribution)

Subsets are the People's Speech's: clean, clean_sa, noisy, noisy_sa (sa: CC-BY-SA documents).
Every file is written atomically and deterministically (sorted rows, fixed tar metadata, no times).
"""

from __future__ import annotations

import csv
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from corpus.fsutil import atomic_open, atomic_path
from corpus.manifest import Recording, Supervision, write_manifest

__all__ = ["FlacTask", "write_flacs", "write_nemo", "write_lhotse", "write_parquet", "write_shards",
           "write_credits", "SAMPLE_RATE_HZ"]

SAMPLE_RATE_HZ = 16000


@dataclass(frozen=True, kw_only=True)
class FlacTask:
    id: str                                             # document id
    audio_path: str
    out_root: str
    utterances: tuple[tuple[str, float, float, str], ...]  # (utterance id, audio_start_s, audio_end_s, rel path)


def write_flacs(task: FlacTask) -> dict[str, Any]:
    """Cut and write one document's utterances; {"id", "ok", "detail", "files": {utt id: num_samples}}."""
    import soundfile as sf

    from corpus.audio import to_int16
    from corpus.peoples_speech.grade import iter_spans

    out: dict[str, Any] = {"id": task.id, "ok": False, "detail": "", "files": {}}
    try:
        spans = [(a, b) for _, a, b, _ in task.utterances]
        for (uid, _, _, rel), samples in zip(task.utterances, iter_spans(task.audio_path, spans)):
            path = Path(task.out_root) / rel
            with atomic_path(path) as tmp:
                sf.write(tmp, to_int16(samples), SAMPLE_RATE_HZ, format="FLAC", subtype="PCM_16")
            out["files"][uid] = int(len(samples))
    except Exception as error:  # noqa: BLE001 - reported per document
        out["detail"] = f"{type(error).__name__}: {error}"
        return out
    out["ok"] = True
    return out


def write_nemo(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with atomic_open(path, "w") as handle:
        for row in rows:
            handle.write(json.dumps({"audio_filepath": row["audio_filepath"], "text": row["text"],
                                     "duration": row["duration_s"]}, ensure_ascii=False) + "\n")


def write_lhotse(folder: Path, rows: Sequence[dict[str, Any]], language: str) -> None:
    recordings = [Recording(id=r["id"], path=r["audio_filepath"], sample_rate_hz=SAMPLE_RATE_HZ,
                            num_samples=r["num_samples"]) for r in rows]
    supervisions = [Supervision(id=r["id"], recording_id=r["id"], start_s=0.0,
                                duration_s=r["num_samples"] / SAMPLE_RATE_HZ, text=r["text"], language=language,
                                speaker=r["document"],
                                custom={"cer": r["cer"], "tier": r["tier"], "license": r["license"],
                                        "source_item": r["item"], "document_start_s": r["audio_start_s"],
                                        "split": r["split"], "subset": r["subset"]})
                    for r in rows]
    write_manifest(folder / "recordings.jsonl.gz", recordings)
    write_manifest(folder / "supervisions.jsonl.gz", supervisions)


def write_parquet(path: Path, rows: Sequence[dict[str, Any]], out_root: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    audio_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    table = pa.table({
        "id": pa.array([r["id"] for r in rows], pa.string()),
        "audio": pa.array([{"bytes": (out_root / r["audio_filepath"]).read_bytes(), "path": r["audio_filepath"]}
                           for r in rows], audio_type),
        "duration_ms": pa.array([int(round(r["num_samples"] * 1000 / SAMPLE_RATE_HZ)) for r in rows], pa.int64()),
        "text": pa.array([r["text"] for r in rows], pa.string()),
        "cer": pa.array([float(r["cer"]) for r in rows], pa.float32()),
        "tier": pa.array([r["tier"] for r in rows], pa.string()),
        "license": pa.array([r["license_url"] for r in rows], pa.string()),
        "source_item": pa.array([r["item"] for r in rows], pa.string()),
    })
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", write_statistics=False)


def _tar_add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uname = info.gname = ""
    archive.addfile(info, io.BytesIO(data))


def write_shards(folder: Path, prefix: str, rows: Sequence[dict[str, Any]], out_root: Path, shard_bytes: int
                 ) -> list[str]:
    """WebDataset-style tar shards of about `shard_bytes` each; returns their names."""
    names: list[str] = []
    batch: list[dict[str, Any]] = []
    size = 0

    def flush() -> None:
        nonlocal batch, size
        if not batch:
            return
        name = f"{prefix}-{len(names):05d}.tar"
        with atomic_path(folder / name) as tmp:
            with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as archive:
                for row in batch:
                    _tar_add(archive, f"{row['id']}.flac", (out_root / row["audio_filepath"]).read_bytes())
                    meta = {"text": row["text"], "duration": row["duration_s"], "cer": row["cer"],
                            "tier": row["tier"], "license": row["license_url"], "source_item": row["item"]}
                    _tar_add(archive, f"{row['id']}.json", json.dumps(meta, sort_keys=True).encode("utf-8"))
        names.append(name)
        batch, size = [], 0

    for row in rows:
        row_bytes = (out_root / row["audio_filepath"]).stat().st_size + 1536
        if batch and size + row_bytes > shard_bytes:
            flush()
        batch.append(row)
        size += row_bytes
    flush()
    return names


def write_credits(path: Path, documents: Sequence[dict[str, Any]]) -> None:
    """One row per source item that contributed utterances: identifier, title, creator, license URL."""
    seen: dict[str, dict[str, Any]] = {}
    for doc in documents:
        seen.setdefault(doc["item"], doc)
    with atomic_open(path, "w") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["item_id", "title", "creator", "license_url"])
        for item in sorted(seen):
            doc = seen[item]
            writer.writerow([item, doc["title"], doc["creator"], doc["license_url"]])
