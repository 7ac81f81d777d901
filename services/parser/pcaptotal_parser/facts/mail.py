"""SMTP envelope and message header facts (the IMF dissector reads the DATA part)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from pcaptotal_parser.columns import Row
from pcaptotal_parser.facts.types import Fact

_ANGLE = re.compile(r"<([^<>\s]*)>")
_BARE = re.compile(r"[^\s<>,;:\"()]+@[^\s<>,;:\"()]+")


def addresses(header: str) -> list[str]:
    """Mailbox addresses in a header or SMTP parameter (``"A" <a@x>, b@y`` → ``a@x``, ``b@y``)."""
    found = [a for a in _ANGLE.findall(header) if a]
    if not found:
        found = _BARE.findall(header)
    return [a.lower() for a in found]


def smtp_facts(row: Row) -> Iterator[Fact]:
    commands = row.values("smtp.req.command")
    params = row.values("smtp.req.parameter")
    # smtp.req.parameter is absent for a bare command, so pair them only when counts agree
    paired = zip(commands, params, strict=False) if len(commands) == len(params) else ()
    for command, param in paired:
        verb = command.upper()
        if verb == "MAIL":
            for address in addresses(param):
                yield "pcaptotal.smtp.mail_from", address
                yield "email.from.address", address
        elif verb == "RCPT":
            for address in addresses(param):
                yield "pcaptotal.smtp.rcpt_to", address
                yield "email.to.address", address
        elif verb == "AUTH" and param.split():
            yield "pcaptotal.smtp.auth_mechanism", param.split()[0].upper()
    for header in row.values("imf.from"):
        for address in addresses(header):
            yield "email.from.address", address
    for name in ("imf.to", "imf.cc"):
        for header in row.values(name):
            for address in addresses(header):
                yield "email.to.address", address
    for subject in row.values("imf.subject"):
        yield "email.subject", subject
