"""Build wskit for Python: the package in python/wskit and the extension
wskit._core, which compiles the sans-I/O core (csrc/proto) together with
the binding's C files (python/wskit/_ext). No dependencies beyond
setuptools, a C compiler, zlib and OpenSSL's libcrypto."""

import glob
import os
import re

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def version():
    # One version for every binding: the core's.
    with open(os.path.join(HERE, "csrc", "include", "wskit", "common.h")) as f:
        return re.search(r'#define WSK_VERSION_STRING "([^"]+)"', f.read()).group(1)


def sources(pattern):
    # setuptools wants paths relative to setup.py
    return sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, pattern)))


core = Extension(
    "wskit._core",
    sources=sources("csrc/proto/*.c") + sources("python/wskit/_ext/*.c"),
    depends=sources("csrc/include/wskit/*.h") + sources("csrc/proto/*.h")
    + sources("python/wskit/_ext/*.h"),
    include_dirs=["csrc/include", "csrc/proto", "python/wskit/_ext"],
    libraries=["z", "crypto"],
    extra_compile_args=["-O2", "-fvisibility=hidden", "-Wno-unused-parameter"],
)

setup(
    name="wskit",
    version=version(),
    description="Fast WebSocket client and server for asyncio on a strict C core",
    long_description=open(os.path.join(HERE, "README.md")).read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    package_dir={"": "python"},
    packages=["wskit", "wskit.cli"],
    # the page `wskit serve` answers at / ships inside the package
    package_data={"wskit": ["py.typed", "_core.pyi", "static/*.html"]},
    ext_modules=[core],
    entry_points={"console_scripts": ["wskit = wskit.cli:main"]},
    zip_safe=False,
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: C",
        "Framework :: AsyncIO",
        "Topic :: Internet :: WWW/HTTP",
    ],
)
