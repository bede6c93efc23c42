"""What each command runs: one module per service, each with ``build(...)`` returning a closable bundle.

- ``faro serve chunker``: :func:`chunker.build` -> :class:`~.resources.HttpService` (an S3 client).
- ``faro serve query``: :func:`query.build` -> :class:`~.resources.HttpService` (stores, embedder,
  retriever).
- ``faro serve embedder``: :func:`embedder.build` -> :class:`~.embedder.EmbedderService` (stores,
  embedder, ingest path with its outbox drainer, SQS worker; no retriever).
- ``faro local``: :func:`local.build` -> :class:`~.local.LocalRuntime` (embedded PostgreSQL, stores, the
  whole data plane, and with ``--s3`` the local S3/SQS path).
- ``faro consistency``: :func:`stores.open_stores` with ``StoreAccess.AUDIT`` -> :class:`~.stores.Stores`
  (read-only), in :func:`faro_workloads.consistency_job.run_job`.

Every service opens its two stores through :func:`stores.open_stores`, whose :class:`~.stores.StoreAccess`
says what it may create and which failures stop it. A bundle closes what its build opened, last opened first
(:class:`~.resources.Resources`); the CLI only parses options, builds, runs and closes.

The parts stay where they are: the ingest path and the data plane in :mod:`faro_workloads.data_plane`, the
SQS consumer in :mod:`faro_workloads.embedder_worker`, the stores in :mod:`faro_workloads.core.stores`.
"""
