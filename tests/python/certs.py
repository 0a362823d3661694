"""Certificates made with the openssl CLI at test time, and SSL contexts.

``certs`` (a pytest fixture, import it into a test module) yields a Certs:
a CA; ``srv``: signed by the CA for localhost, 127.0.0.1 and ::1;
``wrong``: signed by the CA for wrong.example only; ``self``: self-signed
for localhost/127.0.0.1. ``certs.srv`` is the PEM path, ``certs.srv_key``
the key's."""

import os
import shutil
import ssl
import subprocess
import tempfile

import pytest


class Certs:
    KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]

    def __init__(self, d):
        self.dir = d
        self._write("srv.ext", "basicConstraints=CA:FALSE\n"
                    "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
                    "extendedKeyUsage=serverAuth\n")
        self._write("wrong.ext", "basicConstraints=CA:FALSE\nsubjectAltName=DNS:wrong.example\n"
                    "extendedKeyUsage=serverAuth\n")
        self._ssl("req", "-x509", *self.KEY, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                  "-subj", "/CN=wskit test CA", "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        for name, cn, serial in (("srv", "localhost", "2"), ("wrong", "wrong.example", "3")):
            self._ssl("req", "-new", *self.KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                      "-subj", f"/CN={cn}")
            self._ssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                      "-set_serial", serial, "-days", "2", "-extfile", f"{name}.ext",
                      "-out", f"{name}.pem")
        self._ssl("req", "-x509", *self.KEY, "-keyout", "self.key", "-out", "self.pem", "-days",
                  "2", "-subj", "/CN=localhost", "-addext",
                  "subjectAltName=DNS:localhost,IP:127.0.0.1")

    def _write(self, name, text):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(text)

    def _ssl(self, *args):
        subprocess.run(["openssl", *args], cwd=self.dir, check=True, timeout=60,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name.endswith("_key"):
            return os.path.join(self.dir, name[:-4] + ".key")
        return os.path.join(self.dir, name + ".pem")

    def server_context(self, name="srv"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(getattr(self, name), getattr(self, name + "_key"))
        return ctx

    def client_context(self):
        """Verifies servers against our CA (and their names)."""
        return ssl.create_default_context(cafile=self.ca)


@pytest.fixture(scope="module")
def certs():
    d = tempfile.mkdtemp(prefix="wskit-py-certs-")
    try:
        yield Certs(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)
