"""The aligner end to end: real training on a tiny synthetic corpus, held-out speakers, bad input, the CLI
(resume, TextGrids, CTM, the MFA backend without MFA), long audio, and a TensorFlow-free model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from corpus.align import AlignerConfig, AlignError, AlignItem, align_item, align_items, train_aligner
from corpus.align.cli import register
from corpus.align.long_audio import LongAudioConfig, align_long
from corpus.align.sources import items_from_common_voice
from corpus.audio import save_audio
from corpus.cli import run_cli
from corpus.demo.common_voice import SynthCVConfig, synth_common_voice
from corpus.demo.noise import NoisePlan
from corpus.demo.text import DemoText
from corpus.formats.ctm import read_ctm
from corpus.formats.textgrid import read_textgrid, word_intervals
from corpus.manifest import Alignment, read_jsonl, read_manifest
from corpus.synth import SpeakerBank, synthesize
from corpus.text import normalize_words, rules_for

pytestmark = pytest.mark.slow

NOISE = NoisePlan(noisy_share=1.0, snr_db=(15.0, 25.0), noise_kinds=("white", "pink"), reverb_share=0.3)
SMALL = AlignerConfig(gmm_mixtures=(1, 1, 2, 4), mlp_rounds=2, mlp_hidden=(128, 128), mlp_epochs=(4, 2),
                      calibration_share=0.15)


def cli(*argv: str) -> int:
    return run_cli("python -m corpus", "", [register], list(argv))


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    root = tmp_path_factory.mktemp("align")
    train = synth_common_voice(SynthCVConfig(language="lg", sentences=90, speakers=12, seed=41, noise=NOISE,
                                             invalidated_share=0, other_share=0), root / "train", jobs=2,
                               progress=False)
    held = synth_common_voice(SynthCVConfig(language="lg", sentences=30, speakers=5, seed=42, noise=NOISE,
                                            wrong_transcript_share=0.2, invalidated_share=0, other_share=0),
                              root / "eval", jobs=2, progress=False)
    return root, train, held


@pytest.fixture(scope="module")
def model(trees):
    """Trained through the CLI (`align train --config`), as a user would."""
    root, train, _ = trees
    (root / "small.json").write_text(SMALL.to_json(), encoding="utf-8")
    assert cli("align", "train", "--corpus", str(train), "--lang", "lg", "--out", str(root / "model"), "--config",
               str(root / "small.json"), "--jobs", "2", "--quiet") == 0
    return root / "model"


def truth(lang_dir: Path) -> dict[str, dict]:
    return {Path(r["path"]).stem: r for r in read_jsonl(lang_dir / "synthetic_truth.jsonl.gz")}


def test_held_out_speakers_aligned_near_truth_and_wrong_transcripts_flagged(trees, model):
    _, _, held = trees
    items, _ = items_from_common_voice(held, "lg")
    records = truth(held)
    results = align_items(items, model, jobs=2, progress=False)
    assert [r.id for r in results] == [i.id for i in items]
    errors, flags_wrong, flags_right = [], [], []
    rules = rules_for("lg")
    for result in results:
        record = records[result.id]
        assert result.error is None, result.error
        alignment = result.alignment
        assert 0.0 <= alignment.score <= 1.0 and all(0.0 <= w.score <= 1.0 for w in alignment.words)
        if "wrong_transcript" in record["faults"]:
            flags_wrong.append(alignment.custom["mismatch"])
            assert alignment.score < 0.5 or alignment.custom["log_score"] < -0.5  # never a confident alignment
            continue
        flags_right.append(alignment.custom["mismatch"])
        spoken = [normalize_words(w["text"], rules).words[0] for w in record["words"]]
        assert [w.text for w in alignment.words] == spoken
        assert "".join(u.text for u in alignment.units) == "".join(spoken).replace("-", "")
        for true, predicted in zip(record["words"], alignment.words):
            errors += [predicted.start_s - true["start_s"], predicted.end_s - true["end_s"]]
    mae = float(np.mean(np.abs(errors)))
    assert mae < 0.060, f"mean boundary error {mae * 1000:.1f} ms on held-out speakers"
    assert np.mean(np.abs(errors) < 0.1) > 0.85
    assert np.mean(flags_wrong) >= 0.8 and np.mean(flags_right) <= 0.2
    # the per-item function gives the same answer as the batch
    single = align_item(items[0], str(model))
    assert single.alignment.words == results[0].alignment.words


def test_model_folder_loads_and_aligns_without_tensorflow(trees, model):
    _, _, held = trees
    items, _ = items_from_common_voice(held, "lg")
    code = ("import sys; from corpus.align import align_item, AlignItem; "
            f"r = align_item(AlignItem(id='x', audio_path={items[0].audio_path!r}, words={items[0].words!r}), "
            f"{str(model)!r}); assert r.alignment is not None, r.error; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    assert {p.name for p in Path(model).iterdir()} >= {"model.npz", "model.json", "aligner_config.json"}
    assert AlignerConfig.load(Path(model) / "aligner_config.json") == SMALL


def _wav(path: Path, samples: np.ndarray, subtype: str = "PCM_16") -> str:
    sf.write(path, samples, 16000, subtype=subtype)
    return str(path)


def test_bad_inputs_come_back_as_errors(trees, model, tmp_path):
    _, _, held = trees
    items, _ = items_from_common_voice(held, "lg")
    good = items[0]
    rng = np.random.default_rng(0)
    nan = np.zeros(16000, np.float32)
    nan[100] = np.nan
    cases = {
        "empty": AlignItem(id="empty", audio_path=good.audio_path, words=()),
        "unseen": AlignItem(id="unseen", audio_path=good.audio_path, words=("akawuka", "ŧħøʁ")),
        "short": AlignItem(id="short", audio_path=_wav(tmp_path / "short.wav", 0.1 * rng.standard_normal(2400)),
                           words=good.words),
        "silence": AlignItem(id="silence", audio_path=_wav(tmp_path / "zeros.wav", np.zeros(48000)),
                             words=("akawuka",)),
        "noise": AlignItem(id="noise", audio_path=_wav(tmp_path / "noise.wav", 0.003 * rng.standard_normal(48000)),
                           words=("akawuka",)),
        "nonfinite": AlignItem(id="nonfinite", audio_path=_wav(tmp_path / "nan.wav", nan, "FLOAT"),
                               words=("akawuka",)),
        "missing": AlignItem(id="missing", audio_path=str(tmp_path / "nope.mp3"), words=("akawuka",)),
        "corrupt": AlignItem(id="corrupt", audio_path=str(tmp_path / "bad.mp3"), words=("akawuka",)),
    }
    (tmp_path / "bad.mp3").write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00garbage" * 10)
    results = {r.id: r for r in align_items(list(cases.values()) + [good], model, jobs=1, progress=False)}
    expected = {"empty": "empty transcript", "unseen": "never seen in training", "short": "too short",
                "silence": "silence only", "nonfinite": "non-finite", "missing": "does not exist", "corrupt": "audio"}
    for key, phrase in expected.items():
        result = results[key]
        assert result.alignment is None and result.error and phrase in result.error, (key, result.error)
    noise = results["noise"]  # background noise only: refused, or aligned with a low score and the flag
    assert ("no speech" in (noise.error or "")) or (noise.alignment.custom["mismatch"] and noise.alignment.score < 0.5)
    assert results[good.id].error is None
    # a wrong transcript is aligned but flagged, with a low score
    other = next(i for i in items if i.words != good.words and len(i.words) >= len(good.words) - 1)
    wrong = align_item(AlignItem(id="wrong", audio_path=good.audio_path, words=other.words), str(model))
    assert wrong.alignment.custom["mismatch"] and wrong.alignment.score < 0.5


def test_cli_run_resumes_and_writes_mfa_style_textgrids_and_ctm(trees, model, tmp_path, capsys):
    _, _, held = trees
    out = tmp_path / "out" / "lg.jsonl.gz"
    grids = tmp_path / "grids"
    common = ["align", "run", "--model", str(model), "--corpus", str(held), "--out", str(out), "--jobs", "1",
              "--quiet"]
    assert cli(*common, "--max-items", "7") == 0  # stops after 7 items, as a killed run would
    log = out.with_name("lg.progress.jsonl")
    first = log.read_text(encoding="utf-8").splitlines()
    assert len(first) == 7 and not out.exists()
    # mark one finished record: if the rerun redid that item, the mark would be lost
    record = json.loads(first[0])
    record["value"]["alignment"]["score"] = 0.123
    first[0] = json.dumps(record, ensure_ascii=False, sort_keys=True)
    log.write_text("\n".join(first) + "\n", encoding="utf-8")
    assert cli(*common, "--textgrids", str(grids), "--ctm", str(tmp_path / "lg.ctm")) == 0
    lines = log.read_text(encoding="utf-8").splitlines()
    keys = [json.loads(line)["key"] for line in lines]
    assert len(keys) == len(set(keys)) == 30 and lines[:7] == first
    alignments = list(read_manifest(out, Alignment))
    assert len(alignments) == 30 and len({a.id for a in alignments}) == 30
    assert next(a for a in alignments if a.id == record["key"]).score == 0.123
    assert len(list(grids.glob("*.TextGrid"))) == 30  # also those aligned before --textgrids was given
    sample = next(a for a in alignments if (grids / f"{a.id}.TextGrid").exists())
    tiers = read_textgrid(grids / f"{sample.id}.TextGrid")
    assert list(tiers) == ["words", "phones"]
    assert [t for _, _, t in word_intervals(tiers)] == [w.text for w in sample.words]
    assert tiers["words"][0][0] == 0.0 and tiers["words"][-1][1] >= sample.words[-1].end_s
    ctm = read_ctm(tmp_path / "lg.ctm")
    assert sum(len(a.words) for a in alignments) == len(ctm)
    # a third run has nothing left to do and rewrites the same manifest
    before = out.read_bytes()
    assert cli(*common) == 0 and out.read_bytes() == before
    # the progress log belongs to this model: another model may not continue it
    other = tmp_path / "other_model"
    other.mkdir()
    for name in ("model.json", "aligner_config.json"):
        (other / name).write_bytes((Path(model) / name).read_bytes())
    with np.load(Path(model) / "model.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["log_prior"] = arrays["log_prior"] - 0.01
    np.savez(other / "model.npz", **arrays)
    common[3] = str(other)
    capsys.readouterr()
    assert cli(*common) == 2 and "another model" in capsys.readouterr().err


def test_pronunciation_dictionary_and_gmm_only_model(trees, tmp_path):
    """An MFA-format dictionary replaces graphemes (here: upper-case 'phones', 'ng' as one phone)."""
    _, train, held = trees
    items, _ = items_from_common_voice(train, "lg")
    words = sorted({w for item in items for w in item.words})
    lines = [f"{w}\t{' '.join(c.upper() for c in w.replace('ng', '_').replace(chr(39), '')).replace('_', 'NG')}"
             for w in words]
    (tmp_path / "lg.dict").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = AlignerConfig(dictionary=str(tmp_path / "lg.dict"), gmm_mixtures=(1, 1, 2), mlp_rounds=0)
    model_dir = train_aligner(items, language="lg", out_dir=tmp_path / "m", config=config, jobs=1, progress=False)
    known = next(i for i in items_from_common_voice(held, "lg")[0] if all(w in words for w in i.words))
    result = align_item(known, str(model_dir))
    assert result.error is None and [w.text for w in result.alignment.words] == list(known.words)
    assert all(u.text.isupper() for u in result.alignment.units)
    assert not (Path(model_dir) / "model.npz").read_bytes().count(b"mlp_w0")  # GMM scoring, no MLP
    with pytest.raises(AlignError, match="no utterances"):
        train_aligner([], language="lg", out_dir=tmp_path / "none")


def test_cli_train_and_mfa_backend_without_mfa(trees, tmp_path, monkeypatch, capsys):
    _, train, held = trees
    assert cli("align", "train", "--corpus", str(tmp_path / "nowhere"), "--lang", "lg", "--out",
               str(tmp_path / "m")) == 2
    assert "not found" in capsys.readouterr().err
    monkeypatch.setenv("PATH", str(tmp_path))  # no `mfa` anywhere
    code = cli("align", "run", "--backend", "mfa", "--lang", "lg", "--corpus", str(held), "--out",
               str(tmp_path / "mfa.jsonl"))
    err = capsys.readouterr().err
    assert code == 2 and "mfa" in err and "conda" in err and "pip" in err


def test_long_audio_skips_missing_words_and_reports_extra(model, tmp_path):
    rules = rules_for("lg")
    sentences = DemoText.load("lg").sentences(14, seed=77)
    speaker = SpeakerBank(3, seed=99)[1]
    rng = np.random.default_rng(1)
    pieces, spoken, t = [np.zeros(8000, np.float32)], [], 0.5
    for sentence in sentences:
        result = synthesize(sentence, language="lg", speaker=speaker)
        spoken += [{"text": normalize_words(w.text, rules).words[0], "start_s": t + w.start_s, "end_s": t + w.end_s}
                   for w in result.words]
        pause = float(rng.uniform(0.2, 0.8))
        pieces += [result.samples, np.zeros(int(pause * 16000), np.float32)]
        t += result.duration_s + pause
    samples = np.concatenate(pieces)
    audio = save_audio(tmp_path / "long.flac", samples + 0.002 * rng.standard_normal(len(samples)), 16000)
    dropped = {5, 30}  # spoken but absent from the transcript
    near = {w["text"] for w in spoken[17:24]}
    extra = next(w for w in ("okugema", "masiki", "senyiga", "corona") if w not in near)
    transcript, source = [], []
    for i, w in enumerate(spoken):
        if i == 20:
            transcript.append(extra)  # in the transcript, never spoken
            source.append(None)
        if i not in dropped:
            transcript.append(w["text"])
            source.append(i)
    result = align_long(audio, transcript, model, config=LongAudioConfig(window_s=15.0, commit_s=10.0))
    assert result.windows >= 3
    errors = [abs(w.start_s - spoken[source[k]]["start_s"]) for k, w in zip(result.word_indices, result.alignment.words)
              if source[k] is not None]
    assert len(errors) >= 0.9 * (len(spoken) - 2)
    assert np.median(errors) < 0.05 and np.mean(errors) < 0.1
    assert (transcript.index(extra), extra) in result.unaligned_words
    assert result.to_json()["words"][0]["index"] == result.word_indices[0]
    # the same through the CLI: JSON report and a TextGrid
    (tmp_path / "t.txt").write_text(" ".join(transcript), encoding="utf-8")
    assert cli("align", "long", "--model", str(model), "--audio", str(audio), "--transcript", str(tmp_path / "t.txt"),
               "--out", str(tmp_path / "r.json"), "--textgrid", str(tmp_path / "r.TextGrid"), "--window-s", "15") == 0
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert len(report["words"]) == len(result.alignment.words) and report["unaligned_words"]
    assert len(word_intervals(read_textgrid(tmp_path / "r.TextGrid"))) == len(report["words"])
