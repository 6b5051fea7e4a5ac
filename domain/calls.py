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


# A call's agent (GraphQL `Call.agent`): these columns, as the agent's id, name and email; a call has
# an agent only when one of them is non-empty. The compiled reads' SQL is generated from them
# (persistence/graph_reads.py, relation `call.agent`).
AGENT_COLUMNS = ("agent_id", "agent_name", "agent_email")


def has_agent(call: object) -> bool:
    """Whether a call row (or anything with `AGENT_COLUMNS`) has an agent."""
    return any(getattr(call, column) for column in AGENT_COLUMNS)


# Dialpad user ids are numbers of up to 20 digits; a filter longer than this matches nothing anyway.
MAX_AGENT_ID_LENGTH = 64


def agent_id_problem(agent_id: str) -> str | None:
    """What is wrong with an agent id given as a filter, or None."""
    if not agent_id or len(agent_id) > MAX_AGENT_ID_LENGTH or "\x00" in agent_id:
        return f"a Dialpad user id of 1 to {MAX_AGENT_ID_LENGTH} characters"
    return None
