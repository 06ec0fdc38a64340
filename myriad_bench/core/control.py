"""``ControlHints``: a single-loop control problem described in observation terms.

An environment states which observation component a classical controller should regulate,
toward which value, how often it acts, and which way its action moves that component; agents
read the hints for the defaults of the hyperparameters a user does not give. Neither side
imports the other: an environment's factory builds its hints from its own constants, and a
controller sees only these numbers, its action space and the observations.

CartPole's hints: hold the pole angle (component 2) at 0, acting every 0.02 s; pushing right
(action 1, the high action) lowers the angle, and a bang-bang controller does best switching on
the angular velocity (component 3)::

    ControlHints(obs_index=2, setpoint=0.0, dt=0.02, action_sign=-1, kp=1.0, kd=0.1, switch_index=3)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["ControlHints"]


@dataclass(frozen=True)
class ControlHints:
    """How to regulate one observation component (frozen, hashable: static like an env's config).

    ``action_sign`` orients the loop: +1 when a higher action (the last discrete action, or a
    larger value of a ``Box`` action) drives ``obs[obs_index]`` up, -1 when it drives it down.
    The PID gains are magnitudes; a PID controller multiplies them by ``action_sign`` so that
    its correction always opposes the error.
    """

    obs_index: int
    """The regulated observation component."""
    setpoint: float = 0.0
    """The value ``obs[obs_index]`` should hold."""
    dt: float = 1.0
    """Control interval: the time between two actions, in the environment's unit of time."""
    action_sign: int = 1
    """+1 if a higher action raises the regulated component, -1 if it lowers it."""
    kp: float = 1.0
    """Proportional gain magnitude, per unit of error."""
    ki: float = 0.0
    """Integral gain magnitude, per unit of error times time."""
    kd: float = 0.0
    """Derivative gain magnitude, per unit of error per unit of time."""
    switch_index: int | None = None
    """The component an on-off (bang-bang) controller switches on at zero, when not
    ``obs_index`` itself: a rate that leads the regulated component and that the action moves
    the same way (CartPole's pole angular velocity, which a push changes at once while the
    angle follows a step later). ``None``: switch on ``obs_index`` at ``setpoint``."""

    def __post_init__(self) -> None:
        checks = {
            "obs_index": (_is_int(self.obs_index) and self.obs_index >= 0, "an integer >= 0"),
            "switch_index": (
                self.switch_index is None or (_is_int(self.switch_index) and self.switch_index >= 0),
                "None or an integer >= 0",
            ),
            "setpoint": (_is_finite(self.setpoint), "a finite number"),
            "dt": (_is_finite(self.dt) and self.dt > 0, "a positive number"),
            "action_sign": (_is_int(self.action_sign) and self.action_sign in (-1, 1), "-1 or 1"),
            **{
                gain: (_is_finite(getattr(self, gain)) and getattr(self, gain) >= 0, "a number >= 0")
                for gain in ("kp", "ki", "kd")
            },
        }
        for name, (ok, kind) in checks.items():
            if not ok:
                raise ValueError(f"ControlHints.{name} must be {kind}, got {getattr(self, name)!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
