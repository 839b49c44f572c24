"""People's Speech builder: the pure per-item stage functions on crafted input (fast, no training)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from corpus.peoples_speech.align_stage import (credible_timing, cue_confidence, fit_caption_timing, training_items,
                                                window_bound)
from corpus.peoples_speech.config import BuildConfig, subset_name
from corpus.peoples_speech.dedup import canonical_order, duplicate_groups, lsh_pairs, minhash, shingles
from corpus.peoples_speech.grade import cer, tier_of
from corpus.peoples_speech.ingest import IngestTask, ingest_item, read_captions
from corpus.peoples_speech.normalize import normalize_document, spell_number_en
from corpus.peoples_speech.recognize import RecognizerError, load_plugin, word_loop_decode
from corpus.peoples_speech.segment import SegmentParams, relative_floors, segment_document
from corpus.peoples_speech.split import split_of


def test_tiers_on_crafted_cer_values():
    assert [tier_of(v, 0.2, 0.38) for v in (0.0, 0.1999, 0.2, 0.3799, 0.38, 1.5)] == \
        ["clean", "clean", "noisy", "noisy", "dropped", "dropped"]
    assert cer("the cat", "the cat") == 0.0
    assert cer("the bat", "the cat") == pytest.approx(1 / 7)
    assert cer("", "abc") == 1.0 and cer("x", "") == 1.0
    with pytest.raises(ValueError):
        BuildConfig(clean_max_cer=0.5, noisy_max_cer=0.3)
    assert subset_name("clean", "cc-by-sa") == "clean_sa" and subset_name("noisy", "public-domain") == "noisy"


def test_normalize_policy():
    result = normalize_document([(0, 1, ">> ANNA: It costs $25 & 10% more [applause] on the 21st"),
                                 (1, 2, "♪ la la ♪"), (2, 3, "at 3.5 kg"), (3, 4, "(music)")], "en")
    assert result["words"] == ["it", "costs", "twenty", "five", "dollars", "and", "ten", "percent", "more", "on",
                               "the", "twenty", "first"]
    assert result["counts"]["annotations_removed"] == 3
    assert result["counts"]["cues_dropped_digits"] == 1
    assert spell_number_en(1999) == "one thousand nine hundred ninety nine"
    assert normalize_document([(0, 1, "Hola 5 amigos")], "es")["words"] == []


def _words(spec):
    """[(index, text, start, end, score)] from (start, end) pairs, indices consecutive."""
    return [[i, f"w{i}", s, e, 0.9] for i, (s, e) in enumerate(spec)]


def test_segment_cuts_at_pauses_skips_and_long_gaps():
    params = SegmentParams(max_utterance_s=15.0, min_utterance_s=1.0, max_gap_s=3.0, pad_s=0.15)
    # 40 words of 0.4 s with 0.1 s gaps, one longer pause (0.8 s) after word 19: 20 s in all
    spec, t = [], 0.0
    for i in range(40):
        spec.append((round(t, 3), round(t + 0.4, 3)))
        t += 0.5 + (0.7 if i == 19 else 0.0)
    utts, _ = segment_document("d", _words(spec), [], 30.0, params)
    assert all(u.end_s - u.start_s <= 15.0 for u in utts)
    assert utts[0].text.split()[-1] == "w19"  # the cut went into the longest pause
    assert " ".join(u.text for u in utts) == " ".join(f"w{i}" for i in range(40))  # never inside a word
    assert utts[0].audio_start_s == 0.0 and utts[0].audio_end_s == pytest.approx(utts[0].end_s + 0.15)
    # a skipped transcript word (index gap) and a > 3 s pause both end an utterance
    words = _words([(0, 0.5), (0.6, 1.1), (1.2, 1.7), (5.0, 5.5), (5.6, 6.1), (6.2, 6.8), (6.9, 7.5)])
    words[5][0] = 6  # word 5 of the transcript was not found
    words[6][0] = 7
    utts, counts = segment_document("d", words, [], 10.0, params)
    assert [u.text for u in utts] == ["w0 w1 w2", "w3 w4", "w5 w6"]  # cut at the 3.3 s pause and the skip
    assert counts["too_short"] == 0


def test_segment_leaves_out_stretched_words():
    # 'the' stretched over a jingle (1.2 s for 3 letters where this speech takes 0.1 s a letter)
    spec = [(0.0, 0.4), (0.5, 0.9), (1.0, 1.4), (1.5, 2.7), (6.0, 6.4), (6.5, 6.9), (7.0, 7.4)]
    words = [[i, "the" if i == 3 else "word", s, e, 0.9] for i, (s, e) in enumerate(spec)]
    utts, counts = segment_document("d", words, [], 10.0, SegmentParams(max_stretch=1.5))
    assert [u.text for u in utts] == ["word word word", "word word word"]
    assert counts["unreliable_words"] == 1
    assert utts[0].audio_end_s == pytest.approx(1.45)  # padding stops halfway to the word left out


def test_segment_counts():
    params = SegmentParams()
    words = _words([(0, 0.5), (0.6, 1.2), (5.0, 5.4), (5.5, 7.0), (7.1, 7.4)])
    words[4][0] = 9
    utts, counts = segment_document("d", words, [[0.0, 0.0]], 10.0, params)
    assert [u.text for u in utts] == ["w0 w1", "w2 w3"]
    assert counts["too_short"] == 1
    # untranscribed sound between two words ends the utterance
    utts, _ = segment_document("d", _words([(0, 0.6), (0.7, 1.3), (1.5, 2.1), (2.2, 2.8)]), [[1.35, 1.45]], 3, params)
    assert [u.text for u in utts] == ["w0 w1", "w2 w3"]


def test_segment_trims_edges_next_to_unplaced_or_unsure_words():
    # word 3 was skipped by the aligner: its true place is unknown and may touch w2's end or w4's start
    spec = [(0.0, 0.4), (0.5, 0.9), (1.0, 1.4), (1.5, 1.9), (2.0, 2.4), (2.5, 2.9), (3.0, 3.4), (3.5, 3.9)]
    words = [w for w in _words(spec) if w[0] != 3]
    utts, counts = segment_document("d", words, [], 10.0, SegmentParams(min_utterance_s=0.5))
    assert [u.text for u in utts] == ["w0 w1 w2", "w4 w5 w6 w7"]
    utts, counts = segment_document("d", words, [], 10.0, SegmentParams(min_utterance_s=0.5, trim_unsure_edges=True))
    assert [u.text for u in utts] == ["w0 w1", "w5 w6 w7"] and counts["edge_words_trimmed"] == 2
    assert utts[0].audio_end_s == pytest.approx(0.9)  # no padding towards the trimmed word (its time is suspect)
    assert utts[1].audio_start_s == pytest.approx(2.5) and utts[1].audio_end_s == pytest.approx(4.05)
    # a first or last word aligned with little confidence is trimmed too
    words = _words(spec)
    words[0][4] = words[7][4] = 0.55
    utts, counts = segment_document("d", words, [], 10.0, SegmentParams(edge_word_score=0.6))
    assert [u.text for u in utts] == [" ".join(f"w{i}" for i in range(1, 7))]


def test_segment_bridges_unsure_words_pinned_between_reliable_neighbours():
    # real voices: short function words placed right but with little confidence ('of' at 0.05)
    spec = [(0.0, 0.4), (0.5, 0.9), (1.0, 1.4), (1.4, 1.5), (1.5, 1.9), (2.0, 2.4), (2.5, 2.9), (3.0, 3.4)]
    words = _words(spec)
    words[3][4] = 0.05
    params = SegmentParams(min_word_score=0.25, max_word_s=0.4, min_utterance_s=1.0, trim_unsure_edges=True)
    cut, _ = segment_document("d", words, [], 10.0, params)
    assert [u.text for u in cut] == ["w5 w6 w7"]  # w2, w4 trimmed as unsure edges; "w0 w1" under 1 s
    bridged, counts = segment_document("d", words, [], 10.0, replace(params, bridge=True))
    assert [u.text for u in bridged] == [" ".join(f"w{i}" for i in range(8))]
    assert counts["unreliable_words_bridged"] == 1
    # not when the span between the neighbours could hide more than the word (here 1.6 s for 'w3')
    far = _words([(0.0, 0.4), (0.5, 0.9), (1.0, 1.4), (2.0, 2.1), (3.0, 3.4), (3.5, 3.9), (4.0, 4.4), (4.5, 4.9)])
    far[3][4] = 0.05
    utts, _ = segment_document("d", far, [], 10.0, replace(params, bridge=True))
    assert "w3" not in " ".join(u.text for u in utts)
    # nor at an utterance's edge: an unsure last word is left out (and w6 next to it trimmed as unsure)
    words[7][4] = 0.05
    utts, _ = segment_document("d", words, [], 10.0, replace(params, bridge=True))
    assert utts[0].text.split()[-1] == "w5"


def test_segment_clips_lengthened_phrase_final_words():
    # 0.1 s a letter; 'one' lengthened before a pause (0.65 s > 1.5 x 0.3 + 0.1), right against its neighbour
    spec = [(0.0, 0.4), (0.4, 0.8), (0.8, 1.2), (1.2, 1.85), (5.0, 5.4)]
    words = [[i, "one" if i == 3 else "word", s, e, 0.9] for i, (s, e) in enumerate(spec)]
    params = SegmentParams(max_stretch=1.5, max_word_s=0.4, min_utterance_s=0.5, trim_unsure_edges=True)
    utts, _ = segment_document("d", words, [], 10.0, params)
    assert utts[0].text == "word word"  # left out, and its neighbour trimmed as an unsure edge
    utts, _ = segment_document("d", words, [], 10.0, replace(params, lengthened_touch_s=0.2))
    assert utts[0].text == "word word word one" and utts[0].end_s == pytest.approx(1.2 + 0.55)
    # a word floating in a pause, away from both neighbours, stays out (misplaced, not lengthened)
    words[3][2:4] = [2.0, 2.65]
    utts, _ = segment_document("d", words, [], 10.0, replace(params, lengthened_touch_s=0.2))
    assert "one" not in " ".join(u.text for u in utts)


def test_documents_whose_typical_utterance_fails_are_mismatched():
    from corpus.peoples_speech.dataset_stages import _mismatched_documents
    from corpus.peoples_speech.records import Grade
    from corpus.peoples_speech.segment import Utterance

    cers = {"good": [0.0, 0.0, 0.5], "real": [0.3, 0.0, 0.84, 0.48, 0.0], "wrong": [0.26, 0.73, 0.88, 0.7]}
    utterances, grades = [], {}
    for doc, values in cers.items():
        for k, value in enumerate(values):
            uid = f"{doc}-{k}"
            utterances.append(Utterance(id=uid, document=doc, start_s=0, end_s=1, audio_start_s=0, audio_end_s=1,
                                        text="x", words=1, score=1.0, min_word_score=1.0))
            grades[uid] = Grade(id=uid, hypothesis="x", cer=value, tier=tier_of(value, 0.2, 0.38))
    assert _mismatched_documents(utterances, grades, 0.38) == {"wrong": 0.715}
    assert _mismatched_documents(utterances, grades, 0.0) == {}
    # two short chance matches among 40 placed words of a wrong text; the real voices keep 3 of 12
    from corpus.peoples_speech.dataset_stages import _thin_documents

    placed = {"good": 4, "real": 12, "wrong": 40}
    assert _thin_documents(utterances, grades, placed, 0.15) == {"wrong": 0.025}
    assert _thin_documents(utterances, grades, placed, 0.0) == {}


def test_build_config_aligner_choices():
    assert BuildConfig().aligner_init == "head_start"
    with pytest.raises(ValueError, match="aligner_init"):
        BuildConfig(aligner_init="pretrained")
    with pytest.raises(ValueError, match="adapt_rounds"):
        BuildConfig(adapt_rounds=0)


def test_dedup_finds_near_duplicates_and_keeps_canonical():
    rng = np.random.default_rng(0)
    vocab = [f"word{i}" for i in range(300)]
    base = [str(w) for w in rng.choice(vocab, 400)]
    near = base[5:] + ["extra", "words"]
    other = [str(w) for w in rng.choice(vocab, 400)]
    sigs = {d: minhash(shingles(w, 5), 128, 0) for d, w in (("a", base), ("b", near), ("c", other))}
    pairs = lsh_pairs(sigs, 32, 0.7)
    assert [(a, b) for a, b, _ in pairs] == [("a", "b")]
    docs = {"a": {"id": "a", "license": "cc-by-sa", "aligned_s": 100}, "b": {"id": "b", "license": "cc-by",
                                                                            "aligned_s": 90}}
    assert duplicate_groups(pairs, docs) == [["b", "a"]]  # the more permissive license is kept
    assert np.array_equal(minhash(shingles(base, 5), 128, 0), sigs["a"])  # pure: same input, same signature


def test_split_is_by_item_and_stable():
    splits = [split_of(f"item{i}", 0, (0.8, 0.1, 0.1)) for i in range(500)]
    assert set(splits) == {"train", "dev", "test"}
    assert 0.7 < splits.count("train") / 500 < 0.9
    assert splits == [split_of(f"item{i}", 0, (0.8, 0.1, 0.1)) for i in range(500)]


def test_caption_timing_fit_recovers_offset_and_drift():
    rng = np.random.default_rng(1)
    active = np.zeros(12000, bool)  # 120 s
    cues, t = [], 1.0
    while t < 110:
        length = float(rng.uniform(1.5, 4.0))
        active[int(t * 100):int((t + length) * 100)] = True
        cues.append((1.2 + (t) * 1.006, 1.2 + (t + length) * 1.006))
        t += length + float(rng.uniform(0.3, 1.0))
    offset, drift, _ = fit_caption_timing(active, cues)
    assert offset == pytest.approx(1.2, abs=0.1) and drift == pytest.approx(0.006, abs=0.0015)
    docs = [{"fit": 0.06, "offset_s": 0.5, "drift": 0.0}, {"fit": 0.05, "offset_s": 4.0, "drift": 0.0},
            {"fit": 0.01, "offset_s": 0.1, "drift": 0.0}]
    assert credible_timing(docs) == docs[:1]  # the second at the grid's edge, the third fits poorly
    assert window_bound(600, 1500, 30, 20) == 30 + 10 + 1


def test_word_loop_decoder_on_crafted_scores():
    # two one-state "words" (classes 0 and 1) and a pause (class 2); frames favour 0,0,2,1,1,0
    frames = [0, 0, 2, 1, 1, 0]
    scores = np.full((len(frames), 3), -10.0)
    scores[np.arange(len(frames)), frames] = 0.0
    cls = np.array([0, 1, 2])
    lp = np.log(np.full(3, 0.5))
    path = word_loop_decode(scores, cls, lp, lp, np.arange(3), np.arange(3), np.arange(3), np.full(3, -1.0),
                            np.zeros(4, np.int64), np.zeros(0, np.int64), np.zeros(0))
    assert list(path) == [0, 2, 1, 0]


def test_recognizer_plugins_load_by_name(tmp_path, monkeypatch):
    (tmp_path / "my_recognizer.py").write_text("def make(arg='x'):\n    return lambda samples, rate: arg\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_plugin("module:my_recognizer:make:hello")(np.zeros(10), 16000) == "hello"
    with pytest.raises(RecognizerError, match="cannot load"):
        load_plugin("module:no_such_module_here:make")
    with pytest.raises(RecognizerError):
        load_plugin("whisper")


def _item(root: Path, name: str, *, meta: dict | None = None, srt: str | None = "1\n00:00:00,500 --> 00:00:02,000\n"
          "hello there friend\n", audio_s: float = 3.0, audio_bytes: bytes | None = None, suffix: str = ".srt") -> Path:
    import soundfile as sf

    folder = root / name
    folder.mkdir(parents=True)
    if audio_bytes is not None:
        (folder / f"{name}.mp3").write_bytes(audio_bytes)
    elif audio_s:
        sf.write(folder / f"{name}.wav", np.zeros(int(audio_s * 16000), np.float32) + 0.01, 16000)
    if srt is not None:
        (folder / f"{name}{suffix}").write_text(srt, encoding="utf-8")
    if meta is not False:
        metadata = {"identifier": name, "mediatype": "audio", "title": name, "creator": "me",
                    "licenseurl": "https://creativecommons.org/licenses/by/4.0/"}
        metadata.update(meta or {})
        (folder / f"{name}_metadata.json").write_text(json.dumps({"metadata": metadata}))
    return folder


@pytest.mark.parametrize("case, reason", [
    ("missing_metadata", "missing_metadata"), ("bad_json", "bad_metadata"), ("nc_license", "license_other"),
    ("no_license", "license_unknown"), ("undecodable", "undecodable_audio"), ("empty_audio", "zero_length_audio"),
    ("empty_captions", "empty_captions"), ("malformed", "malformed_captions"), ("few_words", "too_little_text"),
    ("no_captions", "missing_captions"),
])
def test_ingest_reports_each_bad_input_by_item_and_reason(tmp_path, case, reason):
    if case == "missing_metadata":
        folder = _item(tmp_path, "x", meta=False)
    elif case == "bad_json":
        folder = _item(tmp_path, "x")
        (folder / "x_metadata.json").write_text("{not json")
    elif case == "nc_license":
        folder = _item(tmp_path, "x", meta={"licenseurl": "http://creativecommons.org/licenses/by-nc/3.0/"})
    elif case == "no_license":
        folder = _item(tmp_path, "x", meta={"licenseurl": ""})
    elif case == "undecodable":
        folder = _item(tmp_path, "x", audio_bytes=b"ID3 this is not an mp3" * 50)
    elif case == "empty_audio":
        folder = _item(tmp_path, "x", audio_bytes=b"")
    elif case == "empty_captions":
        folder = _item(tmp_path, "x", srt="")
    elif case == "malformed":
        folder = _item(tmp_path, "x", srt="1\n00:00:05,000 --> 00:00:01,000\nbackwards cue\n")
    elif case == "few_words":
        folder = _item(tmp_path, "x", audio_s=120.0, srt="1\n00:00:00,500 --> 00:00:02,000\nhi\n")
    else:
        folder = _item(tmp_path, "x", srt=None)
    result = ingest_item(IngestTask(item_dir=str(folder), language="en", min_words_per_audio_min=5, min_audio_s=1))
    assert result["documents"] == []
    assert [p["reason"] for p in result["problems"]] == [reason]
    assert result["problems"][0]["item"] == "x" and result["problems"][0]["detail"]


def test_ingest_pairs_several_files_and_reads_vtt(tmp_path):
    import soundfile as sf

    folder = _item(tmp_path, "show", srt=None, audio_s=0)
    for stem in ("part1", "part2"):
        sf.write(folder / f"{stem}.flac", np.zeros(48000, np.float32) + 0.01, 16000)
    (folder / "part1.srt").write_text("1\n00:00:00,500 --> 00:00:02,000\none two three four five six\n")
    (folder / "part2.vtt").write_text("WEBVTT\n\nNOTE a comment\n\ncue-1\n00:00.500 --> 00:02.000 align:start\n"
                                      "seven eight nine ten eleven twelve\n")
    result = ingest_item(IngestTask(item_dir=str(folder), language="en", min_words_per_audio_min=5, min_audio_s=1))
    assert [d["id"] for d in result["documents"]] == ["show__part1", "show__part2"]
    assert result["documents"][1]["cues"] == [[0.5, 2.0, "seven eight nine ten eleven twelve"]]
    cues, problems = read_captions(folder / "part2.vtt")
    assert len(cues) == 1 and not problems


def test_grade_with_a_plugin_recognizer_normalizes_its_output(tmp_path, monkeypatch):
    import soundfile as sf

    from corpus.peoples_speech.grade import GradeTask, grade_document

    (tmp_path / "shouting_asr.py").write_text(
        "def make():\n    return lambda samples, rate: 'IT COSTS 25 DOLLARS!' if len(samples) > 16000 else 'NO'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sf.write(tmp_path / "a.wav", np.zeros(48000, np.float32), 16000)
    task = GradeTask(id="doc", audio_path=str(tmp_path / "a.wav"), document_words=(),
                     utterances=(("u1", 0.0, 2.0, "it costs twenty five dollars"), ("u2", 2.0, 2.5, "yes")),
                     recognizer="module:shouting_asr:make", model_dir="", clean_max_cer=0.2, noisy_max_cer=0.38)
    result = grade_document(task)
    assert result["ok"], result["detail"]
    assert [(g["hypothesis"], g["cer"], g["tier"]) for g in result["grades"]] == [
        ("it costs twenty five dollars", 0.0, "clean"), ("no", 1.0, "dropped")]


def test_confidence_floors_follow_the_documents_median():
    params = SegmentParams(min_word_score=0.25, edge_word_score=0.4, typical_score=0.85)
    assert relative_floors([0.9, 0.95, 0.7], params) == params  # a confident document: the floors as set
    low = relative_floors([0.3, 0.425, 0.5], params)  # a real voice the aligner knows less: median 0.425
    assert low.min_word_score == pytest.approx(0.25 * 0.25) and low.edge_word_score == pytest.approx(0.4 * 0.25)
    # the same words cut into fragments with absolute floors stay one utterance with relative ones
    spec = [(0.5 * i, 0.5 * i + 0.4) for i in range(8)]
    words = [[i, f"w{i}", a, b, 0.2 if i % 3 == 1 else 0.45] for i, (a, b) in enumerate(spec)]
    absolute, _ = segment_document("d", words, [], 10.0, replace(params, typical_score=0.0))
    relative, _ = segment_document("d", words, [], 10.0, params)
    assert len(relative) == 1 and relative[0].words == 8 and sum(u.words for u in absolute) < 8


def test_adaptation_cues_fixed_budget_most_confident_documents_take_turns():
    def doc(name: str, n: int, confidence: list[float]) -> dict:
        cues = [(10.0 * k, 10.0 * k + 3.0, "x") for k in range(n)]
        return {"id": name, "audio_path": f"{name}.mp3", "duration_s": 10.0 * n, "cues": cues,
                "words": tuple(f"w{k}" for k in range(n)), "word_cue": tuple(range(n)), "offset_s": 0.0,
                "drift": 0.0, "fit": 0.1, "cue_confidence": tuple(confidence)}

    docs = [doc("a", 20, [0.1 * (k % 10) for k in range(20)]), doc("b", 3, [0.5, 0.9, 0.2])]
    items = training_items(docs, pad_s=0.5, max_items=1000, seed=0, max_seconds=15.0)  # 3.5-4 s a cue
    assert [it.id for it in items] == ["a#00009", "a#00019", "b#00000", "b#00001"]  # the two best of each
    assert training_items(docs, pad_s=0.5, max_items=1000, seed=0, max_seconds=15.0) == items
    assert len(training_items(docs, pad_s=0.5, max_items=1000, seed=0)) == 23  # no budget: every cue
    # confidence: speech inside the mapped cue, quiet just outside it
    active = np.zeros(1000, bool)
    active[100:300] = True
    good, cut, empty = cue_confidence(active, [(1.0, 3.0), (2.0, 2.5), (5.0, 6.0)], 0.0, 0.0)
    assert good == pytest.approx(1.0) and cut == pytest.approx(0.0) and empty == pytest.approx(0.0)


def test_dedup_keeps_the_longest_recording_of_a_license():
    docs = {"orig": {"id": "orig", "license": "cc-by", "duration_s": 121.7, "aligned_s": 60.0},
            "reup": {"id": "reup", "license": "cc-by", "duration_s": 119.2, "aligned_s": 64.0}}
    assert sorted(docs, key=lambda d: canonical_order(docs[d])) == ["orig", "reup"]
