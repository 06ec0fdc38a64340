"""Files on disk, the bottom floor of the package; nothing here imports JAX at import time.

- :mod:`~myriad_bench.store.errors`: :class:`ArtifactError` and :class:`UnsafePickleError`.
- :mod:`~myriad_bench.store.atomic`: atomic writes (temporary file, fsync, rename).
- :mod:`~myriad_bench.store.yaml_io`: the one YAML reader and writer.
- :mod:`~myriad_bench.store.pickles`: results pickles and the safe unpickler that reads them.
- :mod:`~myriad_bench.store.fingerprint`: library versions and the platform fingerprint.
- :mod:`~myriad_bench.store.agent_state`: agent state <-> Flax msgpack files.
- :mod:`~myriad_bench.store.rundir`: the run-dir layout and ``run_metadata.yaml``.
"""

from myriad_bench.store.errors import ArtifactError, UnsafePickleError

__all__ = ["ArtifactError", "UnsafePickleError"]
