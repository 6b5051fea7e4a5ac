"""What CallTrax accepts as an email address, wherever one comes in: lead intake, users, notification targets."""

from __future__ import annotations

import re

# RFC 5321's longest path; the addresses are in btree indexes too, whose entries must stay small.
MAX_EMAIL_LENGTH = 254
# Something@something.tld, with no white space and none of the characters that separate or wrap
# addresses in a list ("a@x.com, b@y.com", "Name <a@x.com>"): one value is one address.
_ADDRESS = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")


def is_email(value: str) -> bool:
    return len(value) <= MAX_EMAIL_LENGTH and _ADDRESS.match(value) is not None
