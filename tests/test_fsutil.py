import pytest

from corpus.fsutil import atomic_open, atomic_write_text, safe_name


def test_atomic_open_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as handle:
            handle.write("new half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


@pytest.mark.parametrize("word", ["../x", "..", ".", "a/b", "a\\b", "con", "NUL.txt", "x\x00y", "zero\u200bwidth",
                                  "", "   ", "ok:name", "\u202eevil"])
def test_safe_name_never_escapes(word, tmp_path):
    name = safe_name(word)
    assert name and name not in (".", "..")
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert name.split(".")[0].lower() not in ("con", "nul")
    path = (tmp_path / name).resolve()
    assert path.parent == tmp_path.resolve()
    path.mkdir()  # the filesystem accepts it


def test_safe_name_keeps_ordinary_words_and_is_deterministic():
    for word in ["akawuka", "señor", "ng'ombe", "straße", "東京"]:
        assert safe_name(word) == word
    long = "a" * 300
    assert safe_name(long) == safe_name(long) and len(safe_name(long).encode()) <= 120
    assert safe_name(long) != safe_name("a" * 299 + "b")
