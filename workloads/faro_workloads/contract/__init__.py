"""The API contract between the operator and the workloads (the way CloudNativePG's ``api/v1`` is one).

- :mod:`~faro_workloads.contract.api`: group, version, kinds with plurals and short names, the base model;
- :mod:`~faro_workloads.contract.status`: the status models (CRD schema, operator and consistency job);
- :mod:`~faro_workloads.contract.conditions`: the condition catalogue with its named constructors;
- :mod:`~faro_workloads.contract.chunking`: chunking's names, bounds and rule, for the spec and the settings;
- :mod:`~faro_workloads.contract.settings`: the services' settings (``FARO_*``; the embedding model's in
  :mod:`~faro_workloads.contract.embedding_settings`), and
  :mod:`~faro_workloads.contract.settings_env`: their variable names, derived from that model.

It imports nothing else of Faro, so the operator can depend on it without the data plane's internals.
Every group, plural, condition type and reason is spelled here and nowhere else.
"""

from faro_workloads.contract.api import API_VERSION, COLLECTION, GROUP, KINDS, RAGPIPELINE, VERSION

__all__ = ["API_VERSION", "COLLECTION", "GROUP", "KINDS", "RAGPIPELINE", "VERSION"]
