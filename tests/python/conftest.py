"""Test runner glue: every ``async def`` test runs once on asyncio's default
loop and once on uvloop, inside a fresh loop, bounded by a timeout, and
fails if the loop reported an unhandled exception (a leaked task error, a
callback that raised)."""

import asyncio
import gc
import inspect
import sys
import os

import pytest

sys.path.insert(0, os.path.dirname(__file__))

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None

LOOPS = ["asyncio", "uvloop"]
DEFAULT_TIMEOUT = 20.0


def new_loop(kind):
    if kind == "uvloop":
        if uvloop is None:
            pytest.fail("uvloop is not installed (apt-get install -y python3-uvloop)")
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def pytest_generate_tests(metafunc):
    if inspect.iscoroutinefunction(metafunc.function):
        marker = metafunc.definition.get_closest_marker("loops")
        names = list(marker.args) if marker else LOOPS
        metafunc.fixturenames.append("loop_kind")
        metafunc.parametrize("loop_kind", names)


def _cancel_all(loop):
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in tasks:
        t.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    func = pyfuncitem.obj
    if not inspect.iscoroutinefunction(func):
        return None
    marker = pyfuncitem.get_closest_marker("timeout")
    timeout = marker.args[0] if marker else DEFAULT_TIMEOUT
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    loop = new_loop(pyfuncitem.callspec.params["loop_kind"])
    errors = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx))
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(asyncio.wait_for(func(**kwargs), timeout))
        _cancel_all(loop)
        loop.run_until_complete(loop.shutdown_asyncgens())
        gc.collect()  # surface "exception never retrieved" while the handler is ours
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        _cancel_all(loop)
        asyncio.set_event_loop(None)
        loop.close()
    if errors:
        details = "; ".join(
            f"{e.get('message')}: {e.get('exception')!r}" for e in errors)
        pytest.fail(f"event loop reported errors: {details}")
    return True
