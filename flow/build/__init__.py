"""`flow compile`: the build config, the step contract, the steps, and the runner that runs them."""
from .config import BuildConfig
from .runner import BuildResult, compile

__all__ = ["BuildConfig", "BuildResult", "compile"]
