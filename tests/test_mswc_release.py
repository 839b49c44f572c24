import json

import numpy as np
import pytest

from corpus.__main__ import main as corpus_main
from corpus.audio import audio_info, load_audio
from corpus.clips import clip_span_s, cut_keyword_clip
from corpus.demo.mswc import SynthMswcConfig, synth_mswc
from corpus.formats.mswc import MswcFormatError, read_release, read_splits, safe_link
from corpus.manifest import read_jsonl


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    config = SynthMswcConfig(language="lg", words=6, clips_per_word=8, speakers=12, seed=1)
    return synth_mswc(config, tmp_path_factory.mktemp("mswc"), jobs=2, progress=False)


def test_layout(release):
    assert {p.name for p in release.iterdir()} >= {"clips", "lg_splits.csv", "lg_train.csv", "lg_dev.csv",
                                                   "lg_test.csv", "metadata.json", "synthetic_truth.jsonl.gz"}
    assert (release / "lg_splits.csv").read_text().splitlines()[0] == "SET,LINK,WORD,VALID,SPEAKER,GENDER"
    assert (release / "lg_train.csv").read_text().splitlines()[0] == "LINK,WORD,VALID,SPEAKER,GENDER"
    meta = json.loads((release / "metadata.json").read_text())["lg"]
    assert meta["number_of_words"] == 6 and sum(meta["wordcounts"].values()) == 48
    assert {"akawuka", "senyiga", "okugema", "masiki", "corona"} <= set(meta["wordcounts"])


def test_every_row_has_a_one_second_clip_and_speakers_are_disjoint(release):
    data = read_release(release.parent, "lg")
    assert len(data.clips) == 48
    for clip in data.clips:
        path = data.clip_path(clip)
        info = audio_info(path)
        assert info.sample_rate_hz == 48000 and info.channels == 1
        assert len(load_audio(path, sample_rate_hz=16000)) == 16000
    sets = {}
    for clip in data.clips:
        sets.setdefault(clip.speaker, set()).add(clip.set)
    assert all(len(s) == 1 for s in sets.values())  # a speaker is in one split only


def test_truth_places_word_inside_clip(release):
    for record in read_jsonl(release / "synthetic_truth.jsonl.gz"):
        assert 0.0 <= record["word_start_s"] < record["word_end_s"] <= 1.0
        audio = load_audio(release / "clips" / record["link"], sample_rate_hz=16000)
        inside = audio[int(record["word_start_s"] * 16000):int(record["word_end_s"] * 16000)]
        outside = np.concatenate([audio[:int(record["word_start_s"] * 16000)], audio[int(record["word_end_s"] * 16000):]])
        assert np.mean(inside ** 2) > np.mean(outside ** 2)


def test_deterministic(release, tmp_path):
    again = synth_mswc(SynthMswcConfig(language="lg", words=6, clips_per_word=8, speakers=12, seed=1), tmp_path,
                       jobs=1, progress=False)
    for name in ("lg_splits.csv", "metadata.json", "synthetic_truth.jsonl.gz"):
        assert (again / name).read_bytes() == (release / name).read_bytes()
    clips = sorted(p.relative_to(release) for p in (release / "clips").rglob("*.opus"))
    assert clips and clips == sorted(p.relative_to(again) for p in (again / "clips").rglob("*.opus"))
    assert all((again / c).read_bytes() == (release / c).read_bytes() for c in clips)


def test_cut_short_word_is_centered_faded_and_exact():
    rate = 16000
    audio = np.ones(3 * rate, np.float32)
    clip = cut_keyword_clip(audio, rate, 1.0, 1.4)
    assert len(clip) == rate
    nonzero = np.flatnonzero(clip)
    assert abs(nonzero[0] - 0.3 * rate) <= 2 and abs(nonzero[-1] - 0.7 * rate) <= 2  # centered
    assert clip[nonzero[0]] < 0.05 and clip[rate // 2] == 1.0  # faded in, full in the middle


def test_cut_long_word_stays_inside_recording():
    rate = 16000
    audio = np.arange(2 * rate, dtype=np.float32)
    clip = cut_keyword_clip(audio, rate, 0.8, 2.0, fade_s=0)  # midpoint 1.4: window 0.9-1.9 fits
    assert len(clip) == rate and clip[0] == 0.9 * rate
    shifted = cut_keyword_clip(audio, rate, 1.2, 2.5, fade_s=0)  # a span past the end: window shifted back
    assert shifted[-1] == 2 * rate - 1 and shifted[0] == rate
    assert clip_span_s(0.0, 1.5, 10.0) == (0.25, 1.25)
    with pytest.raises(ValueError):
        cut_keyword_clip(audio, rate, 1.0, 1.0)


def test_split_reader_rejects_unsafe_links(tmp_path):
    path = tmp_path / "x_splits.csv"
    path.write_text("SET,LINK,WORD,VALID,SPEAKER,GENDER\nTRAIN,../../etc/passwd,x,True,s,MALE\n")
    with pytest.raises(MswcFormatError, match=":2: unsafe LINK"):
        read_splits(path)
    for link, ok in [("word/a.opus", True), ("/abs/a.opus", False), ("..", False), ("a/b/c.opus", False),
                     ("w\\a.opus", False), ("./a.opus", False)]:
        assert safe_link(link) is ok


def test_cli(tmp_path):
    assert corpus_main(["synth-mswc", "--langs", "en", "--words", "2", "--clips-per-word", "2", "--speakers", "2",
                        "--out", str(tmp_path), "--jobs", "1"]) == 0
    assert len(read_release(tmp_path / "en").clips) == 4
