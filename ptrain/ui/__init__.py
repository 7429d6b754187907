"""``ptrain ui``: a local web page over a prompt repository.

* :mod:`ptrain.ui.views` — what the pages show (prompts, deploys, feedback over time), computed
  from ptrain's public services; plain dicts, ready for JSON.
* :mod:`ptrain.ui.results` — stored evaluation results, training reports and A/B experiments.
* :mod:`ptrain.ui.annotate` — the only writes: feedback records through ``feedback.record`` (the
  path ``ptrain feedback add`` uses) and eval cases through the suite's own writer.
* :mod:`ptrain.ui.server` — the HTTP server (standard library), its JSON API and the static page
  (``ptrain/ui/static``: HTML, CSS and a small chart script; nothing from a CDN).

Nothing here is imported by the CLI's fast paths: ``ptrain ui`` imports it when it runs.
"""
