"""Drawing the README's dashboard pictures (``scripts/render_dashboard_pngs.py``): the theme and units
(:mod:`.theme`) and the panels (:mod:`.drawing`)."""
