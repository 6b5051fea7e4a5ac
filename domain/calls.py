"""Call direction and status vocabulary."""

from __future__ import annotations

from enum import StrEnum


class CallDirection(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class CallStatus(StrEnum):
    RINGING = "ringing"
    CONNECTED = "connected"
    COMPLETED = "completed"
    MISSED = "missed"
    NO_ANSWER = "no_answer"
    VOICEMAIL = "voicemail"
    # Inbound, reached only an IVR, a menu or a queue: no agent rang, no voicemail.
    ABANDONED = "abandoned"
