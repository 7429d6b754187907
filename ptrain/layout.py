"""Names and defaults of a prompt repository's layout, for the fast paths (nothing heavy here)."""

CONFIG_FILE = "ptrain.yaml"
DEFAULT_PROMPTS_DIR = "prompts"
DEFAULT_ENVS = ("production", "staging")  # the first is the default env


def raw_settings(root, data: bytes | None = None) -> dict:
    """Top-level keys of ``ptrain.yaml`` as plain data, without building the config model.

    For fast read paths that need one setting (prompts_dir, feedback_dir, envs); full validation
    happens in ``ptrain.config.load_config``.
    """
    from pathlib import Path

    from ptrain.storage.yamlio import load_safe

    if data is None:
        try:
            data = (Path(root) / CONFIG_FILE).read_bytes()
        except FileNotFoundError:
            return {}
    doc = load_safe(data, CONFIG_FILE) if data else {}
    return doc if isinstance(doc, dict) else {}
