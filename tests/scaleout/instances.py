"""How to start one wskit instance of each kind with channels at
/channels, SSE at /events and the Redis backplane."""
import os
import sys

from conftest import Instance, free_port, ROOT, HERE

sys.path.insert(0, os.path.join(ROOT, "tests", "openresty"))
from or_hub import write_conf  # noqa: E402

VENV_PY = os.path.join(ROOT, ".venv", "bin", "python")


def python_instance(index, redis_url, workdir):
    port = free_port()
    argv = [VENV_PY, os.path.join(HERE, "py_instance.py"), str(port), redis_url]
    return Instance("py", argv, port, log=os.path.join(workdir, "py%d.log" % index))


def c_instance(index, redis_url, workdir):
    """examples/c/chat_server on the libuv driver (hiredis backplane)."""
    port = free_port()
    argv = [os.path.join(ROOT, "build", "examples", "chat_server"), str(port), "--redis", redis_url]
    return Instance("c", argv, port, log=os.path.join(workdir, "c%d.log" % index))


def openresty_instance(index, redis_url, workdir):
    """nginx + resty.wskit (tests/openresty/nginx_hub.conf.in), two workers:
    each worker is its own subscriber of the backplane."""
    port = free_port()
    prefix = os.path.join(workdir, "or%d" % index)
    conf = write_conf(prefix, port, redis_url, workers=2)
    return Instance("openresty", ["nginx", "-p", prefix, "-c", conf, "-g", "daemon off;"],
                    port, log=os.path.join(prefix, "logs", "error.log"))


MAKERS = {"py": python_instance, "c": c_instance, "openresty": openresty_instance}
# one of each kind, for the mixed cluster
KINDS = list(MAKERS)


def make_instance(kind, index, redis_url, workdir):
    return MAKERS[kind](index, redis_url, workdir)
