"""Decoding the bytes of a text export: BOMs, UTF-16 without BOM, UTF-8, GB18030, Big5, and a last guess.

Chinese exports come from Excel (UTF-16 "Unicode Text", GBK CSV), WPS, survey tools and shop
back-ends (UTF-8 with or without BOM), and Taiwan/Hong Kong systems (Big5). Decoders are strict:
bytes are never replaced, so a wrong guess is an error with its line, not silent mojibake.
"""

from __future__ import annotations

import codecs

from .errors import TableError

# Decoders tried without a BOM, in this order, all strict. GB18030 is a superset of GBK/GB2312;
# CP950 is Big5 with the Microsoft extensions Windows writes.
STRICT_ENCODINGS = ("utf-8", "gb18030", "big5", "cp950")
# What charset-normalizer may propose when none of the above decodes: structured legacy encodings
# only (never latin-1, which "decodes" anything).
GUESSABLE_ENCODINGS = ("big5hkscs", "cp932", "euc_jp", "cp949", "cp1252")
ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with BOM",
    "utf-16": "UTF-16",
    "utf-16-le": "UTF-16 LE",
    "utf-16-be": "UTF-16 BE",
    "utf-32": "UTF-32",
    "gb18030": "GB18030",
    "big5": "Big5",
    "cp950": "Big5 (CP950)",
}
# Only this much of a file is measured for the Big5/GB18030 choice and the UTF-8 damage check.
SAMPLE_CHARS = 200_000


def bom_encoding(data: bytes) -> str | None:
    """The codec a byte-order mark names, else None."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' when NUL bytes sit on one side of each pair, as UTF-16 text has them."""
    sample = data[:8192]
    sample = sample[: len(sample) // 2 * 2]
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    # Every ASCII character (newline, delimiter, digit) puts its NUL on the same side; binary data has both.
    if odd >= 2 and odd >= 20 * even:
        encoding = "utf-16-le"
    elif even >= 2 and even >= 20 * odd:
        encoding = "utf-16-be"
    else:
        return None
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
    except UnicodeDecodeError:
        return None
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\r\n")
    return encoding if controls * 100 <= len(text) else None


def decode_bytes(data: bytes, name: str = "the file") -> tuple[str, str]:
    """Decode ``data`` with the first strict decoder that fits; return (codec name, text).

    Order: BOM (UTF-8/16/32), UTF-16 by NUL pattern, UTF-8, GB18030, Big5/CP950 (Big5 wins over
    GB18030 only when both decode and its characters are clearly more common Chinese), then
    charset-normalizer restricted to a few structured legacy encodings. Never replaces bytes.
    """
    bom = bom_encoding(data)
    if bom:
        return bom, _strict(data, bom, name)
    utf16 = utf16_without_bom(data)
    if utf16:
        return utf16, _strict(data, utf16, name)
    failures: dict[str, UnicodeDecodeError] = {}
    decoded: dict[str, str] = {}
    for encoding in STRICT_ENCODINGS:
        if encoding == "cp950" and "big5" in decoded:
            continue
        try:
            decoded[encoding] = data.decode(encoding)
        except UnicodeDecodeError as exc:
            failures[encoding] = exc
            if encoding == "utf-8" and _mostly_utf8(data):
                raise TableError(
                    f"{name}: line {_line_of(data, exc.start)} is not valid UTF-8 although the rest "
                    f"of the file is (byte 0x{data[exc.start]:02x}): the file is damaged or mixes "
                    "encodings; fix that line or re-save the file as CSV UTF-8 (编码错误)"
                ) from None
            continue
        if encoding == "utf-8":
            return encoding, decoded[encoding]
    big5 = next((e for e in ("big5", "cp950") if e in decoded), None)
    if "gb18030" in decoded and big5:
        if _common_chinese_share(decoded[big5]) > _common_chinese_share(decoded["gb18030"]):
            return big5, decoded[big5]
        return "gb18030", decoded["gb18030"]
    if "gb18030" in decoded:
        return "gb18030", decoded["gb18030"]
    if big5:
        return big5, decoded[big5]
    guessed = _guess_encoding(data)
    if guessed:
        return guessed
    encoding, exc = max(failures.items(), key=lambda item: item[1].start)
    raise TableError(
        f"{name}: cannot decode line {_line_of(data, exc.start)} (byte 0x{data[exc.start]:02x}) as "
        "UTF-8, GB18030 or Big5: re-save the file as CSV UTF-8 (Excel: Save As > CSV UTF-8) (无法识别编码)"
    )


def _strict(data: bytes, encoding: str, name: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].decode(encoding, errors="ignore").count("\n") + 1
        pretty = ENCODING_NAMES.get(encoding, encoding)
        raise TableError(
            f"{name}: line {line} is not valid {pretty} although the file says it is: fix that line "
            "or re-save the file as CSV UTF-8 (编码错误)"
        ) from None


def _line_of(data: bytes, position: int) -> int:
    return data.count(b"\n", 0, position) + 1


def _mostly_utf8(data: bytes) -> bool:
    """True when almost every non-ASCII sequence is valid UTF-8: a damaged UTF-8 file, not GB18030."""
    measured = data[: 1 << 20].decode("utf-8", errors="replace")  # measuring only; never returned
    bad = measured.count("\ufffd")
    good = sum(1 for ch in measured if ord(ch) > 127) - bad
    return good >= 8 and good >= 4 * bad


_GB2312_LEVEL1 = (0xB0A1, 0xD7FE)  # the 3,755 most common simplified characters
_BIG5_FREQUENT = (0xA440, 0xC67E)  # the 5,401 common traditional characters
_CJK_PUNCT = set("，。！？、；：“”‘’（）《》【】…—～·「」『』﹐﹑")
_common_cache: dict[str, bool] = {}


def _is_common_chinese(ch: str) -> bool:
    known = _common_cache.get(ch)
    if known is not None:
        return known
    common = ch in _CJK_PUNCT or "\uff01" <= ch <= "\uff5e"
    for encoding, (low, high) in (("gb2312", _GB2312_LEVEL1), ("big5", _BIG5_FREQUENT)):
        if common:
            break
        try:
            encoded = ch.encode(encoding)
        except UnicodeEncodeError:
            continue
        common = len(encoded) == 2 and low <= int.from_bytes(encoded, "big") <= high
    _common_cache[ch] = common
    return common


def _common_chinese_share(text: str) -> float:
    """Share of non-ASCII characters that are common Chinese characters or punctuation.

    Big5 bytes read as GB18030 (or the reverse) give rare characters and symbols, so the right
    reading scores near 1 and the wrong one far lower.
    """
    wide = [ch for ch in text[:SAMPLE_CHARS] if ord(ch) > 127]
    if not wide:
        return 1.0
    return sum(map(_is_common_chinese, wide)) / len(wide)


def _guess_encoding(data: bytes) -> tuple[str, str] | None:
    """charset-normalizer as a last resort, limited to structured encodings, then decoded strictly."""
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - it ships with transformers' requests
        return None
    best = from_bytes(data, cp_isolation=list(GUESSABLE_ENCODINGS)).best()
    if best is None or best.encoding not in GUESSABLE_ENCODINGS:
        return None
    try:
        return best.encoding, data.decode(best.encoding)
    except UnicodeDecodeError:
        return None


__all__ = [
    "ENCODING_NAMES",
    "GUESSABLE_ENCODINGS",
    "STRICT_ENCODINGS",
    "bom_encoding",
    "decode_bytes",
    "utf16_without_bom",
]
