"""Result types returned from platform training functions."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import jax
import numpy as np
from flax import struct

from myriad_bench.configs import Config, CurvesConfig, EvalConfig, save_config
from myriad_bench.store.agent_state import load_agent_state, save_agent_state
from myriad_bench.store.errors import ArtifactError
from myriad_bench.store.pickles import load_results_pickle
from myriad_bench.store.rundir import (
    CONFIG_FILENAME,
    RESULTS_FILENAME,
    RunInfo,
    check_run_dir_version,
    save_results_to_disk,
)

__all__ = [
    "EvaluationMetrics",
    "EvaluationResults",
    "TrainingEnvState",
    "TrainingMetrics",
    "TrainingResults",
    "stack_episode_returns",
]


@struct.dataclass
class TrainingEnvState:
    """Container for the state of a training environment, including observations.

    This struct groups the environment state with the current observations for
    efficient handling in training loops. The observations are stored as arrays
    (not NamedTuples) to ensure compatibility with platform utilities like
    where_mask and mask_tree.
    """

    env_state: Any
    obs: jax.Array


@dataclass
class TrainingMetrics:
    """Training metrics collected at each logging checkpoint.

    Metrics are captured at intervals defined by ``eval_frequency`` in the run config.
    Each list contains one entry per logging checkpoint.
    """

    global_steps: list[int]
    """Global environment steps at each checkpoint (total across all envs)."""

    steps_per_env: list[int]
    """Steps per individual environment at each checkpoint."""

    loss: list[float] | None = None
    """Training loss values (if available from agent)."""

    reward: list[float] | None = None
    """Mean reward per step (if available)."""

    agent_metrics: dict[str, list[float]] | None = None
    """Agent-specific metrics (e.g., ``q_value``, ``td_error`` for DQN)."""


# Fields of EvaluationMetrics holding one array per checkpoint. Pickled as one stacked array
# when the arrays share shape and dtype: a single buffer instead of a thousand small objects
# makes results.pkl several times faster to write and read. Loading splits it back into a list.
_PER_CHECKPOINT_ARRAYS = ("episode_returns", "episode_lengths")
_STACKED_KEY = "_stacked_fields"


@dataclass
class EvaluationMetrics:
    """Evaluation metrics collected at each evaluation checkpoint.

    Metrics are captured at intervals defined by ``eval_frequency`` in the run config.
    Each list contains one entry per evaluation checkpoint.
    """

    global_steps: list[int]
    """Global environment steps at each evaluation (total across all envs)."""

    steps_per_env: list[int]
    """Steps per individual environment at each evaluation."""

    episode_returns: list[np.ndarray]
    """Raw episode returns from each evaluation.

    Each array contains returns from ``eval_rollouts`` episodes.
    """

    episode_lengths: list[np.ndarray]
    """Raw episode lengths from each evaluation.

    Each array contains lengths from ``eval_rollouts`` episodes.
    """

    mean_return: list[float]
    """Mean episode return at each evaluation."""

    std_return: list[float]
    """Standard deviation of episode returns at each evaluation."""

    mean_length: list[float]
    """Mean episode length at each evaluation."""

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        stacked = []
        for name in _PER_CHECKPOINT_ARRAYS:
            packed = _stack_same_arrays(state[name])
            if packed is not None:
                state[name] = packed
                stacked.append(name)
        if stacked:
            state[_STACKED_KEY] = tuple(stacked)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        for name in state.pop(_STACKED_KEY, ()):
            state[name] = list(state[name])  # rows of the stacked array, one per checkpoint
        self.__dict__.update(state)


def _stack_same_arrays(values: Any) -> np.ndarray | None:
    """``np.stack(values)`` when it splits back into equal arrays, else ``None``."""
    if not isinstance(values, list) or not values:
        return None
    first = values[0]
    if type(first) is not np.ndarray or first.ndim == 0 or first.dtype.hasobject:
        return None
    for value in values:
        if type(value) is not np.ndarray or value.shape != first.shape or value.dtype != first.dtype:
            return None
    return np.stack(values)


@dataclass
class TrainingResults:
    """Complete results from a training run.

    Returned by :func:`~myriad_bench.platform.training.train_and_evaluate` and contains
    everything needed to:

    - Use the trained agent for inference
    - Analyze training progress
    - Reproduce the run
    - Resume training (optional)
    """

    agent_state: Any
    """Trained agent state (can be used for inference with ``agent.select_action()``)."""

    training_metrics: TrainingMetrics
    """Training metrics history (loss, reward, etc.)."""

    eval_metrics: EvaluationMetrics
    """Evaluation metrics history (episode returns, lengths)."""

    config: Config
    """Configuration used for this training run (for reproducibility)."""

    run_dir: Path
    """Directory where training outputs were saved."""

    final_env_state: Any | None = None
    """Final state of training environments (can be used to resume training)."""

    def summary(self) -> dict[str, float]:
        """Get summary statistics for quick inspection.

        Returns:
            Dictionary with key metrics:

            - final_eval_return_mean: Mean return from last evaluation checkpoint
            - final_eval_return_std: Std deviation from last evaluation checkpoint
            - training_steps_per_env: Environment steps per individual environment
            - training_global_steps: Total global environment steps across all envs
            - num_eval_checkpoints: Number of evaluations performed
        """
        evals, training = self.eval_metrics, self.training_metrics
        return {
            "final_eval_return_mean": evals.mean_return[-1] if evals.mean_return else 0.0,
            "final_eval_return_std": evals.std_return[-1] if evals.std_return else 0.0,
            "training_steps_per_env": evals.steps_per_env[-1] if evals.steps_per_env else 0,
            "training_global_steps": training.global_steps[-1] if training.global_steps else 0,
            "num_eval_checkpoints": len(evals.global_steps),
        }

    def __repr__(self) -> str:
        """Human-readable summary of training results."""
        summary = self.summary()
        mean, std = summary["final_eval_return_mean"], summary["final_eval_return_std"]
        return (
            f"TrainingResults(\n"
            f"  final_eval_return={mean:.1f} ± {std:.1f},\n"
            f"  steps_per_env={summary['training_steps_per_env']:,},\n"
            f"  global_steps={summary['training_global_steps']:,},\n"
            f"  num_evals={summary['num_eval_checkpoints']}\n"
            f")"
        )

    def save(
        self, directory: Path | str, save_checkpoint: bool = False, *, run_info: RunInfo | None = None
    ) -> None:
        """Save results and optionally agent checkpoint to directory.

        Saves:

        - .hydra/config.yaml: Configuration used for the run
        - results.pkl: TrainingResults without agent_state
        - run_metadata.yaml: format version, library versions, platform fingerprint, timestamps
        - checkpoints/final.msgpack: Agent state (if save_checkpoint=True)

        Note: The agent_state is excluded from results.pkl and saved separately
        using Flax msgpack serialization for reliability with JAX/Flax objects.
        Every file is written atomically.

        Args:
            directory: Directory to save results to (typically the run's output directory)
            save_checkpoint: Whether to save agent checkpoint
            run_info: When the run started and finished, for run_metadata.yaml (optional)

        Raises:
            RuntimeError: If agent checkpoint serialization fails

        Example:
            >>> results = train_and_evaluate(config)
            >>> results.save(Path.cwd(), save_checkpoint=True)
        """
        # Env state stays out of the pickle too: it is not needed to read the results later.
        _save_run_dir(self, directory, save_checkpoint, run_info, final_env_state=None)

    @staticmethod
    def load(directory: Path | str) -> TrainingResults:
        """Load results from directory.

        Args:
            directory: Directory containing results.pkl

        Returns:
            Loaded TrainingResults object (``agent_state`` is ``None``; see ``load_agent``)

        Raises:
            FileNotFoundError: If results.pkl doesn't exist
            ArtifactError: If it is truncated, corrupt, of a newer format or not TrainingResults
            UnsafePickleError: If it refers to code outside the allow-list (nothing is run)

        Example:
            >>> results = TrainingResults.load("outputs/2026-02-12/14-30-52")
            >>> print(results.summary())
        """
        return _load_results(directory, TrainingResults)

    def save_agent(self, path: str | Path) -> None:
        """Save trained agent state to file using Flax msgpack serialization.

        Args:
            path: Path to save the agent state (typically with .msgpack extension)

        Raises:
            RuntimeError: If serialization fails

        Example:
            >>> results = train_and_evaluate(config)
            >>> results.save_agent("trained_agent.msgpack")
        """
        save_agent_state(self.agent_state, path)

    @staticmethod
    def load_agent(path: str | Path) -> Any:
        """Load agent state from file.

        Args:
            path: Path to the saved agent state file

        Returns:
            The loaded agent state (can be passed to evaluate())

        Raises:
            FileNotFoundError: If file doesn't exist
            RuntimeError: If deserialization fails

        Example:
            >>> agent_state = TrainingResults.load_agent("trained_agent.msgpack")
            >>> results = evaluate(config, agent_state=agent_state)
        """
        return load_agent_state(path)


@dataclass
class EvaluationResults:
    """Results from an evaluation-only run.

    Returned by evaluate() and contains:

    - Summary statistics (mean, std, min, max)
    - Raw episode data (for custom analysis)
    - Optional trajectory data (if return_episodes=True)
    - Metadata (seed, num_episodes, config)
    """

    # --- Summary Statistics ---
    mean_return: float
    """Mean episode return across all episodes."""

    std_return: float
    """Standard deviation of episode returns."""

    min_return: float
    """Minimum episode return."""

    max_return: float
    """Maximum episode return."""

    mean_length: float
    """Mean episode length (number of steps)."""

    std_length: float
    """Standard deviation of episode lengths."""

    min_length: int
    """Minimum episode length."""

    max_length: int
    """Maximum episode length."""

    # --- Raw Data ---
    episode_returns: np.ndarray
    """Raw episode returns. Shape: ``(num_episodes,)``"""

    episode_lengths: np.ndarray
    """Raw episode lengths. Shape: ``(num_episodes,)``"""

    # --- Metadata ---
    num_episodes: int
    """Number of episodes evaluated."""

    seed: int
    """Random seed used for evaluation."""

    # --- Configuration ---
    config: EvalConfig
    """Evaluation configuration used (for reproducibility)."""

    # --- Output Directory ---
    run_dir: Path
    """Directory where evaluation outputs were saved."""

    # --- Optional Trajectory Data ---
    episodes: dict[str, np.ndarray] | None = None
    """Full episode trajectories (if return_episodes=True).

    Contains:

    - observations: Shape ``(num_episodes, max_steps, obs_dim)``
    - actions: Shape ``(num_episodes, max_steps, ...)``
    - rewards: Shape ``(num_episodes, max_steps)``
    - dones: Shape ``(num_episodes, max_steps)``
    """

    # --- Optional Agent State ---
    agent_state: Any | None = None
    """Agent state used for evaluation (if provided)."""

    def save(
        self, directory: Path | str, save_checkpoint: bool = False, *, run_info: RunInfo | None = None
    ) -> None:
        """Save results and optionally agent checkpoint to directory.

        Saves:

        - .hydra/config.yaml: Configuration used for the run (if config is present)
        - results.pkl: EvaluationResults without agent_state
        - run_metadata.yaml: format version, library versions, platform fingerprint, timestamps
        - checkpoints/final.msgpack: Agent state (if save_checkpoint=True and agent_state exists)

        Note: The agent_state is excluded from results.pkl and saved separately
        using Flax msgpack serialization for reliability with JAX/Flax objects.
        Every file is written atomically.

        Args:
            directory: Directory to save results to (typically the run's output directory)
            save_checkpoint: Whether to save agent checkpoint
            run_info: When the run started and finished, for run_metadata.yaml (optional)

        Raises:
            RuntimeError: If agent checkpoint serialization fails

        Example:
            >>> results = evaluate(config, agent_state=agent_state)
            >>> results.save(Path.cwd(), save_checkpoint=True)
        """
        _save_run_dir(self, directory, save_checkpoint, run_info)

    @staticmethod
    def load(directory: Path | str) -> EvaluationResults:
        """Load results from directory.

        Args:
            directory: Directory containing results.pkl

        Returns:
            Loaded EvaluationResults object (``agent_state`` is ``None``)

        Raises:
            FileNotFoundError: If results.pkl doesn't exist
            ArtifactError: If it is truncated, corrupt, of a newer format or not EvaluationResults
            UnsafePickleError: If it refers to code outside the allow-list (nothing is run)

        Example:
            >>> results = EvaluationResults.load("outputs/2026-02-12/14-30-52")
            >>> print(results.summary())
        """
        return _load_results(directory, EvaluationResults)

    @classmethod
    def from_episodes(
        cls,
        episode_returns: np.ndarray,
        episode_lengths: np.ndarray,
        *,
        seed: int,
        config: EvalConfig,
        run_dir: Path,
        episodes: dict[str, np.ndarray] | None = None,
        agent_state: Any | None = None,
    ) -> EvaluationResults:
        """Results whose summary statistics are computed from the raw ``(num_episodes,)`` arrays."""
        returns, lengths = np.asarray(episode_returns), np.asarray(episode_lengths)
        with np.errstate(all="ignore"):  # inf - inf in the std is NaN, as numpy reports it
            mean_return, std_return = float(np.mean(returns)), float(np.std(returns))
        return cls(
            mean_return=mean_return,
            std_return=std_return,
            min_return=float(np.min(returns)),
            max_return=float(np.max(returns)),
            mean_length=float(np.mean(lengths)),
            std_length=float(np.std(lengths)),
            min_length=int(np.min(lengths)),
            max_length=int(np.max(lengths)),
            episode_returns=returns,
            episode_lengths=lengths,
            num_episodes=int(returns.shape[0]),
            seed=seed,
            config=config,
            run_dir=run_dir,
            episodes=episodes,
            agent_state=agent_state,
        )

    def summary(self) -> dict[str, float]:
        """Get summary statistics for quick inspection.

        Returns:
            Dictionary with key metrics:

            - mean_return: Mean episode return
            - std_return: Standard deviation of returns
            - min_return: Minimum return
            - max_return: Maximum return
            - mean_length: Mean episode length
            - num_episodes: Number of episodes evaluated
        """
        return {
            "mean_return": self.mean_return,
            "std_return": self.std_return,
            "min_return": self.min_return,
            "max_return": self.max_return,
            "mean_length": self.mean_length,
            "num_episodes": self.num_episodes,
        }

    def __repr__(self) -> str:
        """Human-readable summary of evaluation results."""
        return (
            f"EvaluationResults(\n"
            f"  mean_return={self.mean_return:.1f} ± {self.std_return:.1f},\n"
            f"  range=[{self.min_return:.1f}, {self.max_return:.1f}],\n"
            f"  mean_length={self.mean_length:.1f},\n"
            f"  num_episodes={self.num_episodes}\n"
            f")"
        )


_R = TypeVar("_R", TrainingResults, EvaluationResults)


def _save_run_dir(
    results: _R, directory: Path | str, save_checkpoint: bool, run_info: RunInfo | None, **cleared: None
) -> None:
    """The body both ``save`` methods share: config, then the pickle without state, then metadata.

    ``agent_state`` (and the fields named in ``cleared``) stay out of the pickle: the checkpoint
    carries the agent state in a format that does not depend on JAX's internals.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if results.config is not None:
        save_config(results.config, directory / CONFIG_FILENAME)
    results_copy = dataclasses.replace(results, agent_state=None, **cleared)
    save_results_to_disk(results_copy, directory, results.agent_state, save_checkpoint, run_info=run_info)


def _load_results(directory: Path | str, cls: type[_R]) -> _R:
    directory = Path(directory)
    if directory.is_file() and directory.name == RESULTS_FILENAME:
        directory = directory.parent
    check_run_dir_version(directory)
    path = directory / RESULTS_FILENAME
    results = load_results_pickle(path, expected=cls)
    expected_fields = {
        TrainingResults: {
            "training_metrics": TrainingMetrics,
            "eval_metrics": EvaluationMetrics,
            "config": (Config, CurvesConfig),
        },
        EvaluationResults: {"config": EvalConfig},
    }[cls]
    for name, field_type in expected_fields.items():
        value = getattr(results, name, None)
        if not isinstance(value, field_type):
            types = field_type if isinstance(field_type, tuple) else (field_type,)
            expected = " or ".join(t.__name__ for t in types)
            raise ArtifactError(
                f"{path}: {cls.__name__}.{name} is a {type(value).__name__}, expected "
                f"{expected}; the file is corrupt or from an incompatible version"
            )
    _check_plain_config(results.config, path)
    return results


def _check_plain_config(config: Any, path: Path) -> None:
    """Refuse a config whose extra fields hold anything but plain data (a NumPy dtype, an array):
    a pickle can put them there, and they would fail later in a digest or a YAML dump."""
    try:
        config.model_dump(mode="json")
    except Exception as error:  # pydantic's serialisation errors quote the value, not the file
        raise ArtifactError(
            f"{path}: the config holds a value that is not plain data ({type(error).__name__}); "
            "the file is corrupt or crafted"
        ) from None


def stack_episode_returns(results: Sequence[TrainingResults]) -> np.ndarray:
    """Episode returns of several runs (one per seed) as one array.

    Returns shape ``(num_seeds, num_evals, num_episodes)``; all runs must share their number of
    evaluations and episodes (runs of one config over several seeds do).
    """
    if not results:
        raise ValueError("stack_episode_returns needs at least one TrainingResults")
    try:
        return np.stack([np.stack(r.eval_metrics.episode_returns) for r in results])
    except ValueError as error:
        shapes = [np.shape(r.eval_metrics.episode_returns) for r in results]
        raise ValueError(
            f"runs differ in their number of evaluations or episodes ({shapes}); "
            "only runs of one config can be stacked"
        ) from error
