"""Review of trained prompts: pull requests for training branches, PR evaluation, deploy on merge.

* :mod:`ptrain.review.github` — the only module that talks to the GitHub REST API (stdlib
  ``urllib``; token from ``GITHUB_TOKEN``/``GH_TOKEN``, never logged or written anywhere).
  ``open_or_update_pr(repo, train_result)`` opens one pull request per prompt, or updates the
  open one for that prompt.
* :mod:`ptrain.review.service` — ``review`` (evaluate the prompts a pull request changes against
  the base branch; one sticky comment) and ``deploy_merged`` (deploy what a merge changed).

Nothing heavy is imported here.
"""
