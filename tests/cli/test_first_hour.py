"""Issue 14, "the first hour": what a new user trips over, one test (or a few) per point.

(1) README snippets run: tests/docs/ (plus the static check below); (3) one default-version
rule; (4) "did you mean" for commands, prompts, envs; (5) prompt-file and config keys,
template lines, unknown --var; (6) 80 columns and help texts; (7) a bare remote with tags only.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from ptrain.errors import NotAPromptRepo, PtrainError
from tests.conftest import git
from tests.docs.mdblocks import ROOT, blocks

TRIAGE = "Classify this ticket: {ticket}"


@pytest.fixture
def triage(prompt_repo):
    """support/triage at v1 and v2; v1 deployed to production."""
    from ptrain.prompts import new_prompt_yaml

    prompt_repo.create("support/triage", new_prompt_yaml(TRIAGE))
    prompt_repo.update("support/triage", new_prompt_yaml("Route this ticket: {ticket}"))
    prompt_repo.deploy("support/triage", 1, "production", reason="first")
    return prompt_repo


# -- (1) the README's application snippet says what `llm` and `run_id` are ---------------------


def test_readme_defines_llm_and_run_id_before_using_them():
    code = "".join(b.code for b in blocks(ROOT / "README.md") if b.lang == "python")
    assert code.index("llm = chat_model(") < code.index("| llm")
    assert code.index("run_id = ") < code.index("cb.rate(run_id")
    assert '"run_id": run_id' in code  # the id reaches LangChain, so the callback records it


# -- (3) one rule for the version a command uses -----------------------------------------------


def test_every_command_defaults_to_the_deployed_version(triage, cli, monkeypatch):
    from ptrain.llm.scripted import scripted_models

    deployed = triage.deployed("support/triage", "production").commit
    assert triage.default_env == "production"  # a new repo lists production first
    assert triage.resolve("support/triage").commit == deployed
    show = cli.invoke("prompt", "show", "support/triage")
    assert (
        show.stdout.startswith("# support/triage v1 ") and "deployed to production" in show.stdout
    )
    assert "Classify this ticket" in show.stdout

    monkeypatch.setenv("PTRAIN_TASK_MODEL", "scripted:echo")
    with scripted_models({"echo": lambda msgs: msgs[-1].content}):
        run = cli.invoke("prompt", "run", "support/triage", "--var", "ticket=refund", "--json")
    assert run.exit_code == 0, run.stderr
    assert '"version": 1' in run.stdout and "Classify this ticket: refund" in run.stdout

    add = cli.invoke("feedback", "add", "support/triage", "--rating", "0.5")
    assert add.exit_code == 0 and "v1" in add.stdout
    assert triage.load("support/triage").version == 1  # what `evaluate version NAME` scores
    assert triage.get("support/triage").version == 1  # runtime: env defaults the same way


def test_never_deployed_falls_back_to_latest_and_says_so(prompt_repo, cli):
    from ptrain.prompts import new_prompt_yaml

    prompt_repo.create("support/triage", new_prompt_yaml(TRIAGE))
    prompt_repo.update("support/triage", new_prompt_yaml("Route this ticket: {ticket}"))
    out = cli.invoke("prompt", "show", "support/triage").stdout
    assert out.startswith("# support/triage v2 ") and "latest; not deployed to production" in out
    explicit = cli.invoke("prompt", "show", "support/triage", "--env", "production")
    assert explicit.exit_code == 1 and "not deployed to production" in explicit.stderr


def test_feedback_for_an_explicit_env_never_falls_back(triage, cli):
    """`feedback add --env staging` when nothing runs in staging is an error (like `prompt show
    --env`), writes nothing; a `--version` given without `--env` claims no env at all."""
    from ptrain import feedback as fb

    r = cli.run("feedback", "add", "support/triage", "--env", "staging", "--rating", "0.5")
    assert r.exit_code == 1 and "support/triage is not deployed to staging" in r.stderr
    assert "Traceback" not in r.stderr and not list(fb.iter_feedback(triage.root))
    r = cli.run("feedback", "add", "support/triage", "--version", "2", "--rating", "0.5", "--json")
    assert r.exit_code == 0, r.stderr
    (rec,) = fb.iter_feedback(triage.root)
    assert rec["version_number"] == 2 and "env" not in rec  # v2 runs nowhere: no env claimed
    r = cli.run("feedback", "add", "support/triage", "--rating", "0.9")
    assert r.exit_code == 0 and "v1" in r.stdout  # no env: the first env's deployed version
    assert [x.get("env") for x in fb.iter_feedback(triage.root)] == [None, "production"]


def test_the_default_env_is_the_first_configured(triage, cli):
    cfg = triage.root / "ptrain.yaml"
    cfg.write_text(
        cfg.read_text().replace("envs: [production, staging]", "envs: [staging, production]")
    )
    git(triage.root, "commit", "-qam", "staging first")
    from ptrain import PromptRepo

    repo = PromptRepo(triage.root)
    assert repo.default_env == "staging"
    assert (
        "latest; not deployed to staging" in cli.invoke("prompt", "show", "support/triage").stdout
    )
    rec = repo.deploy("support/triage", 1)
    assert rec.env == "staging"
    assert cli.invoke("prompt", "show", "support/triage").stdout.startswith("# support/triage v1 ")


# -- (4) did you mean: commands, prompt names, envs ---------------------------------------------


def test_unknown_subcommand_suggests_once(cli, prompt_repo):
    r = cli.run("prompt", "lsit")
    assert r.exit_code == 2
    assert r.stderr.count("Did you mean 'list'?") == 1


def test_unknown_group_suggests_the_lazy_group(cli, prompt_repo):
    r = cli.run("promt", "list")
    assert r.exit_code == 2 and "Did you mean 'prompt'?" in r.stderr
    assert "Did you mean" not in cli.run("xyzzy").stderr  # nothing close: no guess


def test_unknown_prompt_and_env_suggest_the_close_name(triage, cli):
    r = cli.run("prompt", "show", "support/triaje")
    assert r.exit_code == 1 and "Traceback" not in r.stderr
    assert "did you mean 'support/triage'?" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = cli.run("prompt", "deploy", "support/triage", "2", "--env", "prodution")
    assert r.exit_code == 1 and "did you mean 'production'?" in r.stderr
    r = cli.run("prompt", "show", "support/triage", "--env", "prod")
    assert "did you mean 'production'?" in r.stderr


TYPO_COMMANDS = [
    ("prompt", "history"),
    ("prompt", "rollback"),
    ("prompt", "diff", "1", "2"),
    ("evals", "list"),
    ("evaluate", "version", "2"),
    ("ab", "status"),
    ("train", "effect"),
    ("feedback", "summary"),
    ("feedback", "list"),
]


@pytest.mark.parametrize("argv", TYPO_COMMANDS, ids=" ".join)
def test_every_command_on_a_typod_prompt_says_did_you_mean(triage, cli, argv):
    """Not "0 of 0", an empty table, "no eval suite" or "never deployed": the name is wrong."""
    r = cli.run(*argv[:2], "support/triaje", *argv[2:])
    assert r.exit_code == 1, (r.stdout, r.stderr)
    assert "no prompt named 'support/triaje'" in r.stderr
    assert "did you mean 'support/triage'?" in r.stderr and "Traceback" not in r.stderr


def test_history_of_a_never_deployed_prompt_says_so(triage, cli):
    from ptrain.prompts import new_prompt_yaml

    triage.create("fresh", new_prompt_yaml("Hi {who}"))
    r = cli.run("prompt", "history", "fresh")
    assert r.exit_code == 0 and "fresh has never been deployed" in r.stdout


def test_runtime_get_suggests_prompt_and_env(triage):
    with pytest.raises(PtrainError, match="did you mean 'production'"):
        triage.get("support/triage", env="prodution")
    with pytest.raises(PtrainError) as info:
        triage.get("support/triaje")
    assert "did you mean 'support/triage'?" in info.value.hint


def test_suggest_helper():
    from ptrain.suggest import closest, hint

    assert closest("lsit", ["list", "show"]) == "list"
    assert closest("STAGING", ["staging", "production"]) == "staging"
    assert closest("zzz", ["list", "show"]) is None
    assert closest("list", ["list"]) is None  # the word itself is no suggestion
    assert hint("prod", ["production", "staging"], "see envs") == (
        "did you mean 'production'? (see envs)"
    )


# -- (5) prompt-file and config keys, template lines, --var names --------------------------------

PROMPT = """\
schema_version: 1
description: Route a ticket.
input_variables: [ticket]
messages:
  - role: system
    content: |
      Classify the ticket.
      Use one of the labels.
      Customer: {customer}
  - role: human
    content: "Ticket: {ticket}"
"""


def test_validate_suggests_a_close_prompt_key(tmp_path, cli):
    f = tmp_path / "p.yaml"
    f.write_text(PROMPT.replace("{customer}", "x") + "model: {temprature: 0.0}\n")
    r = cli.run("prompt", "validate", str(f))
    assert r.exit_code == 1
    assert f"{f}:12: unknown key 'temprature'; did you mean 'temperature'?" in r.stderr


def test_validate_suggests_a_close_config_key(prompt_repo, cli):
    cfg = prompt_repo.root / "ptrain.yaml"
    cfg.write_text(cfg.read_text().replace("    temperature: 0.0", "    temprature: 0.0", 1))
    r = cli.run("prompt", "validate")
    assert r.exit_code == 1
    assert re.search(
        r"ptrain\.yaml:\d+: unknown key 'temprature'; did you mean 'temperature'\?", r.stderr
    )


def test_undeclared_variable_is_reported_at_its_template_line(tmp_path, cli):
    f = tmp_path / "p.yaml"
    f.write_text(PROMPT)
    r = cli.run("prompt", "validate", str(f))
    assert r.exit_code == 1
    assert f"{f}:9: template uses {{customer}} but input_variables does not declare it" in r.stderr
    f.write_text(PROMPT.replace("{customer}", "x").replace('"Ticket: {ticket}"', '"{tiket}"'))
    r = cli.run("prompt", "validate", str(f))
    assert f"{f}:11: template uses {{tiket}}" in r.stderr and "did you mean 'ticket'" in r.stderr
    single = "schema_version: 1\ninput_variables: [text]\n\ntemplate: 'Summarise {txt}'\n"
    f.write_text(single)
    assert f"{f}:4: template uses {{txt}}" in cli.run("prompt", "validate", str(f)).stderr


def test_unknown_var_is_named_with_a_suggestion(triage, cli):
    r = cli.run("prompt", "run", "support/triage", "--var", "tiket=x")
    assert r.exit_code == 1 and "Traceback" not in r.stderr
    assert "support/triage has no input variable 'tiket'; did you mean 'ticket'?" in r.stderr


# -- (6) 80 columns and help texts ----------------------------------------------------------------


def _at_80(*args: str) -> str:
    from tests.conftest import PTRAIN_BIN

    env = {**__import__("os").environ, "COLUMNS": "80"}
    p = subprocess.run([PTRAIN_BIN, *args], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_root_help_wraps_command_descriptions_at_80_columns():
    from ptrain.cli.main import GROUPS

    out = _at_80("--help")
    assert "..." not in out.split("Commands:")[1]
    assert all(len(line) <= 80 for line in out.splitlines())
    flat = " ".join(out.split())
    for _, _, text in GROUPS.values():
        assert text in flat
    assert "train a prompt on the embedded model." in flat  # demo's whole sentence, wrapped


def test_models_list_wraps_cells_at_80_columns():
    from ptrain.llm import weights

    out = _at_80("models", "list")
    assert "…" not in out and all(len(line) <= 80 for line in out.splitlines())
    flat = " ".join(out.split())
    for m in weights.list_models():
        assert m.name in out and all(word in out for word in m.license.split())
        for pkg in m.packages:
            assert pkg in flat


def test_options_a_newcomer_meets_have_help():
    flat = " ".join(_at_80("demo", "--help").split())
    assert "--budget TEXT Cap on the training run: calls=N,tokens=N,dollars=X" in flat
    run = " ".join(_at_80("prompt", "run", "--help").split())
    assert re.search(r"-v, --version TEXT Number \(3, v3\)", run)
    assert re.search(r"-e, --env TEXT Use the version this env runs", run)
    train = " ".join(_at_80("train", "run", "--help").split())
    assert "--remote TEXT Git remote that --push pushes to." in train


def test_sub_help_lists_whole_command_descriptions():
    out = _at_80("feedback", "--help")
    assert "..." not in out.split("Commands:")[1]


# -- (7) a bare remote with deploy tags but no branch ---------------------------------------------


def test_bare_remote_with_tags_only_is_a_clear_error(triage, tmp_path, cli):
    from ptrain import PromptRepo

    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(triage.root, "push", "-q", str(bare), "refs/tags/*:refs/tags/*")
    with pytest.raises(NotAPromptRepo) as info:
        PromptRepo(bare)
    assert isinstance(info.value, PtrainError)
    assert "deploy tag(s) but no branch 'main'" in info.value.message
    assert f"git push {bare} <your-branch>:main" in info.value.hint
    r = cli.run("-C", str(bare), "prompt", "show", "support/triage")
    assert r.exit_code == 1 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "no branch 'main'" in r.stderr
    git(triage.root, "push", "-q", str(bare), "HEAD:main")
    assert PromptRepo(bare).get("support/triage").version == 1


def test_terminal_tables_wrap_cells_at_80_columns(monkeypatch):
    """`prompt list` on a terminal with long names and several envs: cells wrap, never end in
    "…"; when the columns cannot fit without splitting words, one block per row instead."""
    import io
    import sys

    from rich.console import Console

    from ptrain.cli import output

    def render(columns, row) -> str:
        buf = io.StringIO()
        monkeypatch.setattr(output, "_console", Console(file=buf, width=80, highlight=False))
        output.table(columns, [row])
        return buf.getvalue()

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    name = "community/support-tone-for-enterprise"
    text = render(["prompt", "latest", "production", "staging"], [name, "v12", "v11", "v12"])
    assert "…" not in text and all(len(line) <= 80 for line in text.splitlines())
    assert "│" in text and name in text  # a table, the name whole
    envs = ["production", "staging", "canary-europe", "canary-america"]
    text = render(
        ["prompt", "latest", *envs], [name + "-customers", "v12", "v11", "v12", "3f2a9c1e", "-"]
    )
    assert "…" not in text and all(len(line) <= 80 for line in text.splitlines())
    assert text.splitlines()[:3] == [
        name + "-customers",
        "  latest          v12",
        "  production      v11",
    ]


@pytest.fixture
def busy_triage(triage):
    """triage with feedback (a long suggestion), an A/B test and an eval suite: every table a
    person reads has rows."""
    for i in range(6):
        triage.record_feedback("support/triage", "rating", rating=i / 5, message=f"answer {i}")
    triage.record_feedback(
        "support/triage",
        "suggestion",
        suggestion="Answer with the queue name only and never repeat the customer's whole message",
    )
    suite = triage.root / "evals" / "support" / "triage.yaml"
    suite.parent.mkdir(parents=True, exist_ok=True)
    suite.write_text(
        "schema_version: 1\nprompt: support/triage\ncases:\n"
        "  - id: c1\n    vars: {ticket: refund}\n    expected: billing\n"
    )
    triage.deploy("support/triage", 2, "staging", reason="try")
    return triage


@pytest.mark.parametrize(
    "argv",
    [
        ["prompt", "list"],
        ["prompt", "history", "support/triage"],
        ["feedback", "summary"],
        ["feedback", "list", "support/triage"],
        ["train", "status"],
        ["ab", "status", "support/triage"],
        ["evals", "list", "support/triage"],
    ],
    ids=" ".join,
)
def test_tables_a_person_reads_fit_80_columns_without_splitting_words(
    busy_triage, cli, argv, monkeypatch
):
    """Each table at COLUMNS=80: no line wider, nothing cut ("…"), every word of every cell
    whole (wrapped tables, or one block per row when columns would split words)."""
    from ptrain.cli import output

    if argv[0] == "ab":
        assert cli.invoke("ab", "start", "support/triage", "-v", "A=1", "-v", "B=2").exit_code == 0
    wide = cli.invoke(*argv)  # a pipe without COLUMNS: whole cells on one line, for scripts
    assert wide.exit_code == 0, wide.stderr
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(output, "_console", None)
    r = cli.invoke(*argv)
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines and "…" not in r.stdout
    assert max(len(line) for line in lines) <= 80, r.stdout
    cells = [line for line in wide.stdout.splitlines() if "┃" not in line]  # not the headers
    words = {w for line in cells for w in re.split(r"[\s│━╇]+", line) if w}
    assert words <= {w for w in re.split(r"[\s│┃━╇]+", r.stdout) if w}, r.stdout


def test_a_table_too_wide_for_the_width_becomes_one_block_per_row(monkeypatch, capsys):
    from ptrain.cli import output

    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setattr(output, "_console", None)
    head = ["prompt", "new", "fires", "approach", "train now"]
    output.table(head, [["support/triage", 3, "errors > 30% (4 of 9)", "few_shot", "no: cooldown"]])
    assert capsys.readouterr().out.splitlines() == [
        "support/triage",
        "  new        3",
        "  fires      errors > 30% (4 of 9)",
        "  approach   few_shot",
        "  train now  no: cooldown",
    ]


def test_feedback_and_import_default_to_the_first_env_too(triage, tmp_path):
    """record_feedback and a CSV import with no env or version follow the same rule as every
    command: the version deployed to the first env of ptrain.yaml (not a hard-coded production)."""
    from ptrain import PromptRepo
    from ptrain import feedback as fb

    cfg = triage.root / "ptrain.yaml"
    cfg.write_text(
        cfg.read_text().replace("envs: [production, staging]", "envs: [staging, production]")
    )
    git(triage.root, "commit", "-qam", "staging first")
    repo = PromptRepo(triage.root)
    repo.deploy("support/triage", 2)  # staging (the default env) runs v2; production runs v1
    rec = repo.record_feedback("support/triage", "rating", rating=0.5)
    assert (rec.env, rec.version_number) == ("staging", 2)
    src = tmp_path / "export.csv"
    src.write_text("prompt,kind,rating\nsupport/triage,rating,0.4\n")
    fb.import_file(repo.root, src)
    got = [r for r in fb.iter_feedback(repo.root) if r["rating"] == 0.4]
    assert [r.get("version_number") for r in got] == [2]


def test_messages_wrap_at_the_width_and_keep_commands_whole(monkeypatch, capsys):
    from ptrain.cli import output

    msg = "support/triage has never been deployed (`ptrain prompt deploy support/triage VERSION`)"
    output.info(msg)  # a pipe without COLUMNS: as written, for scripts
    assert capsys.readouterr().out == msg + "\n"
    monkeypatch.setenv("COLUMNS", "60")
    output.info(msg)
    assert capsys.readouterr().out.splitlines() == [
        "support/triage has never been deployed",
        "  (`ptrain prompt deploy support/triage VERSION`)",
    ]
