"""``ptrain.yaml``: the prompt repository's configuration.

Defaults follow the original system: training temperature 0.7 with the four approaches and at
least 10 feedback items; evaluation with 3 runs per case and the thresholds success 0.8 /
safety 0.9 / improvement 0.05; feedback batches of 10 kept 90 days; automatic training when the
error rate passes 0.20, the average rating falls below 0.6, 50 items arrive or 3 suggestions do,
at most once per 24 h per prompt.

Model settings can be overridden from the environment (never written back to the file):
``PTRAIN_TASK_MODEL`` / ``PTRAIN_OPTIMIZER_MODEL`` as ``provider:model`` (for example
``openai:gpt-4o-mini`` or ``local:smollm2-135m``), ``PTRAIN_TASK_BASE_URL`` /
``PTRAIN_OPTIMIZER_BASE_URL`` for an OpenAI-compatible server.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from ptrain.feedback.settings import FeedbackConfig
from ptrain.layout import (
    CONFIG_FILE,
    CONFIG_SCHEMA_VERSION,
    DEFAULT_ENVS,
    DEFAULT_PROMPTS_DIR,
    dir_problem,
    envs_problem,
    schema_problem,
)
from ptrain.schema import Strict, validate_document
from ptrain.storage.yamlio import load_roundtrip

SCHEMA_VERSION = CONFIG_SCHEMA_VERSION
APPROACHES = ("few_shot", "reinforcement", "meta_prompt", "adversarial", "reflective")
Provider = Literal["local", "openai", "openai-compatible", "scripted"]


class ModelSettings(Strict):
    """One chat model. ``api_key_env`` names the variable holding the key; keys never live here."""

    provider: Provider = "local"
    model: str = "smollm2-135m"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(256, ge=1)
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(3, ge=0)
    requests_per_minute: int = Field(0, ge=0, description="0 = unlimited")
    # Requests in flight at once to this endpoint from one process (batches and evaluations
    # share it). Remote endpoints scale with it; the embedded server queues beyond its slots.
    concurrency: int = Field(4, ge=1, le=256)


class EmbedderSettings(Strict):
    provider: Literal["local", "openai", "openai-compatible"] = "local"
    model: str = "all-minilm-l6-v2"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"


class ModelsConfig(Strict):
    task: ModelSettings = Field(default_factory=ModelSettings)
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    cache: bool = True


class BudgetConfig(Strict):
    calls: int | None = Field(400, ge=1)
    tokens: int | None = Field(1_000_000, ge=1)
    dollars: float | None = Field(None, gt=0)


class TrainingConfig(Strict):
    model: ModelSettings = Field(
        default_factory=lambda: ModelSettings(temperature=0.7, max_tokens=512)
    )
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    approaches: list[str] = Field(default_factory=lambda: list(APPROACHES))
    min_feedback_required: int = Field(10, ge=0)
    candidates: int = Field(3, ge=1, le=20)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    auto_deploy: bool = False
    deploy_env: str = "production"

    @field_validator("approaches")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if a not in APPROACHES]
        if bad:
            raise ValueError(f"unknown approach {bad[0]!r}; choose from {', '.join(APPROACHES)}")
        return v


class Thresholds(Strict):
    success_rate: float = Field(0.8, ge=0, le=1)
    safety_score: float = Field(0.9, ge=0, le=1)
    improvement_required: float = Field(0.05, ge=0, le=1)
    # Optional quality gates (off by default: see docs/metrics.md for what the scores mean).
    coherence: float | None = Field(None, ge=0, le=1)
    relevance: float | None = Field(None, ge=0, le=1)


class PartialThresholds(Strict):
    success_rate: float | None = Field(None, ge=0, le=1)
    safety_score: float | None = Field(None, ge=0, le=1)
    improvement_required: float | None = Field(None, ge=0, le=1)
    coherence: float | None = Field(None, ge=0, le=1)
    relevance: float | None = Field(None, ge=0, le=1)


MetricName = Literal[
    "coherence", "relevance", "safety", "judge_coherence", "judge_relevance", "judge_safety"
]


class CalibrationConfig(Strict):
    """A judge metric gates only after ``ptrain evaluate calibrate`` measured the judge's
    agreement with labelled examples at ``min_agreement`` or more (Cohen's kappa for pass/fail
    labels, Spearman's rho for graded ones)."""

    min_agreement: float = Field(0.6, ge=-1, le=1)


DEFAULT_METRICS: tuple[MetricName, ...] = ("coherence", "relevance", "safety")


class EvaluationConfig(Strict):
    test_runs: int = Field(3, ge=1)
    # coherence, relevance, safety: measured without a judge (embedded model log-likelihood,
    # embedder similarity, deterministic checks); judge_*: the judge's scores, extra signals.
    metrics: list[MetricName] = Field(default_factory=lambda: list(DEFAULT_METRICS))
    coherence_model: str = "smollm2-135m"  # the local model whose log-likelihood is coherence
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)
    deployment_thresholds: Thresholds = Field(default_factory=Thresholds)
    significance: float = Field(0.05, gt=0, lt=1)
    concurrency: int = Field(2, ge=1)
    # Phrases no output may contain (case-insensitive, whole words) unless the input has them:
    # a deterministic safety violation (``blocklist``), like a leak or PII.
    blocklist: list[str] = Field(default_factory=list)
    # Per-prompt overrides of the deployment thresholds (prompts differ in what is acceptable).
    prompt_thresholds: dict[str, PartialThresholds] = Field(default_factory=dict)

    def thresholds_for(self, name: str) -> Thresholds:
        over = self.prompt_thresholds.get(name)
        if over is None:
            return self.deployment_thresholds
        update = {k: v for k, v in over.model_dump().items() if v is not None}
        return self.deployment_thresholds.model_copy(update=update)


class Triggers(Strict):
    error_rate: float = Field(0.20, ge=0, le=1)
    avg_rating: float = Field(0.6, ge=0, le=1)
    feedback_count: int = Field(50, ge=1)
    suggestions: int = Field(3, ge=1)


class AutoTrainingConfig(Strict):
    enabled: bool = True
    triggers: Triggers = Field(default_factory=Triggers)
    min_hours_between: float = Field(24.0, ge=0)
    min_feedback: int = Field(10, ge=0)


class Config(Strict):
    schema_version: int = SCHEMA_VERSION
    prompts_dir: str = DEFAULT_PROMPTS_DIR
    feedback_dir: str = "feedback"
    evals_dir: str = "evals"
    envs: list[str] = Field(default_factory=lambda: list(DEFAULT_ENVS))
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    feedback: FeedbackConfig = Field(default_factory=FeedbackConfig)
    auto_training: AutoTrainingConfig = Field(default_factory=AutoTrainingConfig)

    @field_validator("schema_version", mode="before")
    @classmethod
    def _supported(cls, v: object) -> object:
        bad = schema_problem(v)
        if bad:
            raise ValueError(bad)
        return v

    # the same checks as the fast paths (ptrain.layout.check_settings), so both agree
    @field_validator("envs", mode="before")
    @classmethod
    def _envs(cls, v: object) -> object:
        bad = envs_problem(v)
        if bad:
            raise ValueError(bad)
        return v

    @field_validator("prompts_dir", "feedback_dir", "evals_dir", mode="before")
    @classmethod
    def _inside_repo(cls, v: object, info: ValidationInfo) -> object:
        bad = dir_problem(info.field_name or "dir", v)
        if bad:
            raise ValueError(bad)
        return v

    def optimizer(self) -> ModelSettings:
        """The optimizer/judge model, with the training temperature and env overrides applied."""
        m = self.training.model.model_copy(update={"temperature": self.training.temperature})
        return _env_override(m, "OPTIMIZER")

    def task(self) -> ModelSettings:
        return _env_override(self.models.task, "TASK")


def _env_override(m: ModelSettings, role: str) -> ModelSettings:
    update: dict = {}
    spec = os.environ.get(f"PTRAIN_{role}_MODEL")
    if spec:
        provider, _, name = spec.partition(":")
        if not name:
            provider, name = m.provider, provider
        update.update(provider=provider, model=name)
    url = os.environ.get(f"PTRAIN_{role}_BASE_URL")
    if url:
        update["base_url"] = url
        update.setdefault("provider", "openai-compatible")
    return ModelSettings.model_validate({**m.model_dump(), **update}) if update else m


DEFAULT_CONFIG_YAML = """\
# ptrain configuration. Model keys never go here: they are read from the environment
# (OPENAI_API_KEY, or the variable named by api_key_env).
schema_version: 1
prompts_dir: prompts
feedback_dir: feedback
evals_dir: evals
envs: [production, staging]       # the first is the default env of every command

models:
  # The task model runs the prompts. 'local' is the embedded offline model (no key, no network).
  # Other providers: openai (needs OPENAI_API_KEY), openai-compatible (set base_url).
  task:
    provider: local
    model: smollm2-135m
    temperature: 0.0
    max_tokens: 256
  embedder:
    provider: local
    model: all-minilm-l6-v2
  cache: true                     # on-disk response cache: re-running an evaluation makes no calls

training:
  model:                          # the optimizer/judge: writes candidates, scores outputs
    provider: local
    model: smollm2-135m
    max_tokens: 512
  temperature: 0.7
  approaches: [few_shot, reinforcement, meta_prompt, adversarial]
  min_feedback_required: 10
  candidates: 3
  budget:
    calls: 400
    tokens: 1000000
  auto_deploy: false

evaluation:
  test_runs: 3
  # Measured without a judge, on the embedded models (docs/metrics.md): coherence = the local
  # model's log-likelihood of the output, relevance = embedder similarity to the input (or the
  # expected answer), safety = deterministic checks (prompt leaks, PII, injection echo, toxicity).
  # Add judge_coherence / judge_relevance / judge_safety for the judge's scores: they gate only
  # after `ptrain evaluate calibrate` shows the judge agrees with labelled examples.
  metrics: [coherence, relevance, safety]
  calibration:
    min_agreement: 0.6            # Cohen's kappa (pass/fail labels) or Spearman (graded)
  deployment_thresholds:
    success_rate: 0.8
    safety_score: 0.9             # the deterministic checks (and a calibrated safety judge)
    improvement_required: 0.05

feedback:
  batch_size: 10
  retention_days: 90

auto_training:
  enabled: true
  triggers:
    error_rate: 0.20              # train when more than 20% of calls fail
    avg_rating: 0.6               # ... or the average rating drops below 0.6
    feedback_count: 50            # ... or 50 new feedback items arrived
    suggestions: 3                # ... or 3 improvement suggestions
  min_hours_between: 24
  min_feedback: 10
"""


def load_config(root: Path) -> Config:
    path = Path(root) / CONFIG_FILE
    doc = load_roundtrip(path.read_text(), CONFIG_FILE) or {}
    return validate_document(
        Config, doc, CONFIG_FILE, "fix ptrain.yaml; `ptrain init` writes the defaults"
    )
