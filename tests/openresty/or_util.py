"""Small helpers shared by the OpenResty tests (named or_* so they do not
clash with other suites' helper modules when pytest runs several dirs)."""
import asyncio


def run(coro, timeout=15):
    """Run a coroutine to completion within `timeout` seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))
