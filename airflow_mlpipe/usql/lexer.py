"""Tokens of U-SQL and its C# expressions (C# string literals, verbatim @"..." strings, chars)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from airflow_mlpipe.usql.errors import UsqlError


@dataclass(frozen=True)
class Token:
    kind: str  # name | var | str | char | num | op | eof
    value: str
    line: int
    quoted: bool = False  # a [bracketed] name: never a keyword

    def is_kw(self, *words: str) -> bool:
        return self.kind == "name" and not self.quoted and self.value.upper() in words


_OPS = sorted(
    [
        "==",
        "!=",
        "<=",
        ">=",
        "&&",
        "||",
        "??",
        "=>",
        "(",
        ")",
        "{",
        "}",
        "[",
        "]",
        ",",
        ";",
        ".",
        "<",
        ">",
        "=",
        "+",
        "-",
        "*",
        "/",
        "%",
        "!",
        "?",
        ":",
    ],
    key=len,
    reverse=True,
)
_NUM = re.compile(r"(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?([lLuUdDfFmM]{0,2})")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESC = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "0": "\0",
    "\\": "\\",
    '"': '"',
    "'": "'",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
}


def _cs_escape(text: str, i: int, line: int, name: str) -> tuple[str, int]:
    """Decode the C# escape at text[i] (just after the backslash); return it and the next index."""
    c = text[i] if i < len(text) else ""
    if c in _ESC:
        return _ESC[c], i + 1
    if c in "uxU":
        width = {"u": 4, "U": 8}.get(c)
        j = i + 1
        digits = ""
        while j < len(text) and text[j] in "0123456789abcdefABCDEF" and len(digits) < (width or 4):
            digits += text[j]
            j += 1
        if digits and (width is None or len(digits) == width):
            return chr(int(digits, 16)), j
    raise UsqlError("string literal", line, f"unknown escape \\{c} in a C# string literal", script=name)


def tokenize(text: str, name: str = "script.usql") -> list[Token]:
    """Split a script into tokens; comments (// and /* */) are dropped."""
    toks: list[Token] = []
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace() or c == "\ufeff":
            i += 1
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise UsqlError("comment", line, "a /* comment is never closed", script=name)
            line += text.count("\n", i, end)
            i = end + 2
        elif c == "@" and i + 1 < n and text[i + 1] == '"':  # verbatim string: "" is a quote
            start, j, buf = line, i + 2, []
            while True:
                if j >= n:
                    raise UsqlError(
                        "string literal", start, 'a verbatim @"..." string is never closed', script=name
                    )
                if text[j] == '"':
                    if j + 1 < n and text[j + 1] == '"':
                        buf.append('"')
                        j += 2
                        continue
                    break
                if text[j] == "\n":
                    line += 1
                buf.append(text[j])
                j += 1
            toks.append(Token("str", "".join(buf), start))
            i = j + 1
        elif c == "@":
            m = re.compile(r"@@?[A-Za-z_][A-Za-z0-9_]*").match(text, i)
            if not m:
                raise UsqlError("@", line, "'@' must start a variable name such as @searchlog", script=name)
            toks.append(Token("var", m.group(0), line))
            i = m.end()
        elif c in "\"'":
            j, buf = i + 1, []
            while True:
                if j >= n or text[j] == "\n":
                    raise UsqlError(
                        "string literal",
                        line,
                        f"a {c}...{c} literal is never closed on its line",
                        script=name,
                    )
                if text[j] == "\\":
                    s, j = _cs_escape(text, j + 1, line, name)
                    buf.append(s)
                    continue
                if text[j] == c:
                    break
                buf.append(text[j])
                j += 1
            value = "".join(buf)
            if c == "'" and len(value) != 1:
                raise UsqlError(
                    "char literal",
                    line,
                    f"'{value}' is not one character; use \"...\" for a string",
                    script=name,
                )
            toks.append(Token("str" if c == '"' else "char", value, line))
            i = j + 1
        elif c == "[":
            end = text.find("]", i)
            inner = text[i + 1 : end] if end > i + 1 else ""
            if re.fullmatch(r"[^\[\]\n]+", inner) and not inner.strip().isdigit() and not _after_value(toks):
                toks.append(Token("name", text[i + 1 : end], line, quoted=True))
                i = end + 1
            else:
                toks.append(Token("op", "[", line))
                i += 1
        elif c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            m = _NUM.match(text, i)
            assert m
            toks.append(Token("num", m.group(0), line))
            i = m.end()
        elif c.isalpha() or c == "_":
            m = _NAME.match(text, i)
            assert m
            toks.append(Token("name", m.group(0), line))
            i = m.end()
        else:
            for op in _OPS:
                if text.startswith(op, i):
                    toks.append(Token("op", op, line))
                    i += len(op)
                    break
            else:
                raise UsqlError(c, line, f"unexpected character {c!r}", script=name)
    toks.append(Token("eof", "", line))
    return toks


def _after_value(toks: list[Token]) -> bool:
    """True when '[' follows a value (an indexer such as arr[0]), not a [quoted name]."""
    if not toks:
        return False
    t = toks[-1]
    return t.kind in ("str", "num", "var") or (t.kind == "op" and t.value in (")", "]"))
