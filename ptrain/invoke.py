"""Run a prompt once on the configured task model (``ptrain prompt run``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ptrain.errors import PtrainError
from ptrain.evaluation.service import response_cache_dir
from ptrain.llm.client import LLM
from ptrain.suggest import closest


@dataclass
class RunResult:
    prompt: str
    version: int | None
    commit: str
    model: str
    output: str
    latency_ms: float
    prompt_tokens: int
    completion_tokens: int
    cached: bool
    recorded: str | None = None  # feedback record id when --record

    def to_dict(self) -> dict:
        return asdict(self)


def parse_vars(pairs: list[str]) -> dict[str, str]:
    out = {}
    for p in pairs or []:
        key, sep, val = p.partition("=")
        if not sep or not key.strip():
            raise PtrainError(
                f"--var {p!r} is not KEY=VALUE", "e.g. --var utterance='play some jazz'"
            )
        out[key.strip()] = val
    return out


def check_variables(name: str, declared: list[str], given: dict[str, str]) -> None:
    """Unknown names first (a typo also makes the real one missing): one error that says both."""
    unknown = [k for k in given if k not in declared]
    missing = [v for v in declared if v not in given]
    if unknown:
        guess = closest(unknown[0], missing or declared)
        raise PtrainError(
            f"{name} has no input variable '{unknown[0]}'"
            + (f"; did you mean '{guess}'?" if guess else ""),
            f"its variables are: {', '.join(declared) or '(none)'}",
        )
    if missing:
        raise PtrainError(
            f"missing input variable '{missing[0]}' for {name}",
            f"pass --var {missing[0]}=... (the prompt takes {', '.join(declared)})",
        )


def task_settings(repo, prompt):
    """The configured task model with the prompt's own hints (temperature, max_tokens, model)."""
    s = repo.config.task()
    hints = prompt.spec.model
    update = {
        k: v
        for k, v in (("temperature", hints.temperature), ("max_tokens", hints.max_tokens))
        if v is not None
    }
    if hints.model and s.provider != "local":
        update["model"] = hints.model
    return s.model_copy(update=update) if update else s


def run_prompt(
    repo, name: str, variables: dict[str, str], *, version=None, env=None, record: bool = False
) -> RunResult:
    prompt = repo.load(name, version, env)
    check_variables(name, prompt.input_variables, variables)

    settings = task_settings(repo, prompt)
    llm = LLM(settings, cache_dir=response_cache_dir(repo))
    c = llm.invoke(prompt.format_messages(**variables))
    res = RunResult(
        name,
        prompt.version,
        prompt.commit,
        settings.model,
        c.text,
        c.latency_ms,
        c.prompt_tokens,
        c.completion_tokens,
        c.cached,
    )
    if record:
        rec = repo.record_feedback(
            name,
            "success",
            version=prompt.commit,
            env=env if env is not None or version is not None else repo.default_env,
            inputs=variables,
            output=c.text,
            latency_ms=round(c.latency_ms, 1),
            prompt_tokens=c.prompt_tokens,
            completion_tokens=c.completion_tokens,
            source="automated",
            metadata={"via": "ptrain prompt run"},
        )
        res.recorded = rec.id
    return res
