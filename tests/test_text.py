import pytest

from corpus.text import clean_unicode, derive_alphabet, is_logographic, normalize_words, rules_for


def words(text, lang="lg"):
    return normalize_words(text, rules_for(lang)).words


def test_basic_normalization():
    assert words("Akawuka ka Corona, kaleeta SENYIGA!") == ("akawuka", "ka", "corona", "kaleeta", "senyiga")


def test_odd_unicode_is_cleaned():
    odd = "\u200fA\u200bka\u00adwuka\u00a0\u201ccorona\u201d\uff0c se\u0301nyiga\uff0e"
    assert words(odd) == ("akawuka", "corona", "sényiga")
    assert clean_unicode("ｆｕｌｌ　width") == "full width"


def test_apostrophes_and_hyphens_by_language():
    assert words("Ng'ombe n’abantu", "sw") == ("ng'ombe", "n'abantu")
    assert words("L'école d’été", "fr") == ("l", "école", "d", "été")
    assert words("well-known 'quoted' end-", "en") == ("well", "known", "quoted", "end")


def test_digits_policy():
    assert normalize_words("room 42 please", rules_for("en")).excluded
    from corpus.text import TextRules
    assert normalize_words("room 42 please", TextRules(language="en", digits="drop_token")).words == ("room", "please")
    assert normalize_words("room 42", TextRules(language="en", digits="keep")).words == ("room", "42")


def test_hostile_tokens_lose_their_path_characters():
    assert words("okugema ../x con a/b") == ("okugema", "x", "con", "a", "b")
    assert normalize_words("../ ... !!", rules_for("lg")).excluded == "no words"


def test_turkic_i():
    assert words("IĞDIR İstanbul", "tr") == ("ığdır", "istanbul")
    assert words("IN", "en") == ("in",)


def test_lowercase_keeps_spelling():
    assert words("Straße", "de") == ("straße",)


def test_alphabet_drops_rare_characters():
    corpus = ["akawuka"] * 50 + ["corona"] * 50 + ["qx"]
    alphabet = derive_alphabet(corpus, min_count=5)
    assert "q" not in alphabet and "x" not in alphabet and set("akwuconr") <= set(alphabet)


@pytest.mark.parametrize("word,expected", [("東京", True), ("ひらがな", True), ("akawuka", False), ("", False)])
def test_logographic(word, expected):
    assert is_logographic(word) is expected
