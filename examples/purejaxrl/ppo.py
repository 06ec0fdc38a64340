"""PPO written the PureJaxRL way: ``make_train(config)`` returns ``train(rng)``, one jittable program.

Plain JAX, Flax and Optax in the structure of PureJaxRL's ``ppo.py`` (an actor-critic network, a
``lax.scan`` over updates, each collecting ``NUM_STEPS`` steps of ``NUM_ENVS`` environments, GAE,
then epochs of minibatch updates), at a size that trains in seconds. The environment is
myriad-bench's CartPole (``reset(key)`` / ``step(key, state, action)``, auto-resetting, as a
gymnax environment is behind PureJaxRL's wrappers); episode returns are tracked as PureJaxRL's
``LogWrapper`` tracks them, so ``metrics["returned_episode_returns"]`` has its layout
``(updates, steps, envs)``. Categorical sampling uses ``jax.random`` instead of distrax.
"""

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

import myriad_bench as mb

CONFIG = {
    "LR": 2.5e-3,
    "NUM_ENVS": 4,
    "NUM_STEPS": 32,
    "TOTAL_TIMESTEPS": 4 * 32 * 40,
    "UPDATE_EPOCHS": 2,
    "NUM_MINIBATCHES": 2,
    "GAMMA": 0.99,
    "GAE_LAMBDA": 0.95,
    "CLIP_EPS": 0.2,
    "ENT_COEF": 0.01,
    "VF_COEF": 0.5,
    "MAX_GRAD_NORM": 0.5,
    "HIDDEN": 32,
}


class ActorCritic(nn.Module):
    action_dim: int
    hidden: int

    @nn.compact
    def __call__(self, x):
        actor = nn.tanh(nn.Dense(self.hidden)(x))
        logits = nn.Dense(self.action_dim)(nn.tanh(nn.Dense(self.hidden)(actor)))
        critic = nn.tanh(nn.Dense(self.hidden)(x))
        value = nn.Dense(1)(nn.tanh(nn.Dense(self.hidden)(critic)))
        return logits, jnp.squeeze(value, axis=-1)


class Transition(NamedTuple):
    done: jnp.ndarray
    action: jnp.ndarray
    value: jnp.ndarray
    reward: jnp.ndarray
    log_prob: jnp.ndarray
    obs: jnp.ndarray
    returned_episode_returns: jnp.ndarray


def make_train(config):
    num_updates = config["TOTAL_TIMESTEPS"] // config["NUM_STEPS"] // config["NUM_ENVS"]
    minibatch_size = config["NUM_ENVS"] * config["NUM_STEPS"] // config["NUM_MINIBATCHES"]
    env = mb.make_env("cartpole-control")
    reset = jax.vmap(env.reset)
    step = jax.vmap(env.step)

    def train(rng):
        network = ActorCritic(env.action_space.n, config["HIDDEN"])
        rng, init_rng = jax.random.split(rng)
        params = network.init(init_rng, jnp.zeros(env.observation_space.shape))
        tx = optax.chain(optax.clip_by_global_norm(config["MAX_GRAD_NORM"]), optax.adam(config["LR"]))
        opt_state = tx.init(params)
        rng, reset_rng = jax.random.split(rng)
        obs, env_state = reset(jax.random.split(reset_rng, config["NUM_ENVS"]))
        episode = jnp.zeros(config["NUM_ENVS"])  # LogWrapper: running and last finished returns
        returned = jnp.zeros(config["NUM_ENVS"])

        def _env_step(runner_state, unused):
            params, opt_state, env_state, obs, episode, returned, rng = runner_state
            rng, action_rng, step_rng = jax.random.split(rng, 3)
            logits, value = network.apply(params, obs)
            action = jax.random.categorical(action_rng, logits)
            log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], -1)[:, 0]
            step_keys = jax.random.split(step_rng, config["NUM_ENVS"])
            next_obs, env_state, reward, done, _ = step(step_keys, env_state, action)
            episode = episode + reward
            returned = jnp.where(done, episode, returned)
            episode = jnp.where(done, 0.0, episode)
            transition = Transition(done, action, value, reward, log_prob, obs, returned)
            return (params, opt_state, env_state, next_obs, episode, returned, rng), transition

        def _update_step(runner_state, unused):
            runner_state, traj = jax.lax.scan(_env_step, runner_state, None, config["NUM_STEPS"])
            params, opt_state, env_state, last_obs, episode, returned, rng = runner_state
            _, last_value = network.apply(params, last_obs)

            def _gae(carry, transition):
                gae, next_value = carry
                not_done = 1.0 - transition.done
                delta = transition.reward + config["GAMMA"] * next_value * not_done - transition.value
                gae = delta + config["GAMMA"] * config["GAE_LAMBDA"] * not_done * gae
                return (gae, transition.value), gae

            _, advantages = jax.lax.scan(_gae, (jnp.zeros_like(last_value), last_value), traj, reverse=True)
            targets = advantages + traj.value

            def _loss(params, batch):
                traj, advantages, targets = batch
                logits, value = network.apply(params, traj.obs)
                log_probs = jax.nn.log_softmax(logits)
                log_prob = jnp.take_along_axis(log_probs, traj.action[:, None], -1)[:, 0]
                value_clipped = traj.value + (value - traj.value).clip(
                    -config["CLIP_EPS"], config["CLIP_EPS"]
                )
                value_loss = (
                    0.5 * jnp.maximum(jnp.square(value - targets), jnp.square(value_clipped - targets)).mean()
                )
                ratio = jnp.exp(log_prob - traj.log_prob)
                advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
                actor_loss = -jnp.minimum(
                    ratio * advantages,
                    jnp.clip(ratio, 1.0 - config["CLIP_EPS"], 1.0 + config["CLIP_EPS"]) * advantages,
                ).mean()
                entropy = -(jnp.exp(log_probs) * log_probs).sum(-1).mean()
                return actor_loss + config["VF_COEF"] * value_loss - config["ENT_COEF"] * entropy

            def _update_epoch(update_state, unused):
                params, opt_state, rng = update_state
                rng, perm_rng = jax.random.split(rng)
                batch = jax.tree_util.tree_map(
                    lambda x: x.reshape((-1, *x.shape[2:])), (traj, advantages, targets)
                )
                permutation = jax.random.permutation(perm_rng, minibatch_size * config["NUM_MINIBATCHES"])
                minibatches = jax.tree_util.tree_map(
                    lambda x: x[permutation].reshape((config["NUM_MINIBATCHES"], -1, *x.shape[1:])), batch
                )

                def _update_minibatch(carry, minibatch):
                    params, opt_state = carry
                    grads = jax.grad(_loss)(params, minibatch)
                    updates, opt_state = tx.update(grads, opt_state)
                    return (optax.apply_updates(params, updates), opt_state), None

                (params, opt_state), _ = jax.lax.scan(_update_minibatch, (params, opt_state), minibatches)
                return (params, opt_state, rng), None

            (params, opt_state, rng), _ = jax.lax.scan(
                _update_epoch, (params, opt_state, rng), None, config["UPDATE_EPOCHS"]
            )
            runner_state = (params, opt_state, env_state, last_obs, episode, returned, rng)
            return runner_state, {"returned_episode_returns": traj.returned_episode_returns}

        runner_state = (params, opt_state, env_state, obs, episode, returned, rng)
        runner_state, metrics = jax.lax.scan(_update_step, runner_state, None, num_updates)
        return {"runner_state": runner_state, "metrics": metrics}

    return train
