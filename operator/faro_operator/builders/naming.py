"""Child object names and label values that respect Kubernetes' length and character limits.

Names of custom resources may be up to 253 characters and may contain dots, but Service names are DNS-1035
labels (at most 63 characters, a letter first, no dots), label values have at most 63 characters, and a
CronJob name at most 52 (its Jobs add 11). Whenever a name has to be shortened or rewritten, a hash of the
original is appended, so different resources never share a child name and the result is deterministic.
"""

from __future__ import annotations

import hashlib
import re

MAX_NAME = 63
MAX_LABEL_VALUE = 63
MAX_CRONJOB_NAME = 52
_HASH_LENGTH = 8
_DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def short_hash(text: str) -> str:
    """Eight hex digits of the SHA-256 of ``text``."""
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH_LENGTH]


def child_name(base: str, suffix: str, max_length: int = MAX_NAME) -> str:
    """``<base>-<suffix>`` as a DNS-1035 label of at most ``max_length`` characters.

    A base that is too long, contains dots or starts with a digit is truncated/rewritten and marked with
    ``-<hash of base>``; short, clean names are kept as they are.
    """
    if not _DNS_1035_LABEL.match(suffix) or len(suffix) + _HASH_LENGTH + 4 > max_length:
        raise ValueError(f"unusable child name suffix {suffix!r}")
    plain = f"{base}-{suffix}"
    if len(plain) <= max_length and _DNS_1035_LABEL.match(plain):
        return plain
    cleaned = re.sub(r"[^a-z0-9-]", "-", base.lower())
    if not cleaned[:1].isalpha():
        cleaned = f"x{cleaned}"
    keep = max_length - len(suffix) - _HASH_LENGTH - 2
    stem = cleaned[:keep].rstrip("-")
    return f"{stem}-{short_hash(base)}-{suffix}"


def label_value(value: str) -> str:
    """``value`` as a label value: unchanged up to 63 characters, else truncated with a hash suffix."""
    if len(value) <= MAX_LABEL_VALUE:
        return value
    stem = value[: MAX_LABEL_VALUE - _HASH_LENGTH - 1].rstrip("-_.")
    return f"{stem}-{short_hash(value)}"
