"""Readable messages for specs that pass the CRD schema but not the models' deeper validation."""

from __future__ import annotations

from pydantic import ValidationError


def spec_error_message(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error.get("loc", ())) or "spec"
        problems.append(f"spec.{where}: {error.get('msg')}")
    more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return "; ".join(problems) + more
