"""Which keys of a bucket source are documents, their ids, and what their S3 metadata and tags give."""

from __future__ import annotations

import pytest

from faro_workloads.contract.settings import SourceDocumentsConfig
from faro_workloads.core.source_documents import SourceLayout, document_metadata
from faro_workloads.s3_events import S3ObjectEvent, object_created_notification, parse_s3_notification

LAYOUT = SourceLayout(
    "docs-bucket", "raw/docs", include=("*.md", "guides/*"), exclude=("drafts/*", "*.tmp.md")
)


@pytest.mark.parametrize(
    ("key", "doc_id"),
    [
        ("raw/docs/setup.md", "setup.md"),
        ("raw/docs/deep/er/notes.md", "deep/er/notes.md"),  # * crosses /
        ("raw/docs/guides/install.html", "guides/install.html"),
        ("raw/docs/guides/with space.md", "guides/with-space.md"),  # made safe as a file path is
        ("raw/docs/drafts/wip.md", None),  # excluded
        ("raw/docs/notes.tmp.md", None),
        ("raw/docs/logo.png", None),  # not included
        ("raw/docs/guides/", None),  # a folder marker
        ("raw/other/setup.md", None),  # another prefix
        ("raw/docsetup.md", None),  # the prefix is a whole segment
    ],
)
def test_a_key_is_a_document_when_the_globs_say_so(key: str, doc_id: str | None) -> None:
    assert LAYOUT.doc_id(key) == doc_id


def test_without_include_globs_every_key_below_the_prefix_is_a_document() -> None:
    layout = SourceLayout.of(SourceDocumentsConfig(prefix="raw"), default_bucket="chunks")
    assert (layout.bucket, layout.doc_id("raw/a/b.bin")) == ("chunks", "a/b.bin")
    assert layout.source("raw/a/b.bin") == "s3://chunks/raw/a/b.bin"
    assert layout.source_prefix == "s3://chunks/raw/"


def test_metadata_comes_from_tags_and_user_metadata_with_filter_safe_names() -> None:
    metadata = document_metadata(
        {"team": "ops", "reviewed.by": "ana"}, [("team", "tag-loses"), ("tier", "gold")]
    )
    assert metadata == {"reviewed_by": "ana", "team": "ops", "tier": "gold"}
    many = document_metadata({f"k{i:03}": "v" * 5000 for i in range(100)}, [])
    assert len(many) == 64 and all(len(value) == 4096 for value in many.values())


def test_a_census_notification_reads_as_the_s3_event_it_imitates() -> None:
    key = "raw/docs/guides/with space+plus.md"
    (event,) = parse_s3_notification(object_created_notification("docs-bucket", [key])) or []
    assert event == S3ObjectEvent("ObjectCreated:Put", "docs-bucket", key)
