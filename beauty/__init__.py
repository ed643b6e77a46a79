"""The `beauty` command: the face over infra, ranking, mturk and training."""

__version__ = "0.1.0"
