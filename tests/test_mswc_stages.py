"""MSWC builder stages one at a time, on small hand-made inputs (fast: no espeak, no Spark)."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from corpus.audio import audio_info, load_audio, save_audio
from corpus.formats.mswc import MswcClip, read_scores, read_splits, write_metadata, write_scores, write_splits
from corpus.formats.textgrid import write_textgrid
from corpus.manifest import Alignment, Supervision
from corpus.mswc import BuildConfig
from corpus.mswc.align_stage import AlignOutcome, TextGridTask, confirm_mismatches, match_words, textgrid_align
from corpus.mswc.config import STAGE_FIELDS, STAGES, config_from_json, config_to_json
from corpus.mswc.embedding import EMBEDDING_SIZE, embedder, word_shape_embedding
from corpus.engines import EngineError, LocalEngine, SparkEngine
from corpus.mswc.extract import (ClipRecord, Occurrence, _folders, encode_opus, extract_recording,
                                 plan_extraction)
from corpus.mswc.ingest import ProbeTask, probe_clip
from corpus.mswc.normalize import normalize_supervisions, text_rules
from corpus.mswc.score import ScoreTask, encode_vector, score_keyword
from corpus.mswc.split import assign_splits, outlier_links
from corpus.mswc.validate import safe_folder, validate_release
from corpus.splits import speaker_split
from corpus.text import normalize_words, rules_for

RATE = 48000


def speechlike(duration_s: float, bursts: list[tuple[float, float]], *, seed: int = 0, rate: int = RATE) -> np.ndarray:
    """Quiet noise with loud voiced bursts (a harmonic tone with a rising pitch) at the given spans."""
    rng = np.random.default_rng(seed)
    audio = rng.standard_normal(int(duration_s * rate)).astype(np.float32) * 0.002
    for start, end in bursts:
        t = np.arange(int(start * rate), int(end * rate)) / rate
        pitch = 120 + 60 * (t - start) / max(end - start, 1e-3)
        phase = 2 * np.pi * np.cumsum(pitch) / rate
        audio[int(start * rate):int(start * rate) + len(t)] += 0.3 * (np.sin(phase) + 0.5 * np.sin(3 * phase))
    return audio


# ------------------------------------------------------------------------------------------- ingest

def test_probe_reports_unreadable_silent_and_short_clips(tmp_path):
    good = save_audio(tmp_path / "good.mp3", speechlike(3.0, [(0.5, 1.0), (1.4, 2.2)]), RATE)
    silent = save_audio(tmp_path / "silent.mp3", np.random.default_rng(1).standard_normal(RATE * 3) * 0.01, RATE)
    short = save_audio(tmp_path / "short.mp3", speechlike(0.2, [(0.05, 0.15)]), RATE)
    (tmp_path / "empty.mp3").write_bytes(b"")
    (tmp_path / "garbage.mp3").write_bytes(bytes(np.random.default_rng(2).integers(0, 256, 4096, dtype=np.uint8)))
    (tmp_path / "id3only.mp3").write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00")

    def probe(name):
        return probe_clip(ProbeTask(id=name, path=str(tmp_path / name), min_duration_s=0.3, silence_range_db=10.0))

    result = probe("good.mp3")
    assert result.ok and result.sample_rate_hz == RATE and abs(result.num_samples - 3 * RATE) < RATE * 0.05
    assert not result.silent and result.energy_range_db > 20
    silent = probe("silent.mp3")
    assert silent.ok and silent.silent and silent.reason == "silent"  # usable, dropped by drop_silent
    assert probe("short.mp3").reason == "too_short" and not probe("short.mp3").ok
    for name in ("empty.mp3", "garbage.mp3", "id3only.mp3", "missing.mp3"):
        result = probe(name)
        assert not result.ok and result.reason in ("unreadable_audio", "too_short"), (name, result)
    assert probe("empty.mp3").detail.startswith("EmptyAudioFile")
    assert good.exists() and short.exists()


# ---------------------------------------------------------------------------------------- normalize

def _sup(item_id: str, text: str) -> Supervision:
    return Supervision(id=item_id, recording_id=item_id, start_s=0.0, duration_s=1.0, text=text, language="lg")


def test_normalize_reports_empty_digits_and_outside_alphabet():
    common = ["Omwana alya emmere.", "Abantu balya emmere leero.", "Omwana n'abantu balya."] * 4
    sups = [_sup(f"s{i}", t) for i, t in enumerate(common)]
    sups += [_sup("odd", "\u200fOmwa\u200bna\u3000\u201calya\u201d emme\u0301re\uff0e".replace("e\u0301", "e")),
             _sup("digits", "Omwana alya 3 emmere."), _sup("empty", "... !!! ---"),
             _sup("hostile", "Omwana ../x con alya."), _sup("rare", "Omwana alya qqzz.")]
    config = BuildConfig(alphabet_min_count=3)
    result = normalize_supervisions(sups, "lg", config)
    kept = {s.id: s.text for s in result.supervisions}
    reasons = {item: reason for item, reason, _ in result.problems}
    assert kept["odd"] == "omwana alya emmere"  # NFC, zero-width and bidi marks, full-width stop, quotes
    assert kept["s2"] == "omwana n'abantu balya"  # Luganda keeps in-word apostrophes
    assert reasons == {"digits": "digits", "empty": "no_words", "hostile": "outside_alphabet", "rare": "outside_alphabet"}
    assert "q" not in result.alphabet["characters"] and "q" in result.alphabet["excluded_characters"]
    assert result.excluded_words == {"qqzz": 1, "x": 1, "con": 1}
    dropped = normalize_supervisions(sups, "lg", dataclasses.replace(config, oov_policy="drop_word"))
    assert {s.id: s.text for s in dropped.supervisions}["rare"] == "omwana alya"
    split = text_rules("lg", BuildConfig(apostrophe="split"))
    assert normalize_words("n'abantu", split).words == ("n", "abantu")


def test_hostile_tokens_normalize_to_plain_words_and_safe_folders():
    assert normalize_words("../x .. con a/b nul x\\y", rules_for("lg")).words == ("x", "con", "a", "b", "nul", "x", "y")
    folders = _folders(["con", "nul", "masiki", "aux.txt", "Masiki"])
    assert folders["con"] == "_con" and folders["nul"] == "_nul" and folders["aux.txt"] == "_aux.txt"
    assert folders["Masiki"] == "Masiki" and folders["masiki"].startswith("masiki_")  # case-insensitive clash
    assert all(safe_folder(f) and "/" not in f and f not in (".", "..") for f in folders.values())
    assert not safe_folder("..") and not safe_folder("a/b") and not safe_folder("x\u200by") and safe_folder("ñ")


# -------------------------------------------------------------------------------------------- align

def test_textgrid_import_matches_transcript_words_in_order(tmp_path):
    rules = rules_for("lg")
    words = match_words(("omwana", "alya", "emmere", "leero"),
                        [(0.1, 0.4, "omwana"), (0.5, 0.7, "<unk>"), (0.8, 1.1, "emmere"), (1.2, 1.5, "leero")])
    assert [(w.text, w.start_s) for w in words] == [("omwana", 0.1), ("emmere", 0.8), ("leero", 1.2)]
    grid = write_textgrid(tmp_path / "a.TextGrid", {"words": [(0.2, 0.6, "Omwana,"), (0.7, 1.0, "ALYA")],
                                                    "phones": [(0.2, 0.3, "o")]}, 2.0)
    result = textgrid_align(TextGridTask(id="a", textgrid=str(grid), words=("omwana", "alya"), rules=rules))
    assert result.ok and [w.text for w in result.alignment.words] == ["omwana", "alya"]
    assert result.alignment.words[1].start_s == 0.7
    other = textgrid_align(TextGridTask(id="a", textgrid=str(grid), words=("leero",), rules=rules))
    assert other.reason == "transcript_mismatch"
    assert textgrid_align(TextGridTask(id="b", textgrid=None, words=("x",), rules=rules)).reason == "no_alignment"
    (tmp_path / "bad.TextGrid").write_text("not a textgrid")
    bad = textgrid_align(TextGridTask(id="c", textgrid=str(tmp_path / "bad.TextGrid"), words=("x",), rules=rules))
    assert bad.reason == "bad_textgrid"


def test_mismatch_flags_are_confirmed_against_their_models_other_sentences():
    rng = np.random.default_rng(0)

    def result(item_id, log_score, flag):
        return AlignOutcome(id=item_id, ok=True, mismatch=flag, alignment=Alignment(
            id=item_id, recording_id=item_id, words=(), custom={"mismatch": flag, "log_score": log_score}))

    results = [result(f"a{i}", float(s), False) for i, s in enumerate(rng.normal(0.1, 0.1, 60))]
    results += [result("wrong", -3.0, True), result("harsh", -0.4, True), result("unflagged", -5.0, False)]
    results += [result(f"b{i}", float(s), False) for i, s in enumerate(rng.normal(0.1, 1.0, 30))]
    results += [result("b-flag", -3.0, True), AlignOutcome(id="failed", reason="align_error")]
    groups = {r.id: 1 if r.id.startswith("b") else 0 for r in results}
    confirmed = confirm_mismatches(results, groups, 10.0)
    assert confirmed["wrong"] and "MADs" in confirmed["wrong"]
    assert confirmed["harsh"] is None and confirmed["unflagged"] is None  # the flag is needed, and confirmed
    assert confirmed["b-flag"] is None  # its model's scores spread widely: -3 is not extreme there
    assert "failed" not in confirmed
    trusting = confirm_mismatches(results, groups, 0.0)
    assert trusting["harsh"] and trusting["b-flag"] and trusting["unflagged"] is None


# ------------------------------------------------------------------------------------------ extract

def test_extract_cuts_exact_one_second_clips_with_repeat_names(tmp_path):
    audio = speechlike(3.0, [(0.05, 0.35), (0.8, 1.1), (1.3, 2.95), (2.5, 2.99)])
    source = save_audio(tmp_path / "src" / "common_voice_lg_7.mp3", audio, RATE)
    alignment = {"id": "common_voice_lg_7", "recording_id": "common_voice_lg_7", "words": [
        {"text": "masiki", "start_s": 0.05, "duration_s": 0.3, "score": 1.0},
        {"text": "ku", "start_s": 0.4, "duration_s": 0.2, "score": 1.0},
        {"text": "masiki", "start_s": 0.8, "duration_s": 0.3, "score": 1.0},
        {"text": "okwewalaaaaa", "start_s": 1.3, "duration_s": 1.65, "score": 1.0},
        {"text": "masiki", "start_s": 2.5, "duration_s": 0.49, "score": 1.0},
        {"text": "con", "start_s": 2.6, "duration_s": 0.0, "score": 1.0}]}
    other = {"id": "o", "recording_id": "o", "words": [
        {"text": "okwewalaaaaa", "start_s": 0.1, "duration_s": 0.5, "score": 1.0},
        {"text": "con", "start_s": 0.7, "duration_s": 0.2, "score": 1.0}]}
    lang_dir = tmp_path / "out" / "lg"
    config = BuildConfig(min_clips=2, write_wav=True)
    plan = plan_extraction([Alignment(**alignment), Alignment(**other)], {"common_voice_lg_7": str(source), "o": str(source)}, str(lang_dir),
                           config)
    assert plan.keywords == {"masiki": 3, "okwewalaaaaa": 2}  # 'ku' too short, 'con' too rare (its span is empty)
    assert plan.word_counts["not_keyword_short"]["ku"] == 1 and plan.word_counts["empty_span"]["con"] == 1
    task = next(t for t in plan.tasks if t.id == "common_voice_lg_7")
    assert [o.link for o in task.occurrences] == [
        "masiki/common_voice_lg_7.opus", "masiki/common_voice_lg_7__2.opus", "okwewalaaaaa/common_voice_lg_7.opus",
        "masiki/common_voice_lg_7__3.opus"]
    result = extract_recording(task)
    assert result.ok and not result.errors and len(result.clips) == 4
    for clip in result.clips:
        path = lang_dir / "clips" / clip.link
        assert audio_info(path).sample_rate_hz == 48000 and audio_info(path).num_samples == 48000
        assert len(load_audio(path, sample_rate_hz=16000)) == 16000
        wav = lang_dir / "wav" / clip.link.replace(".opus", ".wav")
        assert audio_info(wav).sample_rate_hz == 16000 and audio_info(wav).num_samples == 16000
    spans = {c.link: c.span_s for c in result.clips}
    assert spans["masiki/common_voice_lg_7.opus"] == (0.05, 0.35)  # a short word: exactly its span
    long_span = spans["okwewalaaaaa/common_voice_lg_7.opus"]
    assert abs(long_span[1] - long_span[0] - 1.0) < 1e-6 and long_span[1] <= 3.0 + 1e-6  # 1 s inside the file
    clip = load_audio(lang_dir / "clips" / "masiki/common_voice_lg_7.opus", sample_rate_hz=16000)
    energy = np.convolve(clip ** 2, np.ones(160) / 160, mode="same")
    assert energy[:3000].max() < 1e-4 and energy[-3000:].max() < 1e-4 and energy[8000] > 1e-3  # padded, centred
    bad = extract_recording(dataclasses.replace(task, audio_path=str(tmp_path / "missing.mp3")))
    assert not bad.ok and bad.reason == "unreadable_audio"
    outside = dataclasses.replace(task, occurrences=(Occurrence(word="masiki", folder="masiki", name="z", start_s=9.0,
                                                                end_s=9.5),))
    assert extract_recording(outside).errors[0].reason == "bad_span"


# ------------------------------------------------------------------------------------- split, score

def _record(link: str, word: str, speaker: str, gender: str) -> ClipRecord:
    return ClipRecord(link=link, word=word, recording_id=link, speaker=speaker, gender=gender, span_s=(0.0, 1.0),
                      word_s=(0.0, 1.0))


def test_splits_are_speaker_disjoint_and_stable_when_speakers_are_added():
    def clips(n_speakers):
        return [_record(f"w{w}/c_{s}_{w}.opus", f"w{w}", f"speaker-{s}", "female" if s % 2 else "male")
                for s in range(n_speakers) for w in range(3)]

    small = assign_splits(clips(100), seed=3, shares=(0.8, 0.1, 0.1))
    large = assign_splits(clips(400), seed=3, shares=(0.8, 0.1, 0.1))
    before = {c.link: c.set for c in small}
    assert all(before[c.link] == c.set for c in large if c.link in before)  # nobody moved
    per_speaker: dict[str, set] = {}
    for clip in large:
        per_speaker.setdefault(clip.speaker, set()).add(clip.set)
    assert all(len(s) == 1 for s in per_speaker.values())
    shares = {name: sum(c.set == name for c in large) / len(large) for name in ("TRAIN", "DEV", "TEST")}
    assert 0.72 < shares["TRAIN"] < 0.88 and 0.05 < shares["DEV"] < 0.15 and 0.05 < shares["TEST"] < 0.15
    assert {c.gender for c in large} == {"MALE", "FEMALE"}
    assert speaker_split("speaker-1", seed=3) == next(c.set for c in large if c.speaker == "speaker-1")
    other_seed = assign_splits(clips(400), seed=4, shares=(0.8, 0.1, 0.1))
    assert [c.set for c in other_seed] != [c.set for c in large]


def test_outlier_scores_find_planted_outliers_and_drop_the_farthest():
    rng = np.random.default_rng(0)
    good = rng.normal(0, 1, (60, 20)) + np.repeat(rng.normal(0, 3, (3, 20)), 20, axis=0)  # 3 speaker clusters
    bad = rng.normal(0, 1, (4, 20)) + 12.0  # a tight group of far-out clips (noise, a wrong word)
    vectors = np.vstack([good, bad])
    links = tuple(f"w/{i:03d}.opus" for i in range(len(vectors)))
    task = ScoreTask(word="w", links=links, vectors=tuple(encode_vector(v) for v in vectors), k=5, sample=50, seed=0)
    result = score_keyword(task)
    assert result == score_keyword(task)  # deterministic
    scores = dict((link, s) for link, s in result.scores)
    ranked = sorted(scores, key=scores.get, reverse=True)
    assert set(ranked[:4]) == set(links[60:])
    dropped = outlier_links({link: ("w", s) for link, s in scores.items()}, 5.0)
    assert dropped == set(ranked[:4])  # ceil(5% of 64) = 4
    assert outlier_links({link: ("w", s) for link, s in scores.items()}, 0.0) == set()
    rows = assign_splits([_record(l, "w", l, "") for l in links], seed=0,
                         shares=(0.8, 0.1, 0.1), dropped=dropped)
    assert sum(not r.valid for r in rows) == 4 and all(r.valid for r in rows if r.link not in dropped)


def test_builtin_embedding_and_pluggable_embeddings():
    clip = np.zeros(16000, np.float32)
    clip[4000:12000] = speechlike(0.5, [(0.0, 0.5)], rate=16000)
    vector = word_shape_embedding(clip)
    assert vector.shape == (EMBEDDING_SIZE,) and np.all(np.isfinite(vector))
    assert np.all(np.isfinite(word_shape_embedding(np.zeros(16000, np.float32))))
    assert embedder("builtin") is word_shape_embedding
    assert embedder("numpy:ravel")(clip).shape == (16000,)
    with pytest.raises(ValueError):
        embedder("no-such-thing")


# ----------------------------------------------------------------------------------------- validate

def _tiny_release(lang_dir):
    rows = []
    for i, (word, speaker) in enumerate([("masiki", "a"), ("masiki", "b"), ("corona", "a")]):
        link = f"{word}/common_voice_lg_{i}.opus"
        (lang_dir / "clips" / word).mkdir(parents=True, exist_ok=True)
        (lang_dir / "clips" / link).write_bytes(encode_opus(speechlike(1.0, [(0.3, 0.6)], seed=i), RATE))
        rows.append(MswcClip(set="TRAIN", link=link, word=word, valid=True, speaker=speaker, gender="NAN"))
    write_splits(lang_dir, "lg", rows)
    write_metadata(lang_dir, "lg", "Luganda", rows, {"masiki": "masiki", "corona": "corona"}, "t")
    write_scores(lang_dir, "lg", [(r.link, r.word, 1.0) for r in rows])
    return rows


def test_validation_catches_missing_extra_duplicate_and_bad_clips(tmp_path):
    lang_dir = tmp_path / "lg"
    rows = _tiny_release(lang_dir)
    problems, counts = validate_release(lang_dir, "lg")
    assert problems == [] and counts["checked"] == 3

    def reasons():
        return {(p["item"], p["reason"]) for p in validate_release(lang_dir, "lg", engine=LocalEngine(2))[0]}

    (lang_dir / "clips" / rows[0].link).unlink()
    assert (rows[0].link, "missing_clip") in reasons()
    (lang_dir / "clips" / rows[0].link).write_bytes(encode_opus(np.zeros(47000, np.float32) + 0.01, RATE))
    assert (rows[0].link, "bad_duration") in reasons()
    (lang_dir / "clips" / rows[0].link).write_bytes(encode_opus(speechlike(1.0, [(0.3, 0.6)]), RATE))
    (lang_dir / "clips" / "masiki" / "common_voice_lg_9.opus").write_bytes(b"extra")
    (lang_dir / "clips" / "empty").mkdir()
    found = reasons()
    assert ("masiki/common_voice_lg_9.opus", "extra_clip") in found and ("empty", "empty_folder") in found
    (lang_dir / "clips" / "masiki" / "common_voice_lg_9.opus").unlink()
    (lang_dir / "clips" / "empty").rmdir()
    write_splits(lang_dir, "lg", rows + [rows[1]])
    found = reasons()
    assert (rows[1].link, "duplicate_link") in found and ("metadata.json", "metadata_mismatch") in found
    write_splits(lang_dir, "lg", rows)
    (lang_dir / "lg_dev.csv").write_text("LINK,WORD,VALID,SPEAKER,GENDER\nmasiki/x.opus,masiki,True,a,NAN\n")
    assert ("lg_dev.csv", "set_csv_mismatch") in reasons()
    write_splits(lang_dir, "lg", rows)
    write_scores(lang_dir, "lg", [(r.link, r.word, 1.0) for r in rows[:2]])
    assert ("lg_scores.csv", "scores_mismatch") in reasons()
    write_scores(lang_dir, "lg", [(r.link, r.word, 1.0) for r in rows])
    assert reasons() == set()
    assert len(read_splits(lang_dir / "lg_splits.csv")) == 3 and len(read_scores(lang_dir / "lg_scores.csv")) == 3


# --------------------------------------------------------------------------------- config, engines

def test_config_round_trips_and_every_field_belongs_to_a_stage():
    config = BuildConfig(aligner="textgrid", textgrids="/x", shares=(0.7, 0.2, 0.1), aligner_config=(("epochs", 2),),
                         drop_outliers=5.0)
    assert config_from_json(config_to_json(config)) == config
    assert set(STAGE_FIELDS) == set(STAGES)
    with pytest.raises(ValueError):
        BuildConfig(aligner="textgrid")
    with pytest.raises(ValueError):
        BuildConfig(shares=(0.5, 0.1, 0.1))
    with pytest.raises(ValueError):
        BuildConfig(drop_outliers=5.0, score=False)


def test_spark_engine_without_java_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on PATH
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(EngineError, match="make java"):
        SparkEngine("local[1]")


def test_local_engine_keeps_input_order():
    assert list(LocalEngine(2).map(abs, list(range(-20, 0)), progress=False)) == list(range(20, 0, -1))
    assert list(LocalEngine(1).map(abs, [], progress=False)) == []
    assert os.cpu_count()


@pytest.mark.slow
def test_saved_keras_model_as_embedding(tmp_path):
    import keras

    inputs = keras.Input((16000,))
    model = keras.Model(inputs, keras.layers.Dense(6, kernel_initializer="ones")(inputs))
    model.save(tmp_path / "emb.keras")
    embed = embedder(str(tmp_path / "emb.keras"))
    clip = speechlike(1.0, [(0.3, 0.6)], rate=16000)
    vector = embed(clip)
    assert vector.shape == (6,) and np.allclose(vector, clip.sum(), rtol=1e-4)
