"""An httpx transport that connects only to allowed addresses: it resolves the host itself, checks every
address, and connects to a checked one while the Host header and TLS name stay the URL's."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from ipaddress import ip_address

import httpx

from domain.destinations import DestinationPolicy, IPAddress

# Resolves (host, port) to addresses as text; the system's resolver unless tests inject their own.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

RESOLVE_TIMEOUT_SECONDS = 5.0


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class DestinationRefused(httpx.RequestError):
    """The URL's host is, or resolves to, an address the policy refuses; nothing was sent."""


class GuardedTransport(httpx.AsyncBaseTransport):
    """Checks the address of every request it sends (so redirects and DNS rebinding are covered too).

    Connections are not kept alive: a pooled connection is keyed by address only, so one opened and
    verified for one name could otherwise carry a request for another name on the same address."""

    def __init__(
        self,
        policy: DestinationPolicy,
        *,
        resolver: Resolver = system_resolver,
        inner: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._policy = policy
        self._resolve = resolver
        self._inner = inner or httpx.AsyncHTTPTransport(limits=httpx.Limits(max_keepalive_connections=0))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in {"http", "https"}:
            raise DestinationRefused(f"scheme {url.scheme!r} is not http(s)", request=request)
        if url.userinfo:
            raise DestinationRefused("a user name or password in the URL", request=request)
        host = url.raw_host.decode("ascii")
        port = url.port or (443 if url.scheme == "https" else 80)
        literal = _literal(host)
        addresses = [literal] if literal is not None else await self._addresses(request, host, port)
        for address in addresses:
            refusal = self._policy.refusal(address)
            if refusal is not None:
                raise DestinationRefused(f"{host} resolves to {address} ({refusal})", request=request)
        extensions = dict(request.extensions)
        if literal is None and url.scheme == "https":
            # TLS is about the name: SNI and certificate verification use it, not the address.
            extensions["sni_hostname"] = host
        error: httpx.TransportError | None = None
        for address in dict.fromkeys(addresses):
            pinned = httpx.Request(
                request.method,
                url.copy_with(host=str(address)),
                # The headers were built from the URL: Host still names the host, not the address.
                headers=request.headers,
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return await self._inner.handle_async_request(pinned)
            except (httpx.ConnectError, httpx.ConnectTimeout) as failed:
                # Nothing was sent: the next address of the name may answer.
                error = failed
        assert error is not None
        raise error

    async def _addresses(self, request: httpx.Request, host: str, port: int) -> list[IPAddress]:
        try:
            found = await asyncio.wait_for(self._resolve(host, port), RESOLVE_TIMEOUT_SECONDS)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"resolving {host} timed out", request=request) from None
        except OSError as error:
            raise httpx.ConnectError(f"resolving {host} failed: {error}", request=request) from None
        addresses = [ip_address(str(text).partition("%")[0]) for text in found]
        if not addresses:
            raise httpx.ConnectError(f"{host} has no address", request=request)
        return addresses


def _literal(host: str) -> IPAddress | None:
    """The address when the host is one as httpx sends it (dotted IPv4 or IPv6); other numeric
    spellings (2130706433, 0x7f.1) go through the resolver, which reads them like inet_aton."""
    try:
        return ip_address(host)
    except ValueError:
        return None
