"""ASGI middleware bounding what reading a request body may cost: its size (413) and its pace (408).

A body over the size is refused before it is buffered, by Content-Length or while it streams. A client that
stops sending mid-body is answered 408 once ``read_timeout`` passes without a byte, instead of holding a
connection and a worker. (Stalls before the headers are complete are the server protocol's to bound:
:mod:`faro_workloads.api.header_timeout`.)
"""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_READ_TIMEOUT = 30.0


class BodyTooLarge(Exception):
    pass


class BodyReadTimeout(Exception):
    pass


class BodySizeLimit:
    """413 when Content-Length says too much or a streamed body passes ``max_bytes``; 408 when the next
    part of a body does not arrive within ``read_timeout`` seconds."""

    def __init__(self, app: ASGIApp, max_bytes: int, read_timeout: float = DEFAULT_READ_TIMEOUT) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._reject(send, 400, "invalid Content-Length header")
                    return
                if declared > self.max_bytes:
                    await self._reject(send, 413, self._too_large())
                    return
        received = 0
        body_complete = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, body_complete
            if body_complete:  # after the body, receive() waits for the disconnect: no deadline
                return await receive()
            try:  # a deadline on this await, not wait_for: that wraps receive() in a task per call
                async with asyncio.timeout(self.read_timeout):
                    message = await receive()
            except TimeoutError:
                raise BodyReadTimeout from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
                body_complete = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(send, 413, self._too_large())
        except BodyReadTimeout:
            if not started:
                await self._reject(
                    send, 408, f"request body not received within {self.read_timeout:g} s", close=True
                )

    def _too_large(self) -> str:
        mib = self.max_bytes / 2**20
        readable = f" ({mib:.2f} MiB)" if mib >= 1 else f" ({self.max_bytes / 1024:.0f} KiB)"
        return f"request body is larger than the limit of {self.max_bytes} bytes{readable}"

    @staticmethod
    async def _reject(send: Send, status: int, detail: str, close: bool = False) -> None:
        body = json.dumps({"detail": detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
