"""Fetching an image another server holds, for an input_reference image_url, where the admin
allows it ([openai] fetch_image_urls). Whoever sends the URL must not reach what only this server
can: the host is resolved here, every address it has is checked, and the connection goes to the
checked address (the Host header and TLS's server name say the host), so a DNS answer that
changes between the check and the connection cannot slip an internal address in. Redirects are
followed the same way, a few at most. At most MAX_BYTES, within SECONDS in all."""

from __future__ import annotations

import ipaddress
import socket
import time
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from ..errors import InvalidRequest
from .service import MAX_IMAGE_BYTES

MAX_BYTES = MAX_IMAGE_BYTES
SECONDS = 10.0
MAX_REDIRECTS = 3


def refused_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """An address no fetch may reach: this machine, private and link-local networks (cloud
    metadata services among them), reserved, multicast and unspecified ones."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (address.is_loopback or address.is_private or address.is_link_local or address.is_reserved
            or address.is_multicast or address.is_unspecified or not address.is_global)


def checked_address(host: str, port: int, param: str) -> str:
    """An address of host that a fetch may connect to; every address it resolves to is checked."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise InvalidRequest(param, f"the host {host!r} is not found") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in found]
    if not addresses or any(refused_address(address) for address in addresses):
        raise InvalidRequest(param, f"the host {host!r} is an internal address; ungated fetches only public ones")
    return str(addresses[0])


def image(url: str, param: str) -> bytes:
    """The bytes at url (an image, checked by the caller), or a 400 naming param saying why not."""
    deadline = time.monotonic() + SECONDS
    with httpx.Client(timeout=SECONDS, follow_redirects=False, trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise InvalidRequest(param, f"must be an http(s) URL (got {url[:100]!r})")
            try:
                port = parts.port or (443 if parts.scheme == "https" else 80)
            except ValueError:
                raise InvalidRequest(param, "the URL's port is not a number from 0 to 65535") from None
            address = checked_address(parts.hostname, port, param)
            shown = f"[{address}]" if ":" in address else address
            direct = urlunsplit((parts.scheme, f"{shown}:{port}", parts.path or "/", parts.query, ""))
            extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
            headers = {"Host": parts.netloc.rpartition("@")[2], "Accept": "image/*"}
            try:
                with client.stream("GET", direct, headers=headers, extensions=extensions) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code != 200:
                        raise InvalidRequest(param, f"the image URL answered HTTP {response.status_code}")
                    return _read(response, deadline, param)
            except httpx.HTTPError as err:
                raise InvalidRequest(param, f"the image could not be fetched ({type(err).__name__})") from None
    raise InvalidRequest(param, f"the image URL redirects more than {MAX_REDIRECTS} times")


def _read(response: httpx.Response, deadline: float, param: str) -> bytes:
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) > MAX_BYTES:
            raise InvalidRequest(param, f"the image is over {MAX_BYTES // 2**20} MB")
        if time.monotonic() > deadline:
            raise InvalidRequest(param, f"the image took over {SECONDS:g} s to fetch")
    return bytes(data)
