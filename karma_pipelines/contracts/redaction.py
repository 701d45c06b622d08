"""Redaction of secrets, once, at the edge where a source reads its input: no stage after it (tables,
pickles, Git state, MLflow, Dagster metadata, CLI output) ever sees a raw secret value.

What is a secret:
- by field name: `password`, `secret`, `token`, `api_key`, `private_key`, `credential`, `dsn`, ... and
  environment-variable style `*_KEY` names (`STRIPE_KEY`, `AWS_SECRET_ACCESS_KEY`); every value under a
  `secrets` list;
- in name/value lists (ECS `environment: [{"name": "DB_PASSWORD", "value": ...}]`, `key`/`value` too):
  the value of a secret name;
- by value, anywhere (also in free text such as commit messages): access keys and tokens of well-known
  shapes (AWS, GitHub, GitLab, Slack, Stripe, JWT, private keys), passwords in URLs, `password=...` /
  `password is ...` phrases, and long high-entropy strings (mixed-case letters and digits: not hex
  digests or commit ids, which stay).
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from karma_pipelines.contracts.entry_memo import MEMO_DEPTH, EntryMemo

REDACTED = "***REDACTED***"
_SECRET_NAME = re.compile(
    r"(pass(word|wd|phrase)?|pwd|secret|token|api[_-]?key|private[_-]?key|credential|auth|dsn"
    r"|conn(ection)?_?string|access[_-]?key|signing[_-]?key|encryption[_-]?key)",
    re.IGNORECASE,
)
_ENV_KEY = re.compile(r"^[A-Z0-9_]*_KEY$")  # an environment variable named like a key: STRIPE_KEY
# Tokens and keys of a known shape, replaced wherever they appear.
_TOKEN = re.compile(
    r"(AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}|[sr]k_(live|test)_[A-Za-z0-9]{16,}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"
)
_URL_PASSWORD = re.compile(r"(://[^/\s:@]+:)([^@\s/]+)(@)")  # the password of `scheme://user:password@host`
# Any secret of a known shape (also the prefilter of `validation.quarantine` for raw lines).
_SECRET_VALUE = re.compile(f"{_TOKEN.pattern}|{_URL_PASSWORD.pattern}")
# `password=hunter2`, `password: "x"`, `token is abc`: the name stays, the value goes.
_PHRASE = re.compile(
    r"(?i)\b((?:db_|api_|access_)?(?:password|passwd|pwd|secret|token|api[_-]?key)s?)"
    r"(\s*(?:=|:|\bis\b|\bwas\b)\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&\"']+)"
)
_WORD = re.compile(r"[A-Za-z0-9+/=_\-]{24,}")
# Anything `redact_text` could replace but long words: a string matching none of these (nor `_ANY`)
# is returned as it is.
_SHAPED = re.compile(f"{_TOKEN.pattern}|{_URL_PASSWORD.pattern}|(?i:{_PHRASE.pattern.removeprefix('(?i)')})")
_ANY = re.compile(f"{_SHAPED.pattern}|{_WORD.pattern}")
_SHAPED_PARTS = re.compile(
    r"AKIA|ASIA|-----BEGIN|gh[pousr]_|github_pat_|glpat-|xox[abprs]-|k_live_|k_test_|eyJ|://"
)
# Text none of which could be a secret (no secret-like name or shape, no long word, no `_KEY`, no JSON
# escape that could hide one) needs no redaction: the one pre-filter of every reader of raw lines.
MAY_HOLD_SECRET = re.compile(
    "|".join([f"(?i:{_SECRET_NAME.pattern})", _SECRET_VALUE.pattern, _WORD.pattern, "_KEY", r"\\"])
)
_DIGIT = re.compile("[0-9]")
# MAY_HOLD_SECRET's alternatives one by one, the likeliest first: the same answer, several times faster
# than the one pattern (which tries every alternative at every position of a line).
_MAY_HOLD_PARTS = (
    re.compile(_WORD.pattern),
    re.compile(_SECRET_NAME.pattern, re.IGNORECASE),
    re.compile(_SECRET_VALUE.pattern),
)


def may_hold_secret(text: str) -> bool:
    """`bool(MAY_HOLD_SECRET.search(text))`."""
    return "\\" in text or "_KEY" in text or any(part.search(text) for part in _MAY_HOLD_PARTS)


MAX_DEPTH = 64  # deeper than this, a value is redacted whole (never recursed into: no RecursionError)


@functools.lru_cache(maxsize=65536)  # field names repeat across every config and version
def is_secret_field(name: str) -> bool:
    return bool(_SECRET_NAME.search(name) or _ENV_KEY.match(name))


def _high_entropy(word: str) -> bool:
    """A long random-looking string: upper and lower case letters and digits, ≥ 4.2 bits per char."""
    if len(word) < 24:
        return False
    if word.isascii():  # (every `_WORD` is) the same tests, without a call per character
        if word.lower() == word or word.upper() == word or _DIGIT.search(word) is None:
            return False
    elif not (
        any(c.isupper() for c in word) and any(c.islower() for c in word) and any(c.isdigit() for c in word)
    ):
        return False
    counts = Counter(word)
    entropy = -sum(n / len(word) * math.log2(n / len(word)) for n in counts.values())
    return entropy >= 4.2


@functools.lru_cache(maxsize=1 << 18)  # a history's configs repeat the same strings version after version
def redact_text(text: str) -> str:
    """A string with every secret in it replaced: whole-value shapes, URL passwords, `password=...`
    phrases and high-entropy words (the rest of the text stays)."""
    if not _may_be_shaped(text):  # most strings: only a long word could be replaced (if random-looking)
        return _WORD.sub(_word, text) if _WORD.search(text) else text
    if not _ANY.search(text):
        return text
    if _SHAPED.search(text):  # else only long words, replaced when random-looking
        if _TOKEN.fullmatch(text.strip()):
            return REDACTED
        text = _URL_PASSWORD.sub(lambda m: f"{m[1]}{REDACTED}{m[3]}", text)
        text = _TOKEN.sub(REDACTED, text)
        text = _PHRASE.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", text)
    return _WORD.sub(_word, text)


def _may_be_shaped(text: str) -> bool:
    """False when `_SHAPED` cannot match: none of the literal parts its patterns need is there (a quick
    test; a text that is not ASCII is not tested: the IGNORECASE match of `ſ`, `ı` and `İ` is wider)."""
    if not text.isascii() or _SHAPED_PARTS.search(text):
        return True
    lower = text.lower()  # the `_PHRASE` names: password, passwd, pwd, secret, token, api[_-]?key
    return "pass" in lower or "pwd" in lower or "secret" in lower or "token" in lower or "api" in lower


def _word(match: re.Match) -> str:
    return REDACTED if _high_entropy(match[0]) else match[0]


def _pair_name(value: dict) -> str | None:
    """The name of a name/value (or key/value) entry, when it is one."""
    if "value" not in value and "Value" not in value:
        return None
    for name_key in ("name", "key", "Name", "Key"):
        if isinstance(value.get(name_key), str):
            return value[name_key]
    return None


_KEPT = frozenset({int, float, bool, type(None)})  # scalars that redaction returns as they are


def redact(value: Any, key: str = "", _depth: int = 0, _child: Callable | None = None) -> Any:
    """A copy of `value` with secret-named fields, the values of secret-named name/value entries and
    secrets in strings replaced; an object or array nested deeper than MAX_DEPTH is replaced whole.
    `_child(item, key, depth)`: what redacts the objects and arrays inside `value` (default `redact`;
    a memo of redacted values: `SharedValues.redacted`)."""
    child = redact if _child is None else _child
    if isinstance(value, (dict, list)) and _depth >= MAX_DEPTH:
        return REDACTED
    if isinstance(value, dict):
        pair = _pair_name(value)
        secret_pair = pair is not None and is_secret_field(pair)
        out = {}
        for k, v in value.items():
            name = k if type(k) is str else str(k)
            if is_secret_field(name) or (secret_pair and k in ("value", "Value")):
                out[k] = REDACTED
            elif type(v) is str:  # the common leaves, without a call each (the same as redact(v))
                out[k] = redact_text(v)
            elif type(v) in _KEPT:
                out[k] = v
            else:
                out[k] = child(v, name, _depth + 1)
        return out
    if isinstance(value, list):
        # Under a `secrets` list every value is secret (ECS container secrets).
        if is_secret_field(key):
            return [REDACTED for _ in value]
        return [
            redact_text(v) if type(v) is str else v if type(v) in _KEPT else child(v, key, _depth + 1)
            for v in value
        ]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_entries(doc: Any, memo: EntryMemo, key: str = "", depth: int = 0) -> Any:
    """`redact(doc)`, each entry object (a mapping's value or a list's item, down to MEMO_DEPTH)
    redacted once (see `entry_memo`): the redacted copy of an unchanged entry is the same object version
    after version, so later stages can memoise too. govuk's `govukApplications` is a list of a hundred
    apps, one of which changes: only that one is redacted again."""
    if depth >= MEMO_DEPTH or not isinstance(doc, dict | list):
        return redact(doc, key, depth)
    if isinstance(doc, dict):
        if _pair_name(doc) is not None:
            return redact(doc, key, depth)
        return {
            k: REDACTED if is_secret_field(str(k)) else _redacted_entry(v, str(k), memo, depth + 1)
            for k, v in doc.items()
        }
    if is_secret_field(key):
        return [REDACTED for _ in doc]
    return [_redacted_entry(v, key, memo, depth + 1) for v in doc]


def _redacted_entry(value: Any, key: str, memo: EntryMemo, depth: int) -> Any:
    if isinstance(value, dict | list) and value:
        return memo.get(("redact", key, depth), value, lambda: redact_entries(value, memo, key, depth))
    return redact(value, key, depth)


def redact_json_line(line: str) -> str:
    """One raw JSON line, redacted (re-serialised only when something was redacted); a line that is
    not JSON has its `"secret_name": value` pairs blanked, then secrets in its text replaced."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        text = _JSON_PAIR.sub(lambda m: f'"{m[1]}": "{REDACTED}"' if is_secret_field(m[1]) else m[0], line)
        return redact_text(text)
    return redacted_line(line, obj)[0]


def redacted_line(line: str, obj: Any) -> tuple[str, Any]:
    """`redact_json_line(line)` of a JSON line already decoded to `obj`, and `redact(obj)`."""
    cleaned = redact(obj)
    return (line if cleaned == obj else json.dumps(cleaned)), cleaned


# `"name": value` in text that is not (whole) JSON: a truncated line. A value never starts an object or
# array, so the pairs nested in one are matched themselves (a cut line's nested `db_password` too).
_JSON_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:\s*("(?:[^"\\]|\\.)*"|[^,{}\[\]\s]+)')
