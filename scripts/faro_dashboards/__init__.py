"""The Grafana dashboards of ``monitoring/dashboards/`` as code: the model (:mod:`.model`), one module per
dashboard, and the JSON they render to (:mod:`.render`); ``scripts/generate_dashboards.py`` writes them."""
