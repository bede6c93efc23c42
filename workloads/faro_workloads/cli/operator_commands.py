"""Operator commands: ``faro crds``, ``faro render`` (child manifests offline) and ``faro operator``."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import click

from faro_workloads.cli import UserError, cli
from faro_workloads.errors import InputError, one_line


@cli.command()
@click.option(
    "--write",
    "write_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write one YAML file per CRD into this folder.",
)
@click.option(
    "--check",
    "check_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Exit 1 when the files in this folder differ from the models.",
)
def crds(write_dir: Path | None, check_dir: Path | None) -> None:
    """Print (or write, or check) the CRDs generated from the spec models."""
    from faro_operator.crds import CRD_FILES, render_crd_yaml

    if write_dir is not None and check_dir is not None:
        raise click.UsageError("--write and --check go apart: write the CRDs, or check them")
    if write_dir is not None:
        write_dir.mkdir(parents=True, exist_ok=True)
        for name in CRD_FILES:
            (write_dir / name).write_text(render_crd_yaml(name))
        click.echo(f"wrote {len(CRD_FILES)} CRDs to {write_dir}")
        return
    if check_dir is not None:
        stale = [
            n
            for n in CRD_FILES
            if not (check_dir / n).exists() or (check_dir / n).read_text() != render_crd_yaml(n)
        ]
        if stale:
            raise UserError(
                f"CRDs out of date in {check_dir}: {', '.join(stale)}; run `faro crds --write {check_dir}`"
            )
        click.echo(f"{len(CRD_FILES)} CRDs up to date")
        return
    click.echo("---\n".join(render_crd_yaml(name) for name in CRD_FILES), nl=False)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.File("r"))
@click.option(
    "--no-service-monitors", is_flag=True, help="Render for a cluster without the Prometheus Operator."
)
@click.option("--keda", is_flag=True, help="Render for a cluster with KEDA (the embedder's ScaledObject).")
def render(files, no_service_monitors: bool, keda: bool) -> None:  # type: ignore[no-untyped-def]
    """Print every child manifest of the Collections and RagPipelines in FILES ('-' for stdin)."""
    import yaml

    from faro_operator.render import RenderError, load_manifests, modern_cluster, render_children

    documents = []
    for file in files:
        try:
            documents += load_manifests(file)
        except UnicodeDecodeError:
            raise InputError(f"{file.name} is not UTF-8 text") from None
        except yaml.YAMLError as exc:
            raise InputError(f"{file.name} is not valid YAML: {one_line(exc)}") from exc
    try:
        served = modern_cluster(service_monitors=not no_service_monitors, keda=keda)
        children = render_children(documents, served)
    except RenderError as exc:
        raise InputError(str(exc)) from exc
    click.echo(yaml.safe_dump_all(children, sort_keys=False, width=110), nl=False)


NAMESPACE_PATTERN = re.compile(r"^!?[a-z0-9*?]([-a-z0-9*?]{0,61}[a-z0-9*?])?$")
"""A namespace name, or a kopf pattern of names: ``*`` and ``?`` as in a shell, ``!`` first to exclude."""


def _namespaces(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        if not NAMESPACE_PATTERN.match(value):
            raise click.BadParameter(
                f"{value!r} is not a namespace name (lowercase letters, digits and '-', at most 63) nor a "
                "pattern of them ('team-*', '!kube-system')"
            )
    return values


def _liveness(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """``http://HOST:PORT/PATH``, as kopf serves its liveness probe (checked here, before anything starts)."""
    url = urlsplit(value)
    try:
        port = url.port
    except ValueError:
        port = None
    if url.scheme != "http" or not url.hostname or port is None or url.query or url.fragment:
        raise click.BadParameter(f"{value!r} is not http://HOST:PORT/PATH (e.g. http://0.0.0.0:8080/healthz)")
    return value


@cli.command("operator")
@click.option(
    "--namespace",
    "namespaces",
    multiple=True,
    callback=_namespaces,
    help="Watch only these namespaces (repeatable; 'team-*' and '!kube-system' patterns too).",
)
@click.option(
    "--resync-seconds",
    type=click.FloatRange(1, 3600),
    default=30.0,
    show_default=True,
    help="How often every resource is reconciled again (restores drifted children).",
)
@click.option(
    "--liveness",
    default="http://0.0.0.0:8080/healthz",
    show_default=True,
    callback=_liveness,
    help="Liveness endpoint.",
)
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=9090, show_default=True)
@click.option("--peering", is_flag=True, help="Coordinate several operator replicas (kopf peering).")
def operator_command(
    namespaces: tuple[str, ...], resync_seconds: float, liveness: str, metrics_port: int, peering: bool
) -> None:
    """Run the Faro operator (kopf) against the cluster in KUBECONFIG or the pod's service account."""
    from faro_operator.runner import OperatorOptions, run_operator
    from faro_workloads.services.stores import DirectStoreAdmin

    options = OperatorOptions(list(namespaces), resync_seconds, liveness, metrics_port, peering)
    run_operator(options, DirectStoreAdmin())
