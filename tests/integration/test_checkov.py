"""checkov on Faro's infrastructure code, held to the curated policy in ``tests/support/checkov_policy.py``.

Two scans, once per module: ``terraform/`` with ``--framework terraform``, and with ``--framework kubernetes``
the install manifests as ``kubectl apply -k`` would apply them (``kubectl kustomize`` of
``operator/deploy/base`` and of ``operator/deploy/overlays/eks``) together with what the operator makes of the
examples (``faro render`` of ``examples/kubernetes`` and, for a cluster with KEDA, of
``examples/kubernetes/eks``), all written to a temp dir.

checkov runs from its own virtualenv (``make checkov``, i.e. ``scripts/install-checkov.sh``; ``$FARO_CHECKOV``
points at another executable) and offline: no API key, no policy-metadata download (``--skip-download``,
``BC_SKIP_MAPPING``), no module download, no version check.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.checkov_policy import ENFORCED, EXCEPTIONS, FRAMEWORKS, KUBERNETES, SKIPPED, TERRAFORM
from support.kube_apiserver import faro_cache_dir
from support.kustomize import kustomize_build

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO_ROOT / "scripts" / "install-checkov.sh"
TERRAFORM_ROOT = REPO_ROOT / "terraform"
# The rendered install manifests: file name in the scan dir -> kustomization it is built from.
INSTALL_BUILDS = {
    "base.yaml": REPO_ROOT / "operator" / "deploy" / "base",
    "overlay-eks.yaml": REPO_ROOT / "operator" / "deploy" / "overlays" / "eks",
}
# The operator's children of the examples: file name in the scan dir -> (example folder, KEDA served).
EXAMPLE_RENDERS = {
    "examples.yaml": (REPO_ROOT / "examples" / "kubernetes", False),
    "examples-eks.yaml": (REPO_ROOT / "examples" / "kubernetes" / "eks", True),
}
CHECKOV_TIMEOUT_SECONDS = 180
# Settings that would make checkov talk to Bridgecrew / Prisma Cloud or change what it reports.
DROPPED_ENV_PREFIXES = ("BC_", "CKV_", "CHECKOV_", "PRISMA_")


def _pinned_version() -> str:
    """The checkov version scripts/install-checkov.sh installs (the one place it is written)."""
    found = re.search(r"^CHECKOV_VERSION=(\S+)$", INSTALL_SCRIPT.read_text(), re.MULTILINE)
    assert found, f"no CHECKOV_VERSION= line in {INSTALL_SCRIPT.relative_to(REPO_ROOT)}"
    return found.group(1)


CHECKOV_VERSION = _pinned_version()


@dataclass(frozen=True)
class Finding:
    check_id: str
    check_name: str
    resource: str
    file: str  # repository-relative, or "<kustomization> (rendered)"
    lines: str

    def describe(self) -> str:
        return f"{self.check_id} on {self.resource} in {self.file}{self.lines} ({self.check_name})"


@dataclass(frozen=True)
class Report:
    framework: str
    passed: tuple[Finding, ...]
    failed: tuple[Finding, ...]
    suppressed: tuple[Finding, ...]  # inline #checkov:skip comments
    parsing_errors: tuple[str, ...]
    resource_count: int


def _env(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(DROPPED_ENV_PREFIXES)}
    env.update(
        BC_SKIP_MAPPING="TRUE",  # no download of the policy metadata
        CKV_SKIP_PACKAGE_UPDATE_CHECK="TRUE",  # no query of PyPI for a newer checkov
        CKV_CACHE_DIR=str(home / "cache"),
        HOME=str(home),  # nothing read from or written to the user's ~/.checkov or ~/.bridgecrew
    )
    return env


def _checkov_binary(env: dict[str, str]) -> str:
    configured = os.environ.get("FARO_CHECKOV")
    if not configured:
        venv = faro_cache_dir() / f"checkov-{CHECKOV_VERSION}"
        binary = venv / "bin" / "checkov"
        if not ((venv / ".faro-installed").is_file() and os.access(binary, os.X_OK)):
            pytest.fail(
                f"checkov {CHECKOV_VERSION} is not installed in {venv}: run `make checkov` "
                "(scripts/install-checkov.sh, its own virtualenv), or set FARO_CHECKOV to a checkov "
                f"{CHECKOV_VERSION} executable",
                pytrace=False,
            )
        return str(binary)
    binary = shutil.which(configured)
    if binary is None:
        pytest.fail(f"FARO_CHECKOV={configured} is not an executable; run `make checkov`", pytrace=False)
    result = subprocess.run(
        [binary, "--version"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    reported = result.stdout.strip().splitlines()[-1:] or [""]
    if reported[0] != CHECKOV_VERSION:
        pytest.fail(
            f"FARO_CHECKOV={configured} reports version {reported[0]!r}; the policy is written for "
            f"checkov {CHECKOV_VERSION} (scripts/install-checkov.sh)",
            pytrace=False,
        )
    return binary


def _render_install_manifests(target: Path) -> None:
    """The objects ``kubectl kustomize`` renders for each install, one YAML file per install, and the
    children ``faro render`` makes of each example folder."""
    from faro_operator.render import modern_cluster, render_children

    for name, kustomization in INSTALL_BUILDS.items():
        (target / name).write_text(yaml.safe_dump_all(kustomize_build(kustomization), sort_keys=False))
    for name, (folder, keda) in EXAMPLE_RENDERS.items():
        documents = [
            d for path in sorted(folder.glob("*.yaml")) for d in yaml.safe_load_all(path.read_text())
        ]
        children = render_children(documents, modern_cluster(keda=keda))
        (target / name).write_text(yaml.safe_dump_all(children, sort_keys=False))


def _display_file(framework: str, file_path: str) -> str:
    relative = file_path.lstrip("/")
    if framework == KUBERNETES and relative in INSTALL_BUILDS:
        return f"{INSTALL_BUILDS[relative].relative_to(REPO_ROOT)} (rendered by kubectl kustomize)"
    if framework == KUBERNETES and relative in EXAMPLE_RENDERS:
        return f"{EXAMPLE_RENDERS[relative][0].relative_to(REPO_ROOT)} (rendered by faro render)"
    return str((TERRAFORM_ROOT / relative).relative_to(REPO_ROOT))


def _findings(framework: str, results: Iterable[dict[str, Any]]) -> tuple[Finding, ...]:
    findings = []
    for result in results:
        first, last = (result.get("file_line_range") or [0, 0])[:2]
        findings.append(
            Finding(
                check_id=result["check_id"],
                check_name=result.get("check_name", ""),
                resource=result["resource"],
                file=_display_file(framework, result["file_path"]),
                lines=f":{first}-{last}" if first else "",
            )
        )
    return tuple(findings)


def _scan(binary: str, env: dict[str, str], framework: str, directory: Path) -> Report:
    command = [
        binary,
        "--directory",
        str(directory),
        "--framework",
        framework,
        "--output",
        "json",
        "--skip-download",
        "--download-external-modules",
        "false",
    ]
    try:
        result = subprocess.run(
            command,
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=CHECKOV_TIMEOUT_SECONDS,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"checkov --framework {framework} took over {CHECKOV_TIMEOUT_SECONDS} s", pytrace=False)
    # 0: nothing failed, 1: some check failed; anything else is a crash or a usage error.
    if result.returncode not in (0, 1):
        pytest.fail(
            f"checkov --framework {framework} exited {result.returncode}:\n{result.stderr[-4000:]}",
            pytrace=False,
        )
    try:
        output = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"checkov --framework {framework} printed no JSON report:\n{result.stdout[-2000:]}\n"
            f"{result.stderr[-2000:]}",
            pytrace=False,
        )
    reports = [r for r in (output if isinstance(output, list) else [output]) if "results" in r]
    if len(reports) != 1 or reports[0].get("check_type") != framework:
        pytest.fail(
            f"checkov --framework {framework} scanned nothing in {directory} (report: {output!r:.500})",
            pytrace=False,
        )
    (report,) = reports
    results = report["results"]
    return Report(
        framework=framework,
        passed=_findings(framework, results.get("passed_checks", [])),
        failed=_findings(framework, results.get("failed_checks", [])),
        suppressed=_findings(framework, results.get("skipped_checks", [])),
        parsing_errors=tuple(results.get("parsing_errors", [])),
        resource_count=report["summary"].get("resource_count", 0),
    )


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Report]:
    """Both checkov scans, run once for the whole module (side by side)."""
    base = tmp_path_factory.mktemp("checkov")
    home = base / "home"
    home.mkdir()
    env = _env(home)
    binary = _checkov_binary(env)
    manifests = base / "install-manifests"
    manifests.mkdir()
    _render_install_manifests(manifests)
    targets = {TERRAFORM: TERRAFORM_ROOT, KUBERNETES: manifests}
    # Side by side: each scan is mostly one busy core.
    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        futures = {
            framework: pool.submit(_scan, binary, env, framework, directory)
            for framework, directory in targets.items()
        }
        return {framework: future.result() for framework, future in futures.items()}


def _excepted(framework: str, finding: Finding) -> bool:
    return any(_exception_matches(key, finding) for key in EXCEPTIONS[framework])


def _exception_matches(key: tuple[str, str], finding: Finding) -> bool:
    check_id, resource = key
    return finding.check_id == check_id and (
        finding.resource == resource or finding.resource.startswith(f"{resource}[")
    )


def _listing(findings: Iterable[Finding]) -> str:
    return "\n".join(f"  - {finding.describe()}" for finding in sorted(findings, key=Finding.describe))


PER_FRAMEWORK = pytest.mark.parametrize("framework", FRAMEWORKS)


def test_the_policy_is_consistent() -> None:
    for framework in FRAMEWORKS:
        enforced, skipped = ENFORCED[framework], SKIPPED[framework]
        assert not enforced.keys() & skipped.keys(), f"{framework}: both enforced and skipped"
        for check_id, text in [*enforced.items(), *skipped.items()]:
            assert text.strip(), f"{framework}: {check_id} has no written property/reason"
        for (check_id, resource), reason in EXCEPTIONS[framework].items():
            assert check_id in enforced, f"{framework}: exception for {check_id}, which is not enforced"
            assert resource and reason.strip(), f"{framework}: exception {check_id} {resource} has no reason"


@PER_FRAMEWORK
def test_checkov_parsed_everything_with_no_inline_skips(reports: dict[str, Report], framework: str) -> None:
    report = reports[framework]
    assert report.resource_count > 0, f"checkov --framework {framework} found no resources"
    assert not report.parsing_errors, f"checkov could not parse: {', '.join(report.parsing_errors)}"
    assert not report.suppressed, (
        "checks are suppressed by inline #checkov:skip comments; write the decision into "
        f"tests/support/checkov_policy.py instead:\n{_listing(report.suppressed)}"
    )


@PER_FRAMEWORK
def test_every_enforced_check_runs(reports: dict[str, Report], framework: str) -> None:
    report = reports[framework]
    ran = {finding.check_id for finding in (*report.passed, *report.failed)}
    missing = sorted(ENFORCED[framework].keys() - ran)
    assert not missing, (
        f"enforced {framework} checks that checkov {CHECKOV_VERSION} did not run on any resource (renamed, "
        "removed, or the resource is gone): update tests/support/checkov_policy.py:\n"
        + "\n".join(f"  - {check_id}: {ENFORCED[framework][check_id]}" for check_id in missing)
    )


@PER_FRAMEWORK
def test_every_enforced_check_passes_everywhere(reports: dict[str, Report], framework: str) -> None:
    failures = [
        finding
        for finding in reports[framework].failed
        if finding.check_id in ENFORCED[framework] and not _excepted(framework, finding)
    ]
    assert not failures, f"enforced {framework} checks fail (fix the code):\n" + "\n".join(
        f"  - {finding.describe()}\n      guarantees: {ENFORCED[framework][finding.check_id]}"
        for finding in sorted(failures, key=Finding.describe)
    )


@PER_FRAMEWORK
def test_no_check_fails_without_a_written_decision(reports: dict[str, Report], framework: str) -> None:
    listed = ENFORCED[framework].keys() | SKIPPED[framework].keys()
    unlisted = [finding for finding in reports[framework].failed if finding.check_id not in listed]
    assert not unlisted, (
        f"{framework} checks fail that tests/support/checkov_policy.py does not mention: fix the code, or "
        f"add the check to SKIPPED (or EXCEPTIONS) with the reason:\n{_listing(unlisted)}"
    )


@PER_FRAMEWORK
def test_every_skip_and_exception_is_still_needed(reports: dict[str, Report], framework: str) -> None:
    failed = reports[framework].failed
    failing_ids = {finding.check_id for finding in failed}
    stale = [f"  - SKIPPED {check_id}" for check_id in sorted(SKIPPED[framework].keys() - failing_ids)]
    stale += [
        f"  - EXCEPTIONS {check_id} on {resource}"
        for check_id, resource in sorted(EXCEPTIONS[framework])
        if not any(_exception_matches((check_id, resource), finding) for finding in failed)
    ]
    assert not stale, (
        f"{framework} entries of tests/support/checkov_policy.py that no longer fail: remove them (and move "
        "the check to ENFORCED if it now holds):\n" + "\n".join(stale)
    )
