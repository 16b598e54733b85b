"""Guest names split as the PMS writes its clients rows (the expected values are the PMS's own
for the same input, wanakana 5.3.1 doing the romaji, but where a test says otherwise)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.names import PmsName, split_name

# What JavaScript's \s and trim() take as white space.
JS_SPACES = "\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(
    map(chr, range(0x2000, 0x200B))
)


def test_katakana_is_the_kana_and_its_romaji_the_name() -> None:
    assert split_name("ヤマダ タロウ") == PmsName("Yamada Tarou", "ヤマダ タロウ", None)


def test_hiragana_becomes_katakana() -> None:
    assert split_name("やまだ") == PmsName("Yamada", "ヤマダ", None)


def test_half_width_kana_becomes_full_width() -> None:
    assert split_name("ﾔﾏﾀﾞ") == PmsName("Yamada", "ヤマダ", None)
    assert split_name("ｻﾄｳ ｹﾝｲﾁ１") == PmsName("Satou Ken'ichi1", "サトウ ケンイチ1", None)


def test_kanji_is_kept_and_the_given_kana_is_the_reading() -> None:
    assert split_name("山田 太郎", "ヤマダ タロウ") == PmsName(
        "Yamada Tarou", "ヤマダ タロウ", "山田 太郎"
    )
    assert split_name("山田　太郎", "ﾔﾏﾀﾞ ﾀﾛｳ") == PmsName(
        "Yamada Tarou", "ヤマダ タロウ", "山田 太郎"
    )


def test_kanji_without_a_reading_is_also_the_name() -> None:
    """Deliberately unlike the PMS, which guesses a reading from a dictionary: no reading is
    better than a wrong one."""
    assert split_name("山田太郎") == PmsName("山田太郎", None, "山田太郎")


def test_latin_stays_as_written() -> None:
    assert split_name("John Smith") == PmsName("John Smith", None, None)
    assert split_name("Müller", "ミュラー") == PmsName("Müller", "ミュラー", None)
    full_width = "ＪＯＨＮ　ｓｍｉｔｈ"  # noqa: RUF001
    assert split_name(full_width) == PmsName("JOHN smith", None, None)


def test_a_given_kana_is_the_kana_even_beside_a_kana_name() -> None:
    assert split_name("ヤマダ", "サトウ") == PmsName("Yamada", "サトウ", None)


def test_a_given_hiragana_reading_is_stored_in_katakana() -> None:
    """Unlike the PMS, which stores the booking engine's hiragana as it came."""
    assert split_name("John Smith", "じょん すみす").name_kana == "ジョン スミス"
    assert split_name("山田", "やまだ") == PmsName("Yamada", "ヤマダ", "山田")


def test_bracketed_notes_and_extra_spaces_go() -> None:
    assert split_name("【楽天会員】山田 太郎 [VIP]", "[要確認] ヤマダ タロウ") == PmsName(
        "Yamada Tarou", "ヤマダ タロウ", "山田 太郎"
    )
    assert split_name("  〖VIP〗ヤマダ\u3000\u3000タロウ \t") == PmsName(
        "Yamada Tarou", "ヤマダ タロウ", None
    )


def test_a_name_that_is_only_notes_is_kept_whole() -> None:
    """The PMS fails on it; clients.name must not be empty."""
    assert split_name(" 【VIP】 ") == PmsName("【VIP】", None, None)
    assert split_name("[不明]") == PmsName("[不明]", None, "[不明]")


def test_a_kana_that_is_only_notes_is_no_kana() -> None:
    """The PMS stores an empty name_kana then."""
    assert split_name("John Smith", " [なし] ") == PmsName("John Smith", None, None)
    assert split_name("ヤマダ", "") == PmsName("Yamada", "ヤマダ", None)


@pytest.mark.parametrize("blank", ["", "   ", "\u3000", "\t\n"])
def test_a_blank_name_is_refused(blank: str) -> None:
    with pytest.raises(ValueError, match="non-blank"):
        split_name(blank, "ヤマダ")


@pytest.mark.parametrize(
    ("kanji", "kana", "name"),
    [
        ("山田建設株式会社", "ヤマダケンセツカブシキガイシャ", "Yamada Kensetsu K.K"),
        ("株式会社ジャパンホーム", "カブシキガイシャジャパンホーム", "K.K Japan Home"),
        ("北海道日本工業", "ホッカイドウニホンコウギョウ", "Hokkaido Nihon Kogyo"),
        ("札幌システム株式会社", "サッポロシステムカブシキガイシャ", "Sapporo System K.K"),
        ("日本", "ニッポン", "Nippon"),
    ],
)
def test_company_words_are_substituted_where_the_kanji_has_them(
    kanji: str, kana: str, name: str
) -> None:
    assert split_name(kanji, kana) == PmsName(name, kana, kanji)


def test_company_words_need_the_kanji() -> None:
    assert split_name("カブシキガイシャ").name == "Kabushikigaisha"


@pytest.mark.parametrize(
    ("kana", "name"),
    [
        ("シャ チ ツ フ ジ ヂ ヅ ヲ", "Sha Chi Tsu Fu Ji Ji Zu Wo"),
        ("マッチャ ハットリ ベッド", "Matcha Hattori Beddo"),
        ("かっぱ　たった　しゅっしゅ ちゃっちゃ　やっつ", "Kappa Tatta Shusshu Chatcha Yattsu"),
        ("ホンダ シンイチ おんよみ", "Honda Shin'ichi On'yomi"),
        ("んんにんにんにゃんやん", "Nnninninnyan'yan"),
        ("ヴ ヴィ ティ ディ ジェ ファ ウィ", "Vu Vyi Tei Dei Je Fua Ui"),
        ("ァ ャ ジョン・スミス", "A Ya Jon/sumisu"),
        # After katakana ー repeats the vowel, オー as oo; the PMS makes hiragana katakana
        # first, so げーむ is geemu, not wanakana's ge-mu for hiragana.
        ("スーパー コーヒー ケーコ ばつげーむ", "Suupaa Koohii Keeko Batsugeemu"),
        # wanakana drops ー after ン and ッ; ー first in a text or after ・ is a hyphen.
        ("ーア ンー ・ー アーー", "-a N /- Aaa"),
    ],
)
def test_romaji_is_wanakanas_hepburn_with_each_word_capitalized(kana: str, name: str) -> None:
    assert split_name(kana).name == name


def test_kana_with_no_romaji_is_its_own_name() -> None:
    """wanakana gives nothing for a lone ッ, and the PMS would store that empty name."""
    assert split_name("ッ") == PmsName("ッ", "ッ", None)
    assert split_name("山田", "ッ") == PmsName("山田", "ッ", "山田")


@given(st.text(), st.one_of(st.none(), st.text()))
def test_the_name_is_never_blank(name: str, name_kana: str | None) -> None:
    if not name.strip(JS_SPACES):
        with pytest.raises(ValueError):
            split_name(name, name_kana)
        return
    split = split_name(name, name_kana)
    assert split.name.strip(" ")
    assert split.name_kana is None or split.name_kana.strip(" ")
