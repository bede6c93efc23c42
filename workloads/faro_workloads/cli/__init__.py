"""The ``faro`` command line: one group, commands registered from the modules of this package."""

from __future__ import annotations

import logging
import os
import sys

import click
import httpx
from pydantic import ValidationError

from faro_workloads import FaroError, __version__
from faro_workloads.errors import EXIT_INPUT, EXIT_UNAVAILABLE, exit_status, invalid_configuration, one_line


class UserError(click.ClickException):
    """An error worth one readable line, exit code 1 (see :func:`faro_workloads.errors.exit_status` for the
    codes of Faro's own errors: 2 the input is wrong, 3 a dependency is unavailable)."""


URL_VARIABLE, API_KEY_VARIABLE = "FARO_URL", "FARO_API_KEY"


def _api_url(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """An http(s) URL with a host: ``localhost:8080`` would reach httpx as the scheme 'localhost', and read
    as an API that cannot be reached (exit 3) instead of a mistyped option (exit 2)."""
    try:
        url = httpx.URL(value) if "://" in value else None
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise click.BadParameter(f"{value!r} is not an http(s) URL (e.g. http://127.0.0.1:8080)")
    return value


url_option = click.option(
    "--url",
    default="http://127.0.0.1:8080",
    show_default=True,
    envvar=URL_VARIABLE,
    show_envvar=True,
    callback=_api_url,
)
"""The Faro API a command talks to (a local one, or a pipeline's service)."""
api_key_option = click.option(
    "--api-key", envvar=API_KEY_VARIABLE, show_envvar=True, help="Bearer key, if the API wants one."
)


def counted(count: int, noun: str) -> str:
    """``count`` and ``noun``, plural unless it is one: "1 hit", "3 hits", "2 keys"."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@click.group()
@click.version_option(__version__, prog_name="faro")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def cli(verbose: bool) -> None:
    """Faro: durable, observable RAG pipelines (pgvector + Qdrant)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "httpcore", "sentence_transformers", "psycopg.pool", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _warn_unknown_variables()


def _warn_unknown_variables() -> None:
    """A warning for each FARO_* variable that names no setting (a typo would otherwise go unnoticed)."""
    client = (URL_VARIABLE, API_KEY_VARIABLE)
    if not any(name.startswith("FARO_") and name not in client for name in os.environ):
        return  # the settings model is not even imported for a command that needs none
    from faro_workloads.contract.settings_env import unknown_variables

    for line in unknown_variables(os.environ, also_known=client):
        logging.getLogger(__name__).warning(line)


def _register_commands() -> None:
    """Import the modules whose decorators add commands to :data:`cli`."""
    import faro_workloads.cli.consistency_command  # noqa: F401
    from faro_workloads.cli import (  # noqa: F401
        dlq_commands,
        document_commands,
        eval_command,
        generation_commands,
        key_commands,
        local_commands,
        operator_commands,
        reindex_command,
        serve_commands,
        sync_command,
    )


def main() -> None:
    """Entry point: one readable line and a non-zero exit code for every expected failure."""
    _register_commands()
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        _fail_line("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        _fail_line(exc.format_message())
        sys.exit(exc.exit_code)
    except (FaroError, FileNotFoundError, ValueError) as exc:
        _fail_line(_one_line(exc))
        sys.exit(exit_status(exc))
    except httpx.HTTPError as exc:
        _fail_line(f"cannot reach the API: {exc}")
        sys.exit(EXIT_UNAVAILABLE)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        known = outside_failure(exc)
        if known is None:
            raise
        message, status = known
        _fail_line(message)
        sys.exit(status)


def outside_failure(exc: Exception) -> tuple[str, int] | None:
    """The libraries' own errors a command may meet outside Faro's code (AWS, the Kubernetes client, input
    nested past Python's recursion limit) as one line and an exit code; None for any other error (a bug:
    its traceback is what to report)."""
    import botocore.exceptions
    import kubernetes.config
    import urllib3.exceptions

    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return f"no AWS credentials: {one_line(exc)}", EXIT_INPUT
    if isinstance(exc, botocore.exceptions.ClientError):  # AWS answered: a 4xx is this side's to fix
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
        return f"S3/SQS refused the call: {one_line(exc)}", EXIT_UNAVAILABLE if status >= 500 else EXIT_INPUT
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return f"cannot reach S3/SQS: {one_line(exc)}", EXIT_UNAVAILABLE
    if isinstance(exc, kubernetes.config.ConfigException):
        return f"no Kubernetes credentials: {one_line(exc)}", EXIT_INPUT
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return f"cannot reach the Kubernetes API server: {one_line(exc)}", EXIT_UNAVAILABLE
    if isinstance(exc, RecursionError):
        return "the input nests too deeply to read", EXIT_INPUT
    return None


def _fail_line(message: str) -> None:
    """One unwrapped line on stderr, whatever the terminal width."""
    click.echo(f"faro: {' '.join(message.split())}", err=True)


def _one_line(exc: Exception) -> str:
    return invalid_configuration(exc) if isinstance(exc, ValidationError) else one_line(exc)
