"""The proposal operators (historically "approaches"), each behind the ``Approach`` interface of
training.base. The search (training.search) calls them on candidates of its pool."""

from __future__ import annotations

from ptrain.errors import PtrainError


def get(name: str):

    if name == "few_shot":
        from ptrain.training.approaches.few_shot import (
            FewShot,  # lazy: an operator's module loads when it is used
        )

        return FewShot()
    if name == "reinforcement":
        from ptrain.training.approaches.reinforcement import (
            Reinforcement,  # lazy: an operator's module loads when it is used
        )

        return Reinforcement()
    if name == "meta_prompt":
        from ptrain.training.approaches.meta_prompt import (
            MetaPrompt,  # lazy: an operator's module loads when it is used
        )

        return MetaPrompt()
    if name == "adversarial":
        from ptrain.training.approaches.adversarial import (
            Adversarial,  # lazy: an operator's module loads when it is used
        )

        return Adversarial()
    if name == "reflective":
        from ptrain.training.approaches.reflective import (
            Reflective,  # lazy: an operator's module loads when it is used
        )

        return Reflective()
    raise PtrainError(
        f"unknown approach {name!r}",
        "use few_shot, reinforcement, meta_prompt, adversarial, reflective, auto or all",
    )
