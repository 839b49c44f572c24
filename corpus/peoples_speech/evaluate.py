"""Scoring a build against synthetic truth (`python -m corpus synth-ia` writes DIR/synthetic_truth.jsonl.gz).

- boundary error: per utterance, |start - true start of its first word| and |end - true end of its last
  word| (ms); words are matched to the truth by their position in the document (caption words and
  truth words are the same sequence for correct captions; difflib aligns them where cues differ);
- words in the wrong utterance: truth words whose midpoint lies inside an utterance that does not hold
  them, or held by an utterance whose span does not contain their midpoint; over all utterance words;
- exact text: an utterance's text equals the normalized truth words inside its audio span;
- bad transcripts: documents with planted other-language / other-item / annotation-only captions;
  recall = the share of them with no utterance kept; good dropped = correct documents with none kept.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from corpus.manifest import read_jsonl
from corpus.peoples_speech.normalize import normalize_document

__all__ = ["score_build"]


def _truth_words(record: dict[str, Any], language: str) -> list[tuple[str, float, float]]:
    out = []
    for sentence in record["sentences"]:
        for word in sentence["words"]:
            for w in normalize_document([(0, 0, word["text"])], language)["words"]:
                out.append((w, word["start_s"], word["end_s"]))
    return out


def score_build(out: str | Path, items: str | Path, language: str) -> dict[str, Any]:
    out, items = Path(out), Path(items)
    truth = {r["identifier"]: r for r in read_jsonl(items / "synthetic_truth.jsonl.gz")}
    words = {n["id"]: n["words"] for n in read_jsonl(out / ".work" / "normalize" / "words.jsonl.gz")}
    graded = list(read_jsonl(out / ".work" / "grade" / "graded.jsonl.gz"))
    rows = list(read_jsonl(out / ".work" / "split" / "rows.jsonl.gz"))
    by_doc: dict[str, list[dict]] = defaultdict(list)
    for g in graded:
        by_doc[g["document"]].append(g)
    errors_ms, wrong, total_words, exact, clean = [], 0, 0, 0, 0
    for doc, utterances in by_doc.items():
        if doc not in truth or truth[doc]["faults"]["bad_transcript"]:
            continue
        true_words = _truth_words(truth[doc], language)
        matcher = difflib.SequenceMatcher(a=words[doc], b=[w for w, _, _ in true_words], autojunk=False)
        index_to_truth = {}
        for block in matcher.get_matching_blocks():
            for k in range(block.size):
                index_to_truth[block.a + k] = block.b + k
        position = 0
        for u in utterances:
            span = list(range(u["first_word"], u["last_word"] + 1))
            idx = [index_to_truth.get(i) for i in span]
            if idx and idx[0] is not None and idx[-1] is not None:
                errors_ms.append(abs(u["start_s"] - true_words[idx[0]][1]) * 1000)
                errors_ms.append(abs(u["end_s"] - true_words[idx[-1]][2]) * 1000)
            held = {i for i in idx if i is not None}
            for i in held:
                mid = (true_words[i][1] + true_words[i][2]) / 2
                wrong += not (u["audio_start_s"] <= mid <= u["audio_end_s"])
            inside = [k for k, (_, a, b) in enumerate(true_words) if u["audio_start_s"] <= (a + b) / 2 <= u["audio_end_s"]]
            wrong += sum(k not in held for k in inside)
            total_words += len(span)
            if u["tier"] == "clean":
                clean += 1
                exact += u["text"] == " ".join(true_words[k][0] for k in inside)
            position += 1
    kept_docs = {r["document"] for r in rows}
    bad = [d for d, r in truth.items() if r["faults"]["bad_transcript"]]
    good = [d for d, r in truth.items() if not r["faults"]["bad_transcript"] and not r["faults"]["duplicate_of"]]
    return {
        "boundary_mae_ms": round(float(np.mean(errors_ms)), 1) if errors_ms else None,
        "boundary_within_40ms": round(float(np.mean(np.array(errors_ms) <= 40)), 3) if errors_ms else None,
        "words_in_wrong_utterance": round(wrong / max(1, total_words), 4),
        "bad_transcript_recall": round(sum(d not in kept_docs for d in bad) / len(bad), 3) if bad else None,
        "bad_documents": len(bad),
        "good_dropped_rate": round(sum(d not in kept_docs for d in good) / len(good), 3) if good else None,
        "good_utterances_dropped_rate": round(sum(g["tier"] == "dropped" for d in good for g in by_doc.get(d, []))
                                              / max(1, sum(len(by_doc.get(d, [])) for d in good)), 3),
        "clean_precision": round(exact / clean, 3) if clean else None,
        "clean_utterances": clean,
    }
