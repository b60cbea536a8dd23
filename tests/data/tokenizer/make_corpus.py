#!/usr/bin/env python3
"""Writes corpus.txt, the tokenizer peer-test corpus (one test record per line, records never
contain a newline; the test also joins blocks of lines with newlines).

Deterministic for a given Python version: a seeded generator plus lines of a fixed list of Python
standard-library modules (code, English comments and docstrings). The committed corpus.txt is the
reference; regenerating it with another Python may change the code lines (that is fine, the
expected ids are produced from whatever corpus.txt holds).

Usage: python3 make_corpus.py [OUT]   (default: corpus.txt next to this script)
"""
import inspect
import os
import random
import sys
import unicodedata

SEED = 20260422
R = random.Random(SEED)

PROSE = {
    "en": ["The quick brown fox jumps over the lazy dog.", "It's a truth universally acknowledged.",
           "We'll see; they've said they'd come, haven't they?", "Numbers like 3.14159 and 2,718 appear.",
           "Mr. O'Neil paid $1,234.56 (incl. VAT) on 2026-04-22.", "Don't PANIC!!! Really?!"],
    "de": ["Über den Wolken muss die Freiheit wohl grenzenlos sein.", "Größe, Maß und Straße — ärgerlich.",
           "Die Bundesstraßenverkehrsordnung ist länger als gedacht."],
    "fr": ["L'été dernier, nous sommes allés à Montréal.", "Ça coûte 12,50 € — n'est-ce pas cher ?",
           "« Bonjour », dit-elle, à l'hôpital Saint-Éloi."],
    "es": ["¿Dónde está la biblioteca? ¡Allí!", "El niño comió piña y jalapeños en Año Nuevo."],
    "ru": ["Съешь же ещё этих мягких французских булок, да выпей чаю.", "Москва — столица России; 2026 год."],
    "el": ["Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.", "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας."],
    "ar": ["مرحبا بالعالم! كيف حالك اليوم؟", "اللغة العربية جميلة جداً ٢٠٢٦"],
    "he": ["שלום עולם, מה שלומך?", "עברית נכתבת מימין לשמאל."],
    "hi": ["नमस्ते दुनिया! आप कैसे हैं?", "हिन्दी भाषा में १२३४ अंक हैं।"],
    "th": ["สวัสดีชาวโลก ยินดีต้อนรับ", "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ"],
    "vi": ["Tiếng Việt có rất nhiều dấu thanh điệu.", "Xin chào thế giới, hôm nay trời đẹp quá!"],
    "ko": ["안녕하세요, 세계! 오늘 날씨가 좋네요.", "한국어는 한글로 씁니다 123개."],
    "ja": ["こんにちは世界。今日はいい天気ですね。", "カタカナとひらがなと漢字を混ぜて書きます。", "東京都渋谷区１－２－３"],
    "zh": ["你好，世界！今天天气很好。", "深度求索公司创造了这个模型，它支持中文和英文。", "热海大滚锅是世界著名温泉吗？",
           "《红楼梦》是中国古典小说的巅峰之作——曹雪芹著。"],
    "tr": ["Pijamalı hasta yağız şoföre çabucak güvendi.", "İstanbul'da ılık bir gün."],
    "pl": ["Zażółć gęślą jaźń.", "Łódź jest dużym miastem w Polsce."],
    "am": ["ሰላም ለዓለም።", "ኢትዮጵያ"],
    "ta": ["வணக்கம் உலகம்!", "தமிழ் மொழி மிகவும் பழமையானது."],
}

SPECIAL = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<think>",
           "</think>", "｜DSML｜", "<｜latest_reminder｜>", "<｜action｜>", "<｜query｜>", "<｜title｜>",
           "<｜tool▁calls▁begin｜>", "<|EOT|>", "<｜▁pad▁｜>", "<|place_holder_mm_span_0021|>",
           "<｜place▁holder▁no▁17｜>", "<dsml:", "</dsml:", "<｜image｜>", "<｜fim▁hole｜>"]
NEAR_SPECIAL = ["<｜User", "｜User｜>", "<think", "think>", "</thin", "<｜DSML｜invoke name=\"f\">",
                "</｜DSML｜parameter>", "<｜begin▁of▁sentence", "<|EOT|", "<||>", "<｜｜>"]
EMOJI = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇯🇵", "🇺🇸", "❤️", "✨", "🤖", "🧑🏿‍🚀", "☕", "🐍", "1️⃣", "©️",
         "🫠", "🥲", "🚀🚀🚀", "💡", "👩🏻‍💻"]
SPACES = [" ", "\t", "\r", "\u3000", "\u00a0", "\u2003", "\u2009", "\u200b", "\u180e", "\u2028",
          "\u0085", "\x0b", "\x0c", "\u202f", "\ufeff"]
DIGITS = ["٠١٢٣٤٥٦٧٨٩", "०१२३४५६७८९", "０１２３４５６７８９", "²³¹", "½¼¾", "ⅫⅣⅨ", "①②③", "𝟘𝟙𝟚"]
STDLIB = ["json.decoder", "textwrap", "string", "shlex", "heapq", "bisect", "fractions", "difflib",
          "argparse", "dataclasses", "pathlib", "csv", "tokenize", "calendar", "statistics",
          "ipaddress", "random", "typing", "functools", "email.utils", "http.client", "urllib.parse",
          "xml.dom.minidom", "unittest.case", "logging"]


def prose_line():
    langs = list(PROSE)
    parts = []
    for _ in range(R.randint(1, 6)):
        lang = R.choice(langs)
        parts.append(R.choice(PROSE[lang]))
    sep = R.choice([" ", "  ", " — ", "", "\t", " | "])
    return sep.join(parts)


def random_scalar(lo, hi):
    while True:
        c = R.randint(lo, hi)
        if 0xD800 <= c <= 0xDFFF or c == 0x0A:
            continue
        return chr(c)


def cjk_line():
    ranges = [(0x4E00, 0x9FA5), (0x3040, 0x309F), (0x30A0, 0x30FF), (0xAC00, 0xD7A3), (0x9FA6, 0x9FFF),
              (0x3400, 0x4DBF), (0xFF01, 0xFF5E), (0x3000, 0x303F), (0x20000, 0x2A6DF)]
    out = []
    for _ in range(R.randint(1, 12)):
        lo, hi = R.choice(ranges)
        out.append("".join(random_scalar(lo, hi) for _ in range(R.randint(1, 20))))
        if R.random() < 0.4:
            out.append(R.choice(["，", "。", " ", "a", "1", "、", "！", "?", "Ab"]))
    return "".join(out)


def random_unicode_line():
    out = []
    for _ in range(R.randint(1, 60)):
        plane = R.random()
        if plane < 0.6:
            ch = random_scalar(0x20, 0xFFFF)
        elif plane < 0.9:
            ch = random_scalar(0x10000, 0x2FFFF)
        else:
            ch = random_scalar(0x20, 0x10FFFF)
        if ch == "\n":
            continue
        out.append(ch)
    return "".join(out)


def assigned_unicode_line():
    out = []
    while len(out) < R.randint(5, 80):
        ch = random_scalar(0x20, 0x2FFFF)
        if unicodedata.category(ch) in ("Cn", "Co", "Cs") or ch == "\n":
            continue
        out.append(ch)
    return "".join(out)


def emoji_line():
    words = ["ok", "great", "done", "很好", "今日", " ", "!", "..", "\u200d"]
    return "".join(R.choice(EMOJI + words) for _ in range(R.randint(1, 15)))


def whitespace_line():
    kind = R.random()
    if kind < 0.3:
        return "x" + " " * R.randint(1, 5000) + "y"
    if kind < 0.5:
        return "".join(R.choice(SPACES) for _ in range(R.randint(1, 300))) + R.choice(["", "end", "。", "1"])
    if kind < 0.7:
        return "\t" * R.randint(1, 50) + "def f():" + " " * R.randint(0, 40) + "\r" * R.randint(0, 3)
    return " ".join(R.choice(["a", "", "  ", "\r\r", " \r", "b\r", "\t"]) for _ in range(R.randint(2, 60)))


def digits_line():
    out = []
    for _ in range(R.randint(1, 10)):
        k = R.random()
        if k < 0.5:
            out.append(str(R.randint(0, 10 ** R.randint(1, 30))))
        elif k < 0.7:
            out.append(f"{R.uniform(-1e6, 1e6):.{R.randint(0, 8)}f}")
        else:
            s = R.choice(DIGITS)
            out.append("".join(R.choice(s) for _ in range(R.randint(1, 10))))
        out.append(R.choice([" ", ",", "", "-", "+", "x", " = ", "年", "%"]))
    return "".join(out)


def special_line():
    out = []
    for _ in range(R.randint(1, 10)):
        k = R.random()
        if k < 0.4:
            out.append(R.choice(SPECIAL))
        elif k < 0.6:
            out.append(R.choice(NEAR_SPECIAL))
        else:
            out.append(R.choice([prose_line()[:40], " ", "hello", "你好", "\t", "{\"a\": 1}", ""]))
    return "".join(out)


def byte_alphabet_line():
    alphabet = "ĠġĢģĤĥĦħĨĩĪīĬĭĮįİıĲĳĴĵĶķĸĹĺĻļĽľĿŀŁłŃ" + "ÑĤÐ²ÑĬÑĢ" + "âĢĻ"
    return "".join(R.choice(alphabet + " abc") for _ in range(R.randint(1, 40)))


def invalid_utf8_line():
    base = R.choice([prose_line, cjk_line, emoji_line, digits_line])().encode("utf-8")
    bad = [b"\xff", b"\xfe", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80",
           b"\xbf\xbf", b"\xe2\x82", b"\xf0\x9f\x98", b"\xc3", b"\xf8\x88\x80\x80\x80", b"\xe6\x97"]
    data = bytearray(base)
    for _ in range(R.randint(1, 5)):
        pos = R.randint(0, len(data))
        data[pos:pos] = R.choice(bad)
    if R.random() < 0.3 and len(data) > 2:  # cut a multi-byte character in half
        data = data[: R.randint(1, len(data) - 1)]
    return bytes(data).replace(b"\n", b" ")


def code_lines():
    lines = []
    for name in STDLIB:
        module = __import__(name, fromlist=["_"])
        src = inspect.getsource(module)
        lines.extend(src.split("\n"))
    return lines


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus.txt")
    code = [l for l in code_lines() if "\r" not in l]
    makers = [(prose_line, 4000), (cjk_line, 2500), (random_unicode_line, 1500), (assigned_unicode_line, 2000),
              (emoji_line, 1200), (whitespace_line, 1200), (digits_line, 1500), (special_line, 1500),
              (byte_alphabet_line, 400), (invalid_utf8_line, 1200)]
    records = []
    for maker, count in makers:
        for _ in range(count):
            rec = maker()
            records.append(rec if isinstance(rec, bytes) else rec.encode("utf-8", "surrogatepass"))
    R.shuffle(records)
    # Code keeps its order (indentation runs, blank lines) in stretches between the generated lines.
    merged = []
    ci = 0
    for rec in records:
        merged.append(rec)
        if R.random() < 0.05:
            take = R.randint(5, 25)
            merged.extend(l.encode("utf-8") for l in code[ci: ci + take])
            ci = (ci + take) % max(1, len(code))
    with open(out_path, "wb") as f:
        for rec in merged:
            assert b"\n" not in rec
            f.write(rec + b"\n")
    print(f"wrote {len(merged)} lines, {sum(len(r) + 1 for r in merged)} bytes to {out_path}")


if __name__ == "__main__":
    main()
