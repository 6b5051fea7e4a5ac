"""Where outbound notification requests may go: public addresses only, unless the operator allows more."""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import urlsplit

from domain.errors import BadInput

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

# Why an address is not public; the value is what messages and the server log say.
LOOPBACK = "loopback"
PRIVATE = "private"
SHARED = "shared (carrier-grade NAT)"
LINK_LOCAL = "link-local"
UNIQUE_LOCAL = "unique local"
RESERVED = "reserved"
METADATA = "cloud metadata"
UNSPECIFIED = "unspecified"
MULTICAST = "multicast"

# Never a destination, whatever the settings: "any address" reaches this host, multicast is not TCP.
NEVER_ALLOWED = frozenset({UNSPECIFIED, MULTICAST})

# Cloud instance-metadata endpoints (credentials live there). Checked before the ranges below, and
# not opened by "allow private": only a network listed explicitly that contains one allows it.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, OCI, DigitalOcean, OpenStack
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.170.23",  # AWS EKS pod identity
        "fd00:ec2::254",  # AWS over IPv6
        "fd00:ec2::23",  # AWS EKS pod identity over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure WireServer (a public address only the VM's host answers)
    )
)
METADATA_HOSTNAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.azure.com",
    }
)
# Names that resolve to this host without asking DNS (RFC 6761 and the usual /etc/hosts entries).
LOOPBACK_HOSTNAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})

# IANA's special-purpose registries, most specific first where they overlap.
_IPV4_RANGES: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(network), kind)
    for network, kind in (
        ("0.0.0.0/8", UNSPECIFIED),
        ("10.0.0.0/8", PRIVATE),
        ("100.64.0.0/10", SHARED),
        ("127.0.0.0/8", LOOPBACK),
        ("169.254.0.0/16", LINK_LOCAL),
        ("172.16.0.0/12", PRIVATE),
        ("192.0.0.0/24", RESERVED),
        ("192.0.2.0/24", RESERVED),
        ("192.88.99.0/24", RESERVED),
        ("192.168.0.0/16", PRIVATE),
        ("198.18.0.0/15", RESERVED),
        ("198.51.100.0/24", RESERVED),
        ("203.0.113.0/24", RESERVED),
        ("224.0.0.0/4", MULTICAST),
        ("240.0.0.0/4", RESERVED),
    )
)
_IPV6_RANGES: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(network), kind)
    for network, kind in (
        ("::/128", UNSPECIFIED),
        ("::1/128", LOOPBACK),
        ("64:ff9b:1::/48", PRIVATE),
        ("fc00::/7", UNIQUE_LOCAL),
        ("fe80::/10", LINK_LOCAL),
        ("fec0::/10", PRIVATE),
        ("ff00::/8", MULTICAST),
        ("100::/64", RESERVED),
        ("2001::/23", RESERVED),
        ("2001:db8::/32", RESERVED),
        ("3fff::/20", RESERVED),
    )
)
# IPv6 forms that carry an IPv4 address the packets end up at: judged by that address.
_NAT64 = IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = IPv6Network("::/96")
# Global unicast: everything else in IPv6 is not a public destination.
_IPV6_GLOBAL = IPv6Network("2000::/3")

_NUMERIC = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$", re.IGNORECASE)
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")


def classify(address: IPAddress) -> str | None:
    """Why `address` is not a public destination (one of the kinds above), or None when it is."""
    if address in METADATA_ADDRESSES:
        return METADATA
    if isinstance(address, IPv4Address):
        for network, kind in _IPV4_RANGES:
            if address in network:
                return kind
        return None
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return classify(embedded)
    for network6, kind in _IPV6_RANGES:
        if address in network6:
            return kind
    return None if address in _IPV6_GLOBAL else RESERVED


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class DestinationPolicy:
    """The operator's choice: by default only public addresses; `allow_private` opens loopback,
    private, shared, link-local, unique-local and reserved ranges (not metadata endpoints);
    `allowed_networks` opens exactly the networks listed (a metadata endpoint only this way)."""

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    def refusal(self, address: IPAddress) -> str | None:
        """Why a connection to `address` is refused, or None when it is allowed."""
        address = _without_scope(address)
        kind = classify(address)
        if kind in NEVER_ALLOWED:
            return kind
        if any(address in network for network in self.allowed_networks):
            return None
        if kind is None or (self.allow_private and kind != METADATA):
            return None
        return kind


def _without_scope(address: IPAddress) -> IPAddress:
    if isinstance(address, IPv6Address) and address.scope_id:
        return IPv6Address(str(address).partition("%")[0])
    return address


def parse_networks(value: str) -> tuple[IPNetwork, ...]:
    """A comma-separated list of CIDR networks or single addresses; raises ValueError naming a bad one."""
    networks: list[IPNetwork] = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            networks.append(ip_network(item, strict=True))
        except ValueError as error:
            raise ValueError(f"{item!r} is not a network like 10.0.0.0/8 or an address ({error})") from None
    return tuple(networks)


def legacy_ipv4(host: str) -> IPv4Address | None:
    """The address a host written the way inet_aton reads it stands for (2130706433, 0x7f.1, 0177.0.0.1,
    127.1), or None when the host is a name. A host whose last label is a number is an address or
    nothing (as in the WHATWG URL standard): ValueError when it is no valid one."""
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts = parts[:-1]
    if not _NUMERIC.match(parts[-1]):
        return None
    numbers = [_number(part) for part in parts]
    values = [number for number in numbers if number is not None]
    if len(parts) > 4 or len(values) != len(parts):
        raise ValueError(f"{host!r} is neither a host name nor an IPv4 address")
    *leading, last = values
    if any(value > 255 for value in leading) or last >= 256 ** (5 - len(values)):
        raise ValueError(f"{host!r} is neither a host name nor an IPv4 address")
    total = last
    for index, value in enumerate(leading):
        total += value << (8 * (3 - index))
    return IPv4Address(total)


def _number(part: str) -> int | None:
    """A part in decimal, octal (leading 0) or hex (0x), as inet_aton reads it; None when it is not."""
    text = part.lower()
    try:
        if text.startswith("0x"):
            return int(text[2:] or "0", 16)
        if len(text) > 1 and text.startswith("0"):
            return int(text[1:], 8)
        return int(text, 10) if text.isdigit() else None
    except ValueError:
        return None


def _url_error(message: str) -> BadInput:
    return BadInput(message, fields={"url": message})


def check_webhook_url(url: str, policy: DestinationPolicy) -> str:
    """The URL a webhook target may have, stripped: http(s), no user name or password, a host that is a
    public address or a name. Names are judged again on the addresses they resolve to when sending;
    here only the ones that are addresses (in any spelling) or that obviously name one are refused."""
    url = url.strip()
    if any(char.isspace() or ord(char) < 32 or char == "\\" for char in url):
        raise _url_error("the URL has spaces, control characters or backslashes")
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        raise _url_error("must be an http:// or https:// URL")
    if "@" in parts.netloc:
        raise _url_error("a user name or password in the URL is not allowed")
    try:
        port = parts.port
    except ValueError:
        raise _url_error("the port is not a number from 1 to 65535") from None
    if port == 0:
        raise _url_error("the port is not a number from 1 to 65535")
    host = parts.hostname or ""
    if not host:
        raise _url_error("the URL has no host")
    refusal = host_refusal(host, policy)
    if refusal is not None:
        raise _url_error(refusal)
    return url


def host_refusal(host: str, policy: DestinationPolicy) -> str | None:
    """Why a URL's host (as urlsplit gives it: lower case, IPv6 without brackets) is refused, or None."""
    if "%" in host:
        return "the host has a percent sign (encoded names and IPv6 zones are not allowed)"
    if ":" in host:
        try:
            address: IPAddress = IPv6Address(host)
        except ValueError:
            return f"{host!r} is not a valid IPv6 address"
        return _address_refusal(host, address, policy)
    if not host.isascii():
        try:
            # The IDNA mapping also folds look-alikes such as full-width digits into ASCII.
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            return f"{host!r} is not a valid host name"
    name = host.rstrip(".")
    try:
        legacy = legacy_ipv4(name)
    except ValueError as error:
        return str(error)
    if legacy is not None:
        return _address_refusal(host, legacy, policy)
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        return f"{host!r} is not a valid host name"
    if name in METADATA_HOSTNAMES:
        return f"{host} is a cloud metadata endpoint; notifications are not sent there"
    if name in LOOPBACK_HOSTNAMES or name.endswith(".localhost"):
        return _address_refusal(host, IPv4Address("127.0.0.1"), policy)
    return None


def _address_refusal(host: str, address: IPAddress, policy: DestinationPolicy) -> str | None:
    kind = policy.refusal(address)
    if kind is None:
        return None
    if kind in NEVER_ALLOWED:
        return f"{host} is not an address a notification can go to ({kind})"
    if kind == METADATA:
        return f"{host} is a cloud metadata endpoint; notifications are not sent there"
    return (
        f"{host} is not a public address ({kind}); notifications go to public addresses"
        " unless the server's operator allows internal ones"
    )
