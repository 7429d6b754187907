"""The proposal operators (historically "approaches"), each behind the ``Approach`` interface of
training.base. The search (training.search) calls them on candidates of its pool."""

from __future__ import annotations


def get(name: str):
    from ptrain.errors import PtrainError

    if name == "few_shot":
        from ptrain.training.approaches.few_shot import FewShot

        return FewShot()
    if name == "reinforcement":
        from ptrain.training.approaches.reinforcement import Reinforcement

        return Reinforcement()
    if name == "meta_prompt":
        from ptrain.training.approaches.meta_prompt import MetaPrompt

        return MetaPrompt()
    if name == "adversarial":
        from ptrain.training.approaches.adversarial import Adversarial

        return Adversarial()
    if name == "reflective":
        from ptrain.training.approaches.reflective import Reflective

        return Reflective()
    raise PtrainError(
        f"unknown approach {name!r}",
        "use few_shot, reinforcement, meta_prompt, adversarial, reflective, auto or all",
    )
