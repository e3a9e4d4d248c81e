"""The config groups that cli/schema.py fills from the registries instead of yaml files: a model family's constructor
defaults and an INR codec's registered defaults, which conf/model/<name>.yaml and conf/inr_codec/<name>.yaml start
from (`- /model_defaults/<name>@_here_`). Named here, importing nothing, for the schema and the --help reader alike."""

MODEL_DEFAULTS_GROUP = "model_defaults"
INR_CODEC_DEFAULTS_GROUP = "inr_codec_defaults"
