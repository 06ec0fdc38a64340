"""A user's own training function as a timed run: ``myriad_train(make_train(config), seeds=...)``.

PureJaxRL's ``make_train(config)`` returns ``train(rng) -> output``; here it is vmapped over one
key per seed (``jax.random.PRNGKey(seed)``, as PureJaxRL's scripts make them), compiled ahead
of time and run in timed rounds like our own programs (:class:`FunctionProgram` has the same
``run`` / ``results`` interface). ``curves(output) -> (steps, returns)`` turns the output into
evaluation curves (default: :func:`~myriad_bench.platform.external.purejaxrl_curves` of
``output["metrics"]``), and the results are :func:`~myriad_bench.platform.external.results_from_curves`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["FunctionProgram", "default_curves"]


def default_curves(output: Any) -> tuple[Any, Any]:
    """PureJaxRL's layout: ``output["metrics"]["returned_episode_returns"]`` (see ``purejaxrl_curves``)."""
    from myriad_bench.platform.external import purejaxrl_curves

    try:
        metrics = output["metrics"]
        metrics["returned_episode_returns"]
    except (KeyError, TypeError, IndexError):
        raise TypeError(
            "myriad_train(train_fn) expects train(key) to return PureJaxRL's {'metrics': "
            "{'returned_episode_returns': ...}}; for another layout pass "
            "curves=lambda output: (steps, returns)"
        ) from None
    return purejaxrl_curves(metrics)


class FunctionProgram:
    """``train_fn`` vmapped over seeds and compiled: :meth:`run` it (timed), then :meth:`results`."""

    def __init__(
        self,
        train_fn: Callable[[Any], Any],
        seeds: Sequence[int],
        *,
        curves: Callable[[Any], tuple[Any, Any]] | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        env_steps: int | None = None,
    ) -> None:
        import jax

        from myriad_bench.platform.programs import Compilation

        self.seeds = [int(seed) for seed in seeds]
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"myriad_train(train_fn) needs distinct seeds, got {self.seeds!r}")
        self.curves = curves or default_curves
        self.hyperparameters = dict(hyperparameters or {})
        self._env_steps = env_steps
        self._vmapped = jax.jit(jax.vmap(train_fn))
        started = time.perf_counter()
        self._compiled = self._vmapped.lower(self._keys(self.seeds)).compile()
        seconds = time.perf_counter() - started
        self.compilation = Compilation(seconds, seconds, "compiled", "compiled")

    @staticmethod
    def _keys(seeds: Sequence[int]) -> Any:
        import jax
        import jax.numpy as jnp

        return jnp.stack([jax.random.PRNGKey(seed) for seed in seeds])

    def run(self, seeds: Sequence[int] | None = None) -> tuple[list[int], Any]:
        """Train every seed (as many as compiled); blocks until the output is on the host."""
        import jax

        seed_list = self.seeds if seeds is None else [int(seed) for seed in seeds]
        if len(seed_list) != len(self.seeds):
            raise ValueError(f"this program trains {len(self.seeds)} seeds at once, got {seed_list!r}")
        return seed_list, jax.device_get(jax.block_until_ready(self._compiled(self._keys(seed_list))))

    def env_steps(self, outputs: tuple[list[int], Any]) -> int:
        """Environment steps of one run: as given, else the curves' last step times the seeds."""
        if self._env_steps is not None:
            return int(self._env_steps)
        steps, _ = self.curves(outputs[1])
        return int(float(steps[-1]) * len(outputs[0]))

    def results(
        self, outputs: tuple[list[int], Any], run_dir: Path | str | None = None, save: bool = True
    ) -> Any:
        """The curves of the output as one TrainingResults per seed (saved under ``run_dir``)."""
        from myriad_bench.platform.external import results_from_curves

        seed_list, output = outputs
        steps, returns = self.curves(output)
        results = results_from_curves(steps, returns, seeds=seed_list, hyperparameters=self.hyperparameters)
        if save and run_dir is not None:
            for run in results:
                run.save(Path(run_dir) / f"seed-{run.config.run.seed}")
        return results
