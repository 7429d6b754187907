"""The proposal operators (historically "approaches"), each behind the ``Approach`` interface of
training.base. The search (training.search) calls them on candidates of its pool.

Each operator's module is imported when the operator is first asked for, so a run restricted
to one operator loads only that one.
"""

from __future__ import annotations

from ptrain.errors import PtrainError


def get(name: str):
    if name == "few_shot":
        from ptrain.training.approaches.few_shot import FewShot  # lazy: loaded on use

        return FewShot()
    if name == "reinforcement":
        from ptrain.training.approaches.reinforcement import Reinforcement  # lazy: loaded on use

        return Reinforcement()
    if name == "meta_prompt":
        from ptrain.training.approaches.meta_prompt import MetaPrompt  # lazy: loaded on use

        return MetaPrompt()
    if name == "adversarial":
        from ptrain.training.approaches.adversarial import Adversarial  # lazy: loaded on use

        return Adversarial()
    if name == "reflective":
        from ptrain.training.approaches.reflective import Reflective  # lazy: loaded on use

        return Reflective()
    raise PtrainError(
        f"unknown approach {name!r}",
        "use few_shot, reinforcement, meta_prompt, adversarial, reflective, auto or all",
    )
