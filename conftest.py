"""Repository-level test settings: JAX on CPU, a persistent compilation cache, hypothesis profiles.

Only settings live here; fixtures belong to the plugin (``myriad_bench.harness``) or to
``tests/conftest.py``.
"""

import os
from pathlib import Path

# Tests and the benchmark suite are specified for CPU; set JAX_PLATFORMS to run them elsewhere.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
from hypothesis import HealthCheck, settings

_CACHE_DIR = Path(__file__).parent / ".jax_cache"
jax.config.update("jax_compilation_cache_dir", str(_CACHE_DIR))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

settings.register_profile("dev", max_examples=30, deadline=None)
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
