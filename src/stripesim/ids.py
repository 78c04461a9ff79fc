"""Object ids in Stripe's style: a type prefix and 24 base62 characters."""

from __future__ import annotations

import os
import random
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
# Ids only need to be unique, not secret: one seeded generator is far cheaper than a syscall
# per character. Webhook secrets still come from `secrets`.
_RANDOM = random.Random(os.urandom(32))


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "_" + "".join(_RANDOM.choices(_ALPHABET, k=length))


def secret(prefix: str, length: int = 32) -> str:
    return prefix + "_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))
