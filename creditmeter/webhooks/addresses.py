"""Where a webhook may point: absolute http(s) URLs of hosts with public addresses only.

Unless private addresses are allowed, every address of the host (an IP literal,
or each address the system resolver gives its name) must be globally routable:
loopback, private, link-local, unspecified, shared (100.64/10), multicast,
reserved and their IPv4-mapped forms are refused. Names resolve as the system
resolver does, so ``localhost`` and ``2130706433`` are caught too.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from creditmeter.errors import InvalidParameter

MAX_URL_LENGTH = 2048
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    """A checked URL's parts: ``host`` as written (IPv6 without brackets)."""

    url: str
    scheme: str
    host: str
    port: int


def check_url(url: object) -> Target:
    """The URL's parts; 400 (``param`` url) unless it is an absolute http(s) URL with a
    host, at most 2,048 characters, without user info or fragment."""
    if not isinstance(url, str) or not url:
        raise InvalidParameter("'url' must be an absolute http or https URL.", param="url")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidParameter(
            f"'url' must be at most {MAX_URL_LENGTH:,} characters (it has {len(url):,}).",
            param="url",
        )
    if not url.isprintable() or any(c.isspace() for c in url):
        raise InvalidParameter("'url' must not hold spaces or control characters.", param="url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidParameter(f"'url' is not a valid URL ({exc}).", param="url") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidParameter(
            "'url' must start with http:// or https:// (an absolute URL).", param="url"
        )
    if not parts.hostname:
        raise InvalidParameter(
            "'url' must name a host, such as https://example.com/hook.", param="url"
        )
    if "@" in parts.netloc:
        raise InvalidParameter("'url' must not carry a user name or password.", param="url")
    if parts.fragment or url.endswith("#"):
        raise InvalidParameter("'url' must not have a fragment (#…).", param="url")
    scheme = parts.scheme.lower()
    return Target(url, scheme, parts.hostname, port or (443 if scheme == "https" else 80))


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is globally routable (an IPv4-mapped one judged as IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
    )


def resolve(host: str, port: int) -> list[IPAddress] | None:
    """Every address of ``host`` as the system resolver gives them; None if it does not
    resolve."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        return None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def refuse_private(target: Target) -> None:
    """400 (``param`` url) when a host's address is not public. A name that does not
    resolve is accepted (each attempt resolves again)."""
    addresses = resolve(target.host, target.port)
    for address in addresses or ():
        if not is_public(address):
            raise InvalidParameter(
                f"'url' points at {address}, a private or reserved address; webhooks go to "
                "public addresses only (an operator may allow private ones with "
                "CREDITMETER_WEBHOOK_ALLOW_PRIVATE=1).",
                param="url",
            )
