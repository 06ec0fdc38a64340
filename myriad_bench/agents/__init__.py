"""Agents: the container, the registry and the built-in agents (registered on import)."""

# The built-in agents register themselves on import.
from myriad_bench.agents import bangbang, dqn, pid, ppo, pqn, random  # noqa: F401
from myriad_bench.agents.agent import Agent, no_carry, no_update
from myriad_bench.agents.registry import agent_names, make_agent, register_agent

__all__ = ["Agent", "agent_names", "make_agent", "no_carry", "no_update", "register_agent"]
