"""Identifiers minted by the agent."""

from __future__ import annotations

import secrets
import uuid

import uuid6


def new_uid() -> str:
    """24 lowercase hex characters, the central API's uid shape."""
    return secrets.token_hex(12)


def new_session_id() -> str:
    return str(uuid.uuid4())


def new_row_id() -> str:
    """UUIDv7: time-ordered, doubles as the upstream Idempotency-Key."""
    return str(uuid6.uuid7())
