"""Offline checks of the AWS side of Faro (``terraform/``).

Everything runs without an AWS account or a registry: the AWS provider comes from the filesystem mirror
``/opt/tf-plugins`` (selected through a CLI config file written to a temp dir and passed with
``TF_CLI_CONFIG_FILE``), and the ``*.tftest.hcl`` files use ``mock_provider "aws"``.

Nothing is written into the repository: each module/env is initialised in a copy of ``terraform/`` in a temp
dir (so ``.terraform/`` and ``.terraform.lock.hcl`` land there), and the provider is linked from one plugin
cache dir shared by the whole session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_ROOT = REPO_ROOT / "terraform"
PLUGIN_MIRROR = Path(os.environ.get("FARO_TF_PLUGIN_MIRROR", "/opt/tf-plugins"))
COMMAND_TIMEOUT_SECONDS = 240
INIT_WORKERS = 3

CLI_CONFIG = f"""\
provider_installation {{
  filesystem_mirror {{
    path    = "{PLUGIN_MIRROR}"
    include = ["registry.terraform.io/*/*"]
  }}
  direct {{
    exclude = ["registry.terraform.io/*/*"]
  }}
}}
"""


def _roots() -> list[str]:
    """Every Terraform root to check, relative to ``terraform/``: each module and each env."""
    found = []
    for group in ("modules", "envs"):
        base = TERRAFORM_ROOT / group
        if base.is_dir():
            found += [f"{group}/{d.name}" for d in sorted(base.iterdir()) if any(d.glob("*.tf"))]
    return found


ROOTS = _roots()


def _terraform_binary() -> str:
    path = shutil.which("terraform")
    if path is None:
        pytest.fail(
            "the Terraform tests need the 'terraform' CLI (1.11) on PATH and the AWS provider mirror in "
            f"{PLUGIN_MIRROR}; install them with the project's system setup",
            pytrace=False,
        )
    return path


class Terraform:
    def __init__(self, binary: str, workdir: Path, env: dict[str, str]) -> None:
        self.binary = binary
        self.workdir = workdir
        self.env = env
        self._initialised: set[str] = set()

    def run(self, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, *args, "-no-color"],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(
                f"terraform {' '.join(args)} failed in {cwd.relative_to(self.workdir)} "
                f"(exit {result.returncode}):\n{result.stdout}\n{result.stderr}",
                pytrace=False,
            )
        return result

    def init(self, root: str) -> Path:
        cwd = self.workdir / root
        if root not in self._initialised:
            self.run(["init", "-backend=false", "-input=false"], cwd)
            self._initialised.add(root)
        return cwd


@pytest.fixture(scope="session")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Terraform]:
    binary = _terraform_binary()
    if not PLUGIN_MIRROR.is_dir():
        pytest.fail(f"the AWS provider mirror {PLUGIN_MIRROR} is missing", pytrace=False)
    base = tmp_path_factory.mktemp("terraform")
    cli_config = base / "faro.tfrc"
    cli_config.write_text(CLI_CONFIG)
    plugin_cache = base / "plugin-cache"
    plugin_cache.mkdir()
    workdir = base / "tree"
    shutil.copytree(
        TERRAFORM_ROOT,
        workdir,
        ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*"),
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TF_")
        and key not in {"AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    }
    env.update(
        TF_CLI_CONFIG_FILE=str(cli_config),
        TF_PLUGIN_CACHE_DIR=str(plugin_cache),
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        CHECKPOINT_DISABLE="1",
        HOME=str(base),
    )
    terraform = Terraform(binary, workdir, env)
    # `init` is the slow part: the first run fills the shared plugin cache and writes a lock file. Terraform
    # only trusts a cache entry whose checksum is in the lock file, so the lock file is copied to the other
    # roots (in the temp copy); their inits then only link to the cache and can run side by side.
    if ROOTS:
        first = terraform.init(ROOTS[0])
        for root in ROOTS[1:]:
            shutil.copy2(first / ".terraform.lock.hcl", workdir / root / ".terraform.lock.hcl")
        with ThreadPoolExecutor(max_workers=INIT_WORKERS) as pool:
            list(pool.map(terraform.init, ROOTS[1:]))
    yield terraform


def test_layout_has_expected_roots() -> None:
    expected = {
        "modules/network",
        "modules/chunk_storage",
        "modules/security_groups",
        "modules/rds",
        "modules/qdrant_ec2",
        "modules/eks",
        "modules/irsa",
        "modules/bastion",
        "envs/prod",
    }
    assert expected <= set(ROOTS), f"missing Terraform roots: {sorted(expected - set(ROOTS))}"
    gitignore = (TERRAFORM_ROOT / ".gitignore").read_text().split()
    assert ".terraform/" in gitignore and "*.tfstate" in gitignore


def test_fmt(terraform: Terraform) -> None:
    # Run on the real tree (fmt -check writes nothing).
    terraform.run(["fmt", "-check", "-recursive", "-diff", str(TERRAFORM_ROOT)], REPO_ROOT)


def test_no_password_literal() -> None:
    for path in TERRAFORM_ROOT.rglob("*.tf"):
        if ".terraform" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            stripped = line.strip()
            assert not (stripped.startswith("password") and "=" in stripped), (
                f"{path.relative_to(REPO_ROOT)}:{number}: no password literal is allowed; "
                "use manage_master_user_password"
            )


def test_provider_pinned() -> None:
    for root in ROOTS:
        text = (TERRAFORM_ROOT / root / "versions.tf").read_text()
        assert 'version = "~> 5.100"' in text, f"{root}: pin hashicorp/aws to ~> 5.100"


@pytest.mark.parametrize("root", ROOTS)
def test_validate(terraform: Terraform, root: str) -> None:
    cwd = terraform.init(root)
    terraform.run(["validate"], cwd)


@pytest.mark.parametrize(
    "root", [r for r in ROOTS if any((TERRAFORM_ROOT / r / "tests").glob("*.tftest.hcl"))]
)
def test_tftest(terraform: Terraform, root: str) -> None:
    cwd = terraform.init(root)
    result = terraform.run(["test"], cwd)
    assert "Success!" in result.stdout and " 0 failed" in result.stdout, result.stdout


def test_every_module_has_tftest() -> None:
    untested = [
        r
        for r in ROOTS
        if r.startswith("modules/") and not any((TERRAFORM_ROOT / r / "tests").glob("*.tftest.hcl"))
    ]
    assert not untested, f"modules without a tests/*.tftest.hcl: {untested}"


def test_nothing_written_into_repo() -> None:
    leftovers = [
        p.relative_to(REPO_ROOT)
        for pattern in (".terraform", ".terraform.lock.hcl", "*.tfstate")
        for p in TERRAFORM_ROOT.rglob(pattern)
    ]
    assert not leftovers, f"terraform state/data written into the repo: {leftovers}"
