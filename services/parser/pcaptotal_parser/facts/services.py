"""Facts of FTP, SSH, DHCP and QUIC sessions."""

from __future__ import annotations

from collections.abc import Iterator

from pcaptotal_parser.columns import Row
from pcaptotal_parser.facts.tls import quic_version_name
from pcaptotal_parser.facts.types import Fact

# FTP commands that name a file (RFC 959 / 3659)
_FTP_FILE_COMMANDS = frozenset({"RETR", "STOR", "STOU", "APPE", "DELE", "SIZE", "MDTM", "RNFR"})

DHCP_MESSAGE_TYPES: dict[str, str] = {
    "1": "DISCOVER", "2": "OFFER", "3": "REQUEST", "4": "DECLINE", "5": "ACK", "6": "NAK",
    "7": "RELEASE", "8": "INFORM", "9": "FORCERENEW", "10": "LEASEQUERY",
    "11": "LEASEUNASSIGNED", "12": "LEASEUNKNOWN", "13": "LEASEACTIVE",
}  # fmt: skip


def ecs_mac(raw: str) -> str:
    """``00:0c:29:40:0e:ef`` → ``00-0C-29-40-0E-EF`` (the ECS notation, RFC 7042)."""
    return raw.replace(":", "-").upper()


def ftp_facts(row: Row) -> Iterator[Fact]:
    commands = row.values("ftp.request.command")
    args = row.values("ftp.request.arg")
    for command in commands:
        yield "pcaptotal.ftp.command", command.upper()
    if len(commands) == 1:  # an argument belongs to its command only when there is one
        verb = commands[0].upper()
        arg = args[0] if args else ""
        if verb == "USER" and arg:
            yield "user.name", arg
        elif verb in _FTP_FILE_COMMANDS and arg:
            yield "pcaptotal.ftp.file", arg
    for command in row.values("ftp-data.command"):
        # the data connection: tshark names the control command that set it up
        yield "pcaptotal.ftp.data_command", command
        verb, _, arg = command.partition(" ")
        if verb.upper() in _FTP_FILE_COMMANDS and arg:
            yield "pcaptotal.ftp.file", arg


def ssh_facts(row: Row) -> Iterator[Fact]:
    for banner in row.values("ssh.protocol"):
        yield "pcaptotal.ssh.{side}.software", banner


def dhcp_facts(row: Row) -> Iterator[Fact]:
    for kind in row.values("dhcp.option.dhcp"):
        yield "pcaptotal.dhcp.message_type", DHCP_MESSAGE_TYPES.get(kind, kind)
    for mac in row.values("dhcp.hw.mac_addr"):
        yield "pcaptotal.dhcp.client_mac", ecs_mac(mac)
    for name in row.values("dhcp.option.hostname"):
        yield "pcaptotal.dhcp.hostname", name
    for address in row.values("dhcp.option.requested_ip_address"):
        yield "pcaptotal.dhcp.requested_address", address
    for address in row.values("dhcp.ip.your"):
        if address != "0.0.0.0":
            yield "pcaptotal.dhcp.assigned_address", address


# RFC 4120 message types (the ones a Kerberos exchange over the wire carries)
KERBEROS_MESSAGES: dict[str, str] = {
    "10": "AS-REQ", "11": "AS-REP", "12": "TGS-REQ", "13": "TGS-REP", "14": "AP-REQ",
    "15": "AP-REP", "30": "KRB-ERROR",
}  # fmt: skip


def kerberos_facts(row: Row) -> Iterator[Fact]:
    """``pcaptotal.kerberos.etype`` as ``<message>:<etype>``: a TGS-REP's etypes include the
    service ticket's (23 = RC4-HMAC is what Kerberoasting asks for, RFC 8429 deprecates it)."""
    kinds = [KERBEROS_MESSAGES.get(k, k) for k in row.values("kerberos.msg_type")]
    for kind in kinds:
        yield "pcaptotal.kerberos.message", kind
    # the outermost message names the exchange (a TGS-REQ carries an AP-REQ inside)
    outer = next((k for k in kinds if k != "AP-REQ"), kinds[0] if kinds else "")
    for etype in row.values("kerberos.etype"):
        if etype.isdigit() and outer:
            yield "pcaptotal.kerberos.etype", f"{outer}:{etype}"


def quic_facts(row: Row) -> Iterator[Fact]:
    for version in row.values("quic.version"):
        yield "pcaptotal.quic.version", quic_version_name(version)
