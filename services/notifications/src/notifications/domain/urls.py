"""Which URLs an endpoint may have, and which addresses a delivery may reach.

An endpoint URL is an ``https`` URL of a public host: no credentials, no fragment, at most 2048
characters. Loopback hosts (``127.0.0.0/8``, ``::1``, ``localhost``) are accepted only where a
setting allows them (local runs and tests), and then over ``http`` too. IP literals of private,
link-local, multicast or reserved ranges are refused, and so are single-label host names: a
webhook must never become a way to reach the service's own network (SSRF). The same address
rule is applied again at delivery time to what the host name resolves to.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import SplitResult, urlsplit

from notifications.domain.errors import InvalidEndpointError
from shared.errors import FieldError

__all__ = ["MAX_URL_LENGTH", "address_allowed", "check_endpoint_url", "is_loopback_host"]

MAX_URL_LENGTH = 2048
_MAX_HOST_LENGTH = 253
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _invalid(message: str) -> InvalidEndpointError:
    return InvalidEndpointError(
        f"The URL {message}.", errors=[FieldError("body.url", message, "value_error")]
    )


def _ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` (and ``*.localhost``) and loopback IP literals."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    ip = _ip(host)
    return ip is not None and ip.is_loopback


def address_allowed(address: str, *, allow_loopback: bool) -> bool:
    """May a delivery connect to ``address`` (an IP)? Public addresses only, plus loopback
    when allowed; an IPv4-mapped IPv6 address is judged as the IPv4 address it maps."""
    ip = _ip(address.split("%", 1)[0])
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return allow_loopback
    return ip.is_global and not ip.is_multicast


def _split(url: str) -> SplitResult:
    if len(url) > MAX_URL_LENGTH:
        raise _invalid(f"must be at most {MAX_URL_LENGTH} characters")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise _invalid("must not contain spaces or control characters")
    if not url.isascii():
        raise _invalid("must be ASCII (use punycode and percent-encoding)")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port out of range or not a number
    except ValueError:
        raise _invalid("is not a valid URL") from None
    return parts


def check_endpoint_url(url: str, *, allow_loopback_http: bool) -> str:
    """Return ``url`` if an endpoint may have it, else raise ``InvalidEndpointError`` (422)."""
    parts = _split(url)
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise _invalid("must use https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise _invalid("must not contain credentials")
    if parts.fragment or url.endswith("#"):
        raise _invalid("must not have a fragment")
    host = (parts.hostname or "").rstrip(".")
    if not host or len(host) > _MAX_HOST_LENGTH:
        raise _invalid("must name a host")
    if is_loopback_host(host):
        if not allow_loopback_http:
            raise _invalid("must not point to a loopback host")
        return url
    if scheme != "https":
        raise _invalid("must use https (http only for loopback hosts in local development)")
    ip = _ip(host)
    if ip is not None:
        if not address_allowed(str(ip), allow_loopback=False):
            raise _invalid("must not point to a private, link-local or reserved address")
        return url
    if "." not in host:
        raise _invalid("must name a fully qualified host")
    if host.rsplit(".", 1)[-1].isdigit():  # 0x7f.0.0.1, 127.1: IP literals in disguise
        raise _invalid("must name a host by a valid name or IP address")
    return url
