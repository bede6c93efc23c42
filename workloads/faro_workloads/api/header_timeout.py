"""uvicorn's HTTP/1.1 protocols with a deadline for request headers (uvicorn has none).

A client that opens a connection, or starts a next request on a kept-alive one, and then sends its headers
a byte at a time ("slowloris") would otherwise hold the connection for as long as it likes: every byte
resets uvicorn's keep-alive timer. Here the headers of each request must be complete within
``HEADER_TIMEOUT_SECONDS`` of the connection opening (first request) or of their first byte (later
requests on a kept-alive connection; idle ones are closed by uvicorn's keep-alive timeout); otherwise the
server answers 408 and closes the connection.

Faro serves with :class:`HeaderTimeoutHttpToolsProtocol` (uvicorn's protocol on httptools, the C parser of
llhttp: a request costs the query service ~7% less CPU than on the pure-Python h11, measured in
``bench/README.md``); :class:`HeaderTimeoutH11Protocol` is the same deadline on h11.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT_SECONDS = 10.0

_TIMEOUT_BODY = b'{"detail": "request headers not received in time"}'
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
)


class HeaderDeadline:
    """Mixed into a uvicorn HTTP protocol: its requests must finish their headers within ``header_timeout``
    seconds (the protocol keeps the request in flight as ``cycle``, as both of uvicorn's do)."""

    header_timeout = HEADER_TIMEOUT_SECONDS
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        self._header_deadline: asyncio.TimerHandle | None = None
        self._arm_header_deadline()

    def data_received(self, data: bytes) -> None:
        if self._header_deadline is None and self._between_requests():
            self._arm_header_deadline()
        super().data_received(data)  # type: ignore[misc]
        if self._header_deadline is not None and not self._between_requests():
            self._header_deadline.cancel()
            self._header_deadline = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None
        super().connection_lost(exc)  # type: ignore[misc]

    def _between_requests(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm_header_deadline(self) -> None:
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self._between_requests() and not self.transport.is_closing():
            self.transport.write(_TIMEOUT_RESPONSE)
            self.transport.close()


class HeaderTimeoutH11Protocol(HeaderDeadline, H11Protocol):
    """:class:`H11Protocol` with the header deadline."""


class HeaderTimeoutHttpToolsProtocol(HeaderDeadline, HttpToolsProtocol):
    """:class:`HttpToolsProtocol` with the header deadline (what Faro's services run)."""
