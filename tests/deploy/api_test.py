#!/usr/bin/env python3
"""The served API against its own OpenAPI document, as a client generating requests sees it:

- `/openapi.json` is `docs/openapi.json`, byte for byte once parsed;
- schemathesis (PyPI) generates requests for every documented route from the document (its
  examples, coverage and fuzzing phases: valid and invalid bodies, a bounded number per route,
  seeded) and checks every answer: no 5xx, only documented statuses, every body and content type
  as documented, invalid bodies refused;
- the server is still up and ready afterwards, and its log has one line per request;
- the `/docs` page renders every route in headless Chromium with nothing fetched from anywhere
  but the server, and its "Try it out" answers a `/predict`.

    tests/deploy/api_test.py VENV_PYTHON    (from the repository root; the venv has schemathesis)
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.join(ROOT, "target", "debug", "xlmr-sentiment")
MODEL = os.path.join(ROOT, "tests", "fixtures", "models", "tiny-sentiment")
# Generated cases per route and phase: enough to reach every schema branch, bounded for CI.
MAX_EXAMPLES = 200
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(base, path):
    try:
        with urllib.request.urlopen(base + path, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def main():
    st_python = os.path.abspath(sys.argv[1])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = os.path.join(ROOT, "target", "tmp", "api-test-server.log")
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [BINARY, "serve", "--model", MODEL, "--addr", f"127.0.0.1:{port}", "--json-logs"],
            stdout=subprocess.DEVNULL, stderr=log,
        )
    try:
        for _ in range(600):
            assert server.poll() is None, f"the server exited with {server.returncode}: see {log_path}"
            try:
                if get(base, "/ready")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("the server never became ready")

        status, served = get(base, "/openapi.json")
        assert status == 200, status
        with open(os.path.join(ROOT, "docs", "openapi.json")) as f:
            committed = json.load(f)
        assert json.loads(served) == committed, "/openapi.json is not docs/openapi.json"
        routes = {(m.upper(), p) for p, item in committed["paths"].items() for m in item}
        print(f"api: /openapi.json equals docs/openapi.json ({len(routes)} operations)")

        st = [
            st_python, "-m", "schemathesis.cli", "run", f"{base}/openapi.json",
            "--checks", CHECKS,
            "--phases", "examples,coverage,fuzzing",
            "--max-examples", str(MAX_EXAMPLES),
            "--seed", "20261204",
            "--request-timeout", "30",
            "--no-color",
        ]
        print("api:", " ".join(st[1:]), flush=True)
        result = subprocess.run(st, cwd=os.path.join(ROOT, "target", "tmp"))
        assert result.returncode == 0, f"schemathesis found failures (exit {result.returncode})"

        assert server.poll() is None, "the server died under schemathesis"
        assert get(base, "/health")[0] == 200
        assert get(base, "/ready")[0] == 200
        status, info = get(base, "/info")
        assert status == 200 and json.loads(info)["labels"], info

        docs = subprocess.run(
            ["node", os.path.join(ROOT, "tests", "deploy", "docs_page.mjs"), base],
            capture_output=True, text=True, timeout=180,
        )
        sys.stdout.write(docs.stdout)
        assert docs.returncode == 0, f"the /docs page check failed:\n{docs.stderr}"
    finally:
        server.terminate()
        code = server.wait(timeout=60)
    assert code == 0, f"the server exited with {code} on SIGTERM"
    with open(log_path) as f:
        lines = [json.loads(l) for l in f if l.startswith("{")]
    requests = [l for l in lines if l.get("message") == "request"]
    assert requests, f"no request lines in {log_path}"
    assert all("input" not in l for l in requests), "a log line carries texts"
    print(f"api: {len(requests)} classification requests logged (no texts); the server stayed up and exited 0 on SIGTERM")


if __name__ == "__main__":
    main()
