"""Multipart forms whose text fields must be in the form's charset (UTF-8 unless the request says
otherwise): Starlette's parser reads a field it cannot decode as Latin-1 without a word, so a ``doc_id`` or
``metadata`` sent in another charset would be stored as mojibake. :func:`read_form` refuses it instead."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request


class _StrictMultiPartParser(MultiPartParser):
    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is None:
            try:
                bytes(part.data).decode(self._charset or "utf-8")
            except (UnicodeDecodeError, LookupError):
                raise MultiPartException(
                    f"form field {part.field_name!r} is not {self._charset or 'utf-8'} text"
                ) from None
        super().on_part_end()


async def read_form(request: Request, *, max_files: int, max_fields: int, max_part_size: int) -> FormData:
    """The multipart form of ``request``, with the limits of ``Request.form``; raises MultiPartException for
    a malformed body or a text field not in the form's charset. The caller closes the form."""
    parser = _StrictMultiPartParser(
        request.headers,
        request.stream(),
        max_files=max_files,
        max_fields=max_fields,
        max_part_size=max_part_size,
    )
    return await parser.parse()
