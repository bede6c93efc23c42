"""Faro's one error hierarchy: every expected failure is either the input's fault or a dependency's.

- :class:`InputError`: what was sent is wrong, and sending it again gives the same answer (permanent). An
  HTTP service answers 4xx (422), the embedding worker dead-letters the message, a CLI exits 2.
- :class:`DependencyUnavailable`: a store, the model or a queue did not answer or refused for now
  (transient). An HTTP service answers 503, the worker leaves the message to be received again, a CLI
  exits 3.

Each edge (HTTP, SQS worker, CLI, CronJob) maps these two bases once instead of listing types; the
subclasses only say more precisely what happened. Both carry a message for people, one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError


class FaroError(RuntimeError):
    """An expected failure with a message for people; the CLI prints it as one line."""


class InputError(FaroError, ValueError):
    """The input is wrong (a document, an id, a chunk object, an event): permanent. Also a ValueError, as
    the more precise errors below it were before this hierarchy."""


class ConfigurationError(InputError):
    """The settings or options are wrong, or do not fit the state they point at (a data folder made with
    another model, a table of another dimension): permanent until the configuration changes."""


class DependencyUnavailable(FaroError):
    """A dependency (PostgreSQL, Qdrant, the embedding model, S3/SQS) is unavailable: transient.
    ``dependency`` names it for people (``"<dependency> unavailable: <message>"``)."""

    dependency = "dependency"


EXIT_FAILED = 1
"""A command's exit status when it ran but found or met a problem (drift, uploads refused, any other
expected failure)."""
EXIT_INPUT = 2
"""A command's exit status when its input or configuration is wrong (also click's usage errors)."""
EXIT_UNAVAILABLE = 3
"""A command's exit status when a dependency could not be reached; running it again later may work."""


def exit_status(exc: BaseException) -> int:
    """The CLI's exit status for an expected failure: the one place the two bases become exit codes."""
    if isinstance(exc, DependencyUnavailable):
        return EXIT_UNAVAILABLE
    if isinstance(exc, ValueError | FileNotFoundError):  # InputError and pydantic's ValidationError too
        return EXIT_INPUT
    return EXIT_FAILED


def one_line(exc: BaseException) -> str:
    """An error as one readable line (its type's name when it has no message)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def invalid_configuration(exc: ValidationError) -> str:
    """Settings that failed validation, as one line naming the first problem's place (when it has one: a
    check of the whole model has none) in the words of its check (without pydantic's "Value error, ")."""
    return f"invalid configuration: {first_problem(exc)}"


def first_problem(exc: ValidationError, within: tuple[str, ...] = (), whole: str = "") -> str:
    """``exc``'s first problem as ``place: message`` (the place under ``within``; ``whole`` when the problem
    is the whole input's; just the message when neither), in the words of its check."""
    first = exc.errors()[0]
    place = ".".join(map(str, (*within, *first["loc"]))) or whole
    message = check_message(first)
    return f"{place}: {message}" if place else message


def check_message(error: Mapping[str, Any]) -> str:
    """A pydantic error's message in the words of its check (without pydantic's "Value error, ")."""
    return str(error["msg"]).removeprefix("Value error, ")
