"""The IPv4 address an IPv6 client address carries. One client reaches us by several
spellings: over IPv4, through a 6to4 relay, a NAT64 gateway or a Teredo tunnel. The limits
kept per address (throttle.py's `address_key`) count them as that one IPv4 client, and ban
masks (banmasks.py) match them as it too, so that neither is escaped by changing tunnels."""

from __future__ import annotations

import ipaddress

NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052's well-known prefix


def ipv4_of(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for: IPv4-mapped (a dual-stack socket's IPv4
    client), 6to4 (2002::/16: the /48 of one IPv4 address), NAT64 (64:ff9b::/96: the last
    32 bits) or Teredo (2001:0::/32: the client's public address, its last 32 bits inverted,
    as `ipaddress` reads it). None for any other."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def carried_ipv4(host: str) -> str | None:
    """`ipv4_of` for a host as a door gives it: None for a host that is no IPv6 address."""
    if ":" not in host:
        return None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    v4 = ipv4_of(ip)
    return None if v4 is None else str(v4)
