"""Names and defaults of a prompt repository's layout (no imports: the fast paths read these)."""

CONFIG_FILE = "ptrain.yaml"
DEFAULT_PROMPTS_DIR = "prompts"
DEFAULT_ENVS = ("staging", "production")
