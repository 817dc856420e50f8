#!/usr/bin/env python3
"""The container images as an operator runs them, with buildah (no container engine runs here,
and no base image can be pulled): deploy/build-image.sh builds both images, then

- the model image's own command (the init container's copy) fills a volume with the bundle and
  its .sha256;
- the server image serves that volume, configured only by the environment (MODEL, ADDR,
  API_KEY), on the host network: /health and /ready open, /predict refused without the key and
  answering exactly what the host binary answers for the same bundle, then exits 0 on SIGTERM;
- a bundle whose bytes no longer match its .sha256 makes the container exit non-zero, naming it.

    python3 tests/deploy/image_test.py        (from the repository root; stdlib only)
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUNDLE = os.path.join(ROOT, "target", "bundles", "tiny-sentiment-q8_0.gguf")
HOST_BINARY = os.path.join(ROOT, "target", "debug", "xlmr-sentiment")
BUILDAH = ["buildah", "--storage-driver", "vfs"]
TEXTS = ["I love this!", "Das war schrecklich.", "C'est correct, sans plus."]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, path, body=None, key=None):
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_ready(port, process, what):
    for _ in range(300):
        if process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode}: {process.stderr.read()}")
        try:
            if request(port, "/ready")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} never became ready")


def descendant(pid, name):
    """The process named `name` among `pid`'s descendants (from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
            except OSError:
                continue
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        try:
            with open(f"/proc/{child}/comm") as f:
                if f.read().strip() == name:
                    return child
        except OSError:
            pass
        todo.extend(children.get(child, []))
    raise AssertionError(f"no {name} process under {pid}")


def container(image):
    return subprocess.run(BUILDAH + ["from", image], check=True, capture_output=True, text=True).stdout.strip()


def run_in(ctr, env, volumes, command):
    args = BUILDAH + ["run", "--isolation", "chroot", "--network", "host"]
    for k, v in env.items():
        args += ["--env", f"{k}={v}"]
    for host, inside in volumes:
        args += ["-v", f"{host}:{inside}"]
    return args + [ctr, "--"] + command


def main():
    assert os.path.isfile(BUNDLE), f"{BUNDLE} is missing: tests/run.sh packs it"
    assert os.path.isfile(HOST_BINARY), f"{HOST_BINARY} is missing: cargo build first"
    out = subprocess.run(
        [os.path.join(ROOT, "deploy", "build-image.sh"), "--tag", "xlmr-sentiment:test", "--model", BUNDLE,
         "--model-tag", "xlmr-sentiment-model:test"],
        check=True, capture_output=True, text=True, cwd=ROOT,
    ).stdout.split()
    assert out == ["xlmr-sentiment:test", "xlmr-sentiment-model:test"], out
    work = tempfile.mkdtemp(prefix="xlmr-image-")
    containers = []
    try:
        # The init container: the model image's default command copies into /shared.
        shared = os.path.join(work, "shared")
        os.mkdir(shared)
        os.chmod(shared, 0o777)
        model_ctr = container("xlmr-sentiment-model:test")
        containers.append(model_ctr)
        config = json.loads(subprocess.run(BUILDAH + ["inspect", model_ctr], check=True, capture_output=True, text=True).stdout)
        command = config["OCIv1"]["config"]["Entrypoint"] + config["OCIv1"]["config"]["Cmd"]
        subprocess.run(run_in(model_ctr, {}, [(shared, "/shared")], command), check=True, capture_output=True)
        assert sorted(os.listdir(shared)) == ["model.gguf", "model.gguf.sha256"], os.listdir(shared)
        with open(BUNDLE, "rb") as a, open(os.path.join(shared, "model.gguf"), "rb") as b:
            assert a.read() == b.read(), "the copied bundle is the packed one"
        print("ok: the model image's init command copies the bundle and its .sha256")

        # The host binary's answers, for the same bundle.
        port = free_port()
        host = subprocess.Popen([HOST_BINARY, "serve", "--model", BUNDLE, "--addr", f"127.0.0.1:{port}"],
                                stderr=subprocess.PIPE, text=True)
        try:
            wait_ready(port, host, "the host binary")
            expected = request(port, "/predict", {"inputs": [[t] for t in TEXTS]})
        finally:
            host.terminate()
            host.wait()
        assert expected[0] == 200, expected

        # The server image, configured by the environment only, the model volume read-only.
        server_ctr = container("xlmr-sentiment:test")
        containers.append(server_ctr)
        port = free_port()
        env = {"MODEL": "/model/model.gguf", "ADDR": f"127.0.0.1:{port}", "API_KEY": "from-env"}
        config = json.loads(subprocess.run(BUILDAH + ["inspect", server_ctr], check=True, capture_output=True, text=True).stdout)
        image_config = config["OCIv1"]["config"]
        assert image_config["User"] == "65532:65532", image_config["User"]
        entry = image_config["Entrypoint"] + image_config["Cmd"]
        assert entry == ["/xlmr-sentiment", "serve"], entry
        server = subprocess.Popen(run_in(server_ctr, env, [(shared, "/model:ro")], entry), stderr=subprocess.PIPE, text=True)
        try:
            wait_ready(port, server, "the server image")
            assert request(port, "/health")[0] == 200
            assert request(port, "/predict", {"inputs": "hi"})[0] == 401, "API_KEY from the environment is enforced"
            got = request(port, "/predict", {"inputs": [[t] for t in TEXTS]}, key="from-env")
            assert got == expected, f"the image answers as the host binary: {got} vs {expected}"
            print("ok: the server image answers /predict exactly as the host binary, with API_KEY enforced")
        finally:
            # The container runtime signals the container's process; buildah run would kill
            # it, so the signal goes to the server process itself, as in a pod.
            os.kill(descendant(server.pid, "xlmr-sentiment"), signal.SIGTERM)
            code = server.wait(timeout=30)
        assert code == 0, f"SIGTERM: exit {code}: {server.stderr.read()}"
        print("ok: the server image exits 0 on SIGTERM")

        # A damaged bundle: the start-up check names it and the process exits non-zero.
        with open(os.path.join(shared, "model.gguf"), "r+b") as f:
            f.seek(-16, os.SEEK_END)
            byte = f.read(1)
            f.seek(-16, os.SEEK_END)
            f.write(bytes([byte[0] ^ 0xFF]))
        damaged = subprocess.run(run_in(server_ctr, env, [(shared, "/model:ro")], entry), capture_output=True, text=True, timeout=60)
        assert damaged.returncode != 0 and "/model/model.gguf" in damaged.stderr and "SHA-256" in damaged.stderr, damaged.stderr
        print("ok: a bundle that differs from its .sha256 stops the container, naming the file")
    finally:
        for ctr in containers:
            subprocess.run(BUILDAH + ["rm", ctr], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
