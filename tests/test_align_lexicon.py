"""The phoneme lexicon (espeak-ng's own phonemes as units): phonemizing, the compact inventory, the letter
fallback, JSON round trips and old grapheme models; one tiny phoneme aligner trained end to end (slow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from corpus.align import AlignerConfig, align_items, train_aligner
from corpus.align.lexicon import GRAPHEMES, PHONEMES, Lexicon, LexiconError, reduce_phoneme, spell, spelled_by_letters
from corpus.align.model import load_model
from corpus.align.phonemes import PhonemizerError, clean_phoneme, phonemize_transcript, phonemize_words
from corpus.align.units import choose_units, extend_lexicon, phoneme_lexicon, spelling_sources

SENTENCES = [("the", "cat", "sat", "on", "a", "mat"), ("a", "knight", "sat", "on", "the", "mat"),
             ("the", "cat", "saw", "a", "knight")] * 3


def _names(lexicon: Lexicon, word: str) -> list[str]:
    return [lexicon.units[u] for u in lexicon.units_of(word)]


def test_espeak_phonemes_per_word_and_in_a_sentence():
    alone = phonemize_words(["knight", "the", "a"], "en")
    assert alone["knight"] == ("n", "aI", "t")  # silent k and gh: three sounds, not six letters
    assert all("'" not in p and "," not in p and not p.startswith("_") for ps in alone.values() for p in ps)
    assert phonemize_words(["a", "knight"], "en") == {"a": alone["a"], "knight": alone["knight"]}  # order-free
    said = phonemize_transcript(["the", "cat", "sat", "on", "a", "mat"], "en")
    assert said is not None and len(said) == 6 and said[1] == ("k", "a", "t")
    assert said[4] != alone["a"]  # "a" in running speech is reduced, not the letter name
    assert phonemize_transcript([], "en") is None
    assert clean_phoneme("_:") == "" and clean_phoneme("'aI") == "aI" and clean_phoneme(",0") == "0"
    with pytest.raises(PhonemizerError):
        phonemize_words(["x"], "xx-nope")


def test_phoneme_lexicon_inventory_dictionary_and_reductions():
    lexicon = phoneme_lexicon(SENTENCES, "en", min_count=3)
    assert lexicon.kind == PHONEMES and lexicon.language == "en"
    assert {"k", "a", "t", "n", "aI", "s", "m"} <= set(lexicon.units)
    assert _names(lexicon, "knight") == ["n", "aI", "t"] and lexicon.spelling("knight")[1] == "dictionary"
    assert _names(lexicon, "a") == list(lexicon.dictionary["a"])  # the in-sentence form
    # a word never seen: espeak alone, its phonemes mapped into the inventory (rare names reduced or dropped)
    units, source = lexicon.spelling("kit")
    assert source == "espeak" and [lexicon.units[u] for u in units][0] == "k"
    assert reduce_phoneme("I2") == ["I2", "I"] and reduce_phoneme("3:") == ["3:", "3"]
    assert reduce_phoneme("a#") == ["a#", "a"] and reduce_phoneme("n^") == ["n^", "n"]
    assert spelling_sources(lexicon, ["knight", "kit"]) == {"dictionary": ["knight"], "espeak": ["kit"]}
    with pytest.raises(LexiconError, match="no phoneme heard"):
        phoneme_lexicon([("cat",)], "en", min_count=50)


def test_letters_are_the_fallback_when_espeak_gives_no_unit_of_the_model():
    # a model that knows only "q" and "a": espeak's phonemes for "qaqa" (k j u: ...) map to none of them
    lexicon = Lexicon(units=("a#", "q"), kind=PHONEMES, language="en", letters={"q": "q", "a": "a#"},
                      phoneme_map={"k": (), "j": (), "u:": (), "eI": ()})
    assert lexicon.spelling("qqa")[1] == "letters" and _names(lexicon, "qqa") == ["q", "a#"]  # qq: one sound
    assert spelled_by_letters(lexicon, ["qqa", "qqa"], "en") == ["qqa"]
    with pytest.raises(LexiconError, match="neither espeak-ng nor its letters"):
        lexicon.units_of("zzz")
    graphemes = Lexicon.from_words(["cat"] * 5, min_count=1)
    assert spelled_by_letters(graphemes, ["cat"], "en") == []


def test_json_round_trip_old_grapheme_lexicons_and_unit_choice():
    lexicon = phoneme_lexicon(SENTENCES, "en", min_count=3)
    again = Lexicon.from_json(lexicon.to_json())
    assert again == lexicon and _names(again, "kit") == _names(lexicon, "kit")
    old = Lexicon.from_json({"units": ["a", "c", "t"], "dictionary": {}})  # a model.json from before phonemes
    assert old.kind == GRAPHEMES and _names(old, "cat") == ["c", "a", "t"]
    assert "kind" not in old.to_json()  # grapheme models are written as before
    assert spell(lexicon, "mr", "en") == lexicon.units_of("mister")
    assert choose_units("auto", "en") == PHONEMES and choose_units("auto", "es") == PHONEMES
    spanish = [("el", "perro", "come", "queso"), ("la", "casa", "es", "grande")]
    assert choose_units("auto", "en", SENTENCES) == PHONEMES  # deep spelling: silent letters
    assert choose_units("auto", "es", spanish) == GRAPHEMES   # letters are the sounds already
    assert choose_units("phonemes", "es", spanish) == PHONEMES
    assert choose_units("auto", "lg") == GRAPHEMES  # read by a stand-in voice (Swahili's): letters are truer
    assert choose_units("graphemes", "en") == GRAPHEMES and choose_units("auto", "xx-nope") == GRAPHEMES
    with pytest.raises(LexiconError, match="espeak-ng voice"):
        choose_units("phonemes", "xx-nope")
    with pytest.raises(ValueError, match="units must be"):
        AlignerConfig(units="letters")
    assert AlignerConfig.from_json('{"seed": 3}').units == "auto"  # a config saved before the field existed
    extended = extend_lexicon(lexicon, [("cats", "sat")])
    assert extended.units == lexicon.units and "cats" in extended.dictionary and "cats" not in lexicon.dictionary
    assert extend_lexicon(old, [("cats",)]) is old


@pytest.mark.slow
def test_a_tiny_phoneme_aligner_trains_and_aligns_english(tmp_path):
    from corpus.demo.common_voice import SynthCVConfig, synth_common_voice
    from corpus.align.sources import items_from_common_voice
    from corpus.manifest import read_jsonl

    tree = synth_common_voice(SynthCVConfig(language="en", sentences=60, speakers=6, seed=5, invalidated_share=0,
                                            other_share=0), tmp_path / "cv", jobs=2, progress=False)
    items, _ = items_from_common_voice(tree, "en")
    config = AlignerConfig(min_unit_count=2, gmm_mixtures=(1, 1, 2, 4), mlp_rounds=1, mlp_hidden=(64,),
                           mlp_epochs=(3,), calibration_share=0.0)
    model_dir = train_aligner(items, language="en", out_dir=tmp_path / "m", config=config, jobs=2, progress=False)
    model = load_model(model_dir)
    assert model.lexicon.kind == PHONEMES and model.config.units == "auto"  # as given; the lexicon says what was used
    assert model.summary["units"] == PHONEMES and model.summary["words_spelled_by_letters"] == 0
    results = align_items(items[:20], model_dir, jobs=1, progress=False)
    truth = {Path(r["path"]).stem: r for r in read_jsonl(tree / "synthetic_truth.jsonl.gz")}
    errors = []
    for result in results:
        assert result.alignment is not None, result.error
        spoken = truth[result.id]["words"]
        if len(spoken) == len(result.alignment.words):
            errors += [abs(o.start_s - t["start_s"]) for o, t in zip(result.alignment.words, spoken)]
    assert len(errors) > 50 and np.mean(np.asarray(errors) <= 0.04) > 0.8
    assert all(u.text in model.lexicon.units for u in results[0].alignment.units)


def test_filler_takes_untranscribed_speech_between_words():
    """Planted scores: word 0 (unit 0), 12 frames of a word not in the transcript (unit 2), word 1 (unit 1).
    Forced without a filler, the words stretch over that speech; with one, the pause holds it."""
    from corpus.align.aligner import FILLER_LP, with_filler
    from corpus.align.hmm import Topology, build_graph, viterbi

    topo = Topology.uniform(n_units=3, states_per_unit=1, silence_states=1, silence_penalty=-3.0)
    sil = topo.silence_first
    labels = [sil] * 3 + [0] * 8 + [2] * 12 + [1] * 8 + [sil] * 3
    scores = np.full((len(labels), topo.n_classes), -6.0, np.float32)
    scores[np.arange(len(labels)), labels] = 0.0
    plain = build_graph([(0,), (1,)], topo)
    _, path = viterbi(scores, plain)
    word = plain.word[path]
    assert np.count_nonzero(word >= 0) > 16 + 6  # the untranscribed frames went into the words
    filled = build_graph([(0,), (1,)], topo, filler=True)
    assert filled.cls.max() == topo.n_classes and np.array_equal(filled.loop_lp, plain.loop_lp)
    extended = with_filler(scores, topo)
    assert extended.shape[1] == topo.n_classes + 1
    assert np.allclose(extended[3 + 8, -1], 0.0 + FILLER_LP)  # speech in a pause, at a cost
    _, path = viterbi(extended, filled)
    word = filled.word[path]
    assert np.array_equal(np.flatnonzero(word == 0), np.arange(3, 11))
    assert np.array_equal(np.flatnonzero(word == 1), np.arange(23, 31))
