"""A user's own ``pytester`` tests: the plugin runs in-process twice in one interpreter.

pytester drops the modules first imported inside an in-process run when the run ends; jaxlib
cannot be imported a second time (the interpreter aborts). The outer project here is such a
user: its test runs a benchmark case through ``pytester.runpytest()`` twice. It runs in a
subprocess, so that an abort fails this test instead of ending the test session.
"""

from __future__ import annotations

from pathlib import Path

import pytest

USERS_TEST = '''
CASE = """
import myriad_bench as mb


def test_random(myriad_evaluate, baseline):
    config = mb.create_eval_config(env="cartpole-control", agent="random", eval_rollouts=8, seed=0)
    baseline.check(myriad_evaluate(config))
"""


def test_update_then_check_in_process(pytester):
    pytester.makepyfile(test_case=CASE)
    written = pytester.runpytest("-p", "no:cacheprovider", "--myriad-update-baselines")
    written.assert_outcomes(passed=1)
    written.stdout.fnmatch_lines(["*test_case.test_random*written*"])
    checked = pytester.runpytest("-p", "no:cacheprovider")
    checked.assert_outcomes(passed=1)
    checked.stdout.fnmatch_lines(["*test_case.test_random*reproduced*exact*"])
'''


def test_a_users_pytester_test_runs_the_plugin_in_process_twice(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fresh process: let it share the repository's persistent compilation cache, on CPU.
    cache = Path(__file__).resolve().parents[2] / ".jax_cache"
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(cache))
    monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    pytester.makeconftest('pytest_plugins = ["pytester"]\n')
    pytester.makepyfile(test_users_plugin_test=USERS_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == 0, f"the user's session ended with {result.ret}:\n{result.stdout.str()[-3000:]}"
    result.assert_outcomes(passed=1)
