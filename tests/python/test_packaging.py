"""The package as users get it: the CLI entry, typing marker, the sdist."""

import inspect
import os
import subprocess
import sys
import tarfile
import tempfile

import wskit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_python_m_wskit_help():
    result = subprocess.run([sys.executable, "-m", "wskit", "--help"], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "usage: wskit" in result.stdout


def test_version_and_marker():
    assert wskit.__version__ == wskit._core.__version__
    assert os.path.exists(os.path.join(os.path.dirname(wskit.__file__), "py.typed"))


def test_public_names_are_documented():
    for name in wskit.__all__:
        obj = getattr(wskit, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, name


def test_sdist_contains_the_core():
    with tempfile.TemporaryDirectory() as out:
        result = subprocess.run(
            [sys.executable, "setup.py", "-q", "sdist", "-d", out], cwd=ROOT,
            capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        (name,) = os.listdir(out)
        with tarfile.open(os.path.join(out, name)) as tar:
            names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for path in ("setup.py", "csrc/proto/conn.c", "csrc/include/wskit/conn.h",
                 "csrc/proto/conn_internal.h", "python/wskit/_ext/binding.h",
                 "python/wskit/_ext/pump.c", "python/wskit/py.typed", "python/wskit/client.py"):
        assert path in names, path
