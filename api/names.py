"""A guest's name split into the PMS's clients.name, name_kana and name_kanji, as the PMS does."""

from __future__ import annotations

import re
import unicodedata

import msgspec


class PmsName(msgspec.Struct, frozen=True):
    """A clients row's three name columns: `name` is latin (NOT NULL), the others may be null."""

    name: str
    name_kana: str | None
    name_kanji: str | None


# JavaScript's \s and trim(): Python's \s and strip() also take U+001C-U+001F and miss U+FEFF.
_SPACES = re.compile("[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+")
_LENTICULAR = re.compile("[【〖〘〚][^】〗〙〛]*[】〗〙〛]")
_SQUARE = re.compile(r"\[[^\]]*\]")

_KANJI = re.compile("[\u4e00-\u9faf]")
_KANA = re.compile("[\u3040-\u309f\u30a0-\u30ff]")
_HALF_WIDTH_KANA = re.compile("[\uff65-\uff9f]")

_ASCII_OF_FULL_WIDTH: dict[int, int | str] = {
    code: code - 0xFEE0
    for start, end in ((0xFF10, 0xFF19), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A))
    for code in range(start, end + 1)
}
_ASCII_OF_FULL_WIDTH[0x3000] = " "
# The PMS shifts the whole hiragana block, its marks included (゜ becomes ー, ゝ becomes ヽ).
_KATAKANA_OF_HIRAGANA: dict[int, int | str] = {code: code + 0x60 for code in range(0x3040, 0x30A0)}

# clients.js processNameStringWithSubstitutions, in its order: where name_kanji holds the
# kanji (or katakana) word, the romaji pattern becomes the company-style word.
_SUBSTITUTIONS = (
    ("deeta", " Data ", "データ"),
    ("denkou", " Denkou ", "電工"),
    ("gijutsu", " Gijutsu ", "技術"),
    ("giken", " Giken ", "技研"),
    ("guruupu", " Group ", "グループ"),
    ("hausu", " House ", "ハウス"),
    ("hokkaidou", " Hokkaido ", "北海道"),
    ("hoomu", " Home ", "ホーム"),
    ("hoorudeingusu", " Holdings ", "ホールディングス"),
    ("japan", " Japan ", "ジャパン"),
    ("kabushikigaisha", " K.K ", "株式会社"),
    ("kensetsu", " Kensetsu ", "建設"),
    ("kikou", " Kikou ", "機工"),
    ("konsarutanto", " Consultant ", "コンサルタント"),
    ("kougyou", " Kogyo ", "工業"),
    ("kougyou", " Kogyo ", "興業"),
    ("kougyou", " Kogyo ", "鋼業"),
    ("koumuten", " Koumuten ", "工務店"),
    ("kureen", " Crane ", "クレーン"),
    ("nihon", " Nihon ", "日本"),
    ("sangyou", " Sangyo ", "産業"),
    ("setsubi", " Setsubi ", "設備"),
    ("shisutemu", " System ", "システム"),
    ("sapporo", " Sapporo ", "札幌"),
    ("tekkou", " Tekkou ", "鉄工"),
    ("tosou", " Tosou ", "塗装"),
)

# wanakana 5.3.1's Hepburn table (src/utils/kanaToRomajiMap.js), keyed by hiragana as there:
# toRomaji turns katakana into hiragana first. Its ゔぁ, ゔぃ, ゔぇ, ゔぉ keys are never reached
# by its character-by-character walk (ヴァ gives "vua"), so they are left out.
_BASIC = {
    kana: romaji
    for row in (
        "あ:a い:i う:u え:e お:o",
        "か:ka き:ki く:ku け:ke こ:ko",
        "さ:sa し:shi す:su せ:se そ:so",
        "た:ta ち:chi つ:tsu て:te と:to",
        "な:na に:ni ぬ:nu ね:ne の:no",
        "は:ha ひ:hi ふ:fu へ:he ほ:ho",
        "ま:ma み:mi む:mu め:me も:mo",
        "ら:ra り:ri る:ru れ:re ろ:ro",
        "や:ya ゆ:yu よ:yo",
        "わ:wa ゐ:wi ゑ:we を:wo",
        "ん:n",
        "が:ga ぎ:gi ぐ:gu げ:ge ご:go",
        "ざ:za じ:ji ず:zu ぜ:ze ぞ:zo",
        "だ:da ぢ:ji づ:zu で:de ど:do",
        "ば:ba び:bi ぶ:bu べ:be ぼ:bo",
        "ぱ:pa ぴ:pi ぷ:pu ぺ:pe ぽ:po",
        "ゔ:vu",
    )
    for kana, romaji in (pair.split(":") for pair in row.split())
}
# Full-width punctuation is what this table maps, hence the noqa.
_SYMBOLS = dict(
    zip(
        "。、：・！？〜ー「」『』［］（）｛｝\u3000",  # noqa: RUF001
        ".,:/!?~-‘’“”[](){} ",  # noqa: RUF001
        strict=True,
    )
)
_SMALL_Y = {"ゃ": "ya", "ゅ": "yu", "ょ": "yo"}
_SMALL_VOWELS = {"ぁ": "a", "ぃ": "i", "ぅ": "u", "ぇ": "e", "ぉ": "o"}
_YOON = "きにひみりぎびぴゔくふ"
_YOON_EXCEPTIONS = {"し": "sh", "ち": "ch", "じ": "j", "ぢ": "j"}
# っ doubles these first letters, c as t (っち is tchi); before anything else it is silent.
_SOKUON = {consonant: consonant for consonant in "bdfghjkmpqrstvwxz"} | {"c": "t"}
_AMBIGUOUS_AFTER_N = "あいうえおやゆよ"
_LONG_VOWELS = {"a": "あ", "i": "い", "u": "う", "e": "え", "o": "う"}


def _hepburn() -> dict[str, str]:
    """wanakana's kana tree, flattened: every key's prefixes are keys too, so the longest key
    that starts a text is where wanakana's walk down the tree stops."""
    table = _BASIC | _SYMBOLS | _SMALL_Y | _SMALL_VOWELS
    for kana in _YOON:
        for small, romaji in (_SMALL_Y | {"ぃ": "yi", "ぇ": "ye"}).items():
            table[kana + small] = table[kana][0] + romaji
    for kana, head in _YOON_EXCEPTIONS.items():
        for small, romaji in _SMALL_Y.items():
            table[kana + small] = head + romaji[1]
        table[kana + "ぃ"] = head + "yi"
        table[kana + "ぇ"] = head + "e"
    # っ copies the tree as it stands here: the n' pairs below come later, so っんあ is "na".
    table |= {"っ" + kana: _SOKUON.get(romaji[0], "") + romaji for kana, romaji in table.items()}
    table["っ"] = ""
    for vowel in _AMBIGUOUS_AFTER_N:
        table["ん" + vowel] = "n'" + table[vowel]
    return table


_HEPBURN = _hepburn()
_LONGEST = max(map(len, _HEPBURN))


def _katakana_to_hiragana(text: str) -> str:
    """wanakana's katakanaToHiragana on the way to romaji: ー after katakana repeats its vowel
    (スーパー is suupaa, コーヒー koohii) and is dropped after ン or ッ; ー elsewhere stays."""
    out: list[str] = []
    previous = ""
    for index, char in enumerate(text):
        if char in "・ヵヶ" or (char == "ー" and index == 0):
            out.append(char)
        elif char == "ー" and previous:
            vowel = _HEPBURN.get(previous, previous)[-1:]
            katakana_o = vowel == "o" and "\u30a1" <= text[index - 1] <= "\u30fc"
            out.append("お" if katakana_o else _LONG_VOWELS.get(vowel, ""))
        elif char != "ー" and "\u30a1" <= char <= "\u30fc":
            previous = chr(ord(char) - 0x60)
            out.append(previous)
        else:
            previous = ""
            out.append(char)
    return "".join(out)


def _to_romaji(kana: str) -> str:
    """wanakana's toRomaji with its default options; anything not kana passes through."""
    text = _katakana_to_hiragana(kana)
    out: list[str] = []
    start = 0
    while start < len(text):
        for size in range(min(_LONGEST, len(text) - start), 0, -1):
            romaji = _HEPBURN.get(text[start : start + size])
            if romaji is not None:
                out.append(romaji)
                start += size
                break
        else:
            out.append(text[start])
            start += 1
    return "".join(out)


def _romaji_name(kana: str, silent: str) -> str:
    """clients.js transliterateKanaToRomaji, or `silent` where wanakana gives no letters (a lone
    ッ), as clients.name must not be blank. Its width folding before toRomaji is left out: the
    kana reaching here is NFKC'd or already folded, but for ｡｢｣､ (U+FF61-U+FF64), which the
    PMS would turn into C1 control characters and wanakana passes through unchanged."""
    romaji = " ".join(word[:1].upper() + word[1:].lower() for word in _to_romaji(kana).split(" "))
    return romaji if romaji.strip(" ") else silent


def _collapse(text: str) -> str:
    return _SPACES.sub(" ", text).strip(" ")


def _sanitize(text: str) -> str:
    """reservations/main.js sanitizeName: OTA notes such as 【会員】 or [VIP] are not the name."""
    return _collapse(_SQUARE.sub("", _LENTICULAR.sub("", text)))


def _to_katakana(text: str) -> str:
    return text.translate(_KATAKANA_OF_HIRAGANA)


def _reading(name_kana: str | None) -> str | None:
    """The booking engine's reading as the PMS stores it (toFullWidthKana, whose NFKC leaves no
    half-width kana for its second pass), in katakana; one that sanitizes to nothing is none."""
    text = _sanitize(name_kana or "")
    return _to_katakana(unicodedata.normalize("NFKC", text)) if text else None


def _substitute(name: str, name_kanji: str) -> str:
    for pattern, replacement, kanji in _SUBSTITUTIONS:
        if kanji in name_kanji:
            # JavaScript's /i without /u folds ASCII letters only (not K to the Kelvin sign).
            name = re.sub(pattern, replacement, name, flags=re.IGNORECASE | re.ASCII)
    return _collapse(name)


def split_name(name: str, name_kana: str | None = None) -> PmsName:
    """The name columns the PMS writes for a guest's `name` and the booking engine's `name_kana`
    (its sanitizeName, processNameString and addOTAReservation), once the bracketed notes go:

    - kanji in the name: name_kanji is the name. The PMS reads it with a dictionary, which we
      have not: the reading is `name_kana` and `name` its romaji, or with no `name_kana`,
      name_kana is None and `name` the name itself. Its company-word substitutions apply.
    - kana (or half-width kana) without kanji: name_kana is the name in full-width katakana,
      `name` its romaji.
    - else: `name` is the name with full-width letters and digits made ASCII.

    A `name_kana` that is more than notes is always the name_kana, in full-width katakana
    where the PMS keeps the booking engine's hiragana. A name that is only notes is kept
    whole, where the PMS fails. Raises ValueError for a blank name."""
    text = _sanitize(name) or _collapse(name)
    if not text:
        raise ValueError("a guest's name must have a non-blank character")
    reading = _reading(name_kana)
    if _KANJI.search(text):
        romaji = _romaji_name(reading, text) if reading else text
        return PmsName(_substitute(romaji, text), reading, text)
    half_width = _HALF_WIDTH_KANA.search(text)
    if half_width or _KANA.search(text):
        if half_width:
            text = unicodedata.normalize("NFKC", text)
        kana = _to_katakana(text.translate(_ASCII_OF_FULL_WIDTH))
        return PmsName(_romaji_name(kana, kana), reading or kana, None)
    return PmsName(text.translate(_ASCII_OF_FULL_WIDTH), reading, None)
