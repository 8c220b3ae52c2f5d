#!/usr/bin/env python3
"""`aigis serve` end to end, over a real socket, driven by a real client of the standard
protocol (NVIDIA's tritonclient, HTTP, the Open Inference Protocol v2).

On a throwaway project: the digits MLP (tests/data/runtime/digits_mlp.onnx, made by
scripts/make_runtime_models.py) is signed with `aigis model sign`, an API key made with
`aigis keys api new`, certificates made with `cryptography` (a server CA and a client CA),
a JWT issuer's RSA key and JWKS made with PyJWT, and `aigis serve` started over TLS
(client certificates optional) on a free loopback port. Then:

- health, readiness and the model's metadata through tritonclient over HTTPS, trusting
  only the test CA;
- inference on 360 held-out digits, once with tritonclient's default binary tensors and
  once with JSON tensors: every label equal to onnxruntime's on the same rows, every
  probability within 1e-5;
- refusals: no key and a wrong key (401), a wrong shape and an unknown input (422), an
  unknown model (404), a body over the limit (413), each with its JSON `code`;
- a row far outside the ranges of the training data's profile (made by `aigis data
  profile`) is flagged by the profile-range detector in its audit record, and only it;
- schemathesis, from the served OpenAPI document (`/openapi.json`), with the key: every
  operation with generated requests (fixed seed), no 5xx, and every status code, content
  type and response body as the document says;
- JWT (tokens made by PyJWT, the reference): an RS256 token from the issuer infers; alg
  none, HS256 signed with the issuer's public key (the HS/RS confusion), an expired
  token, a wrong audience, another key under the issuer's kid, and a tampered payload
  are each 401;
- Cedar: a valid token whose principal the policy forbids gets 403;
- SIGHUP: a policy file that does not validate is refused (the old policy stays in force),
  a good one takes effect at once, and both are `gateway-admin` records in the ledger;
- mutual TLS: a client certificate from the client CA authenticates without a key;
- Prometheus metrics from the metrics listener: the calls by answer, the guards timed,
  no key or principal in them;
- the admin API on its own TLS listener: a JWT whose `sub` names the listed API key's
  principal is refused (403: the entry is `api_key:ci`); an unlisted principal is refused (403) though
  the Cedar policy permits everything; `ci`'s key rotated with no overlap stops at once
  and the new key infers;
- SIGTERM: the server stops, exit 0;
- the audit: the project's ledger holds a signed `gateway-call` record for every call
  tritonclient and the raw checks made (at least those), none holding the key, and
  `aigis ledger verify` passes.

    python3 scripts/serve_e2e.py target/debug/aigis

Needs tritonclient[http], schemathesis, pyjwt, cryptography, onnxruntime, scikit-learn and
numpy (pip). Exits 1 on any
difference, printing each.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import ipaddress
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import jwt

import numpy as np
import onnxruntime as ort
import tritonclient.http as httpclient
from sklearn import datasets
from sklearn.model_selection import train_test_split
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from tritonclient.utils import InferenceServerException

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_process import MODEL, check, digits_reference, failures, start_serve  # noqa: E402
from test_pki import make_ca, make_leaf, pem_cert, pem_key  # noqa: E402


TLS = None  # the client's SSL context: trusts the test server CA only


def raw(url, key=None, body=None, method="GET", context=None):
    """An HTTPS call: (status, JSON body)."""
    req = urllib.request.Request(url, data=body, method=method)
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10, context=context or TLS) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def write_pem(path, data):
    with open(path, "wb") as f:
        f.write(data)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("aigis", help="the aigis binary")
    args = ap.parse_args()
    aigis = os.path.abspath(args.aigis)

    work = tempfile.mkdtemp(prefix="aigis-serve-")
    env = dict(os.environ, AIGIS_PROJECT=work)
    run = lambda *a: subprocess.run([aigis, *a], cwd=work, env=env, check=True, capture_output=True, text=True)
    server = None
    try:
        run("init", work, "--name", "serve-e2e")
        os.makedirs(os.path.join(work, "models"))
        shutil.copy(MODEL, os.path.join(work, "models", "digits.onnx"))
        run("model", "sign", "models/digits.onnx")
        # The data stage's profile of the digits (scaled as the model takes them), which
        # the gateway validates inputs against.
        digits_all = datasets.load_digits()
        with open(os.path.join(work, "digits.csv"), "w") as f:
            f.write(",".join(f"p{i}" for i in range(64)) + ",label\n")
            for row, label in zip(digits_all.data / 16.0, digits_all.target):
                f.write(",".join(repr(float(v)) for v in row) + f",{label}\n")
        run("data", "profile", "digits.csv", "-o", "digits.profile.json")
        made = json.loads(run("keys", "api", "new", "--name", "ci", "--json").stdout)
        key = made["key"]

        # TLS: a server CA and certificate for 127.0.0.1, a client CA and a client.
        global TLS
        server_ca = make_ca("aigis e2e server CA")
        gw_cert, gw_key = make_leaf(server_ca, "gateway", [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")], False)
        write_pem(os.path.join(work, "gw.pem"), pem_cert(gw_cert) + pem_cert(server_ca[0]))
        write_pem(os.path.join(work, "gw.key"), pem_key(gw_key))
        ca_file = os.path.join(work, "ca.pem")
        write_pem(ca_file, pem_cert(server_ca[0]))
        client_ca = make_ca("aigis e2e client CA")
        write_pem(os.path.join(work, "clients.pem"), pem_cert(client_ca[0]))
        c_cert, c_key = make_leaf(client_ca, "ci-cert", [], True)
        write_pem(os.path.join(work, "client.pem"), pem_cert(c_cert))
        write_pem(os.path.join(work, "client.key"), pem_key(c_key))
        TLS = ssl.create_default_context(cafile=ca_file)

        # A JWT issuer: an RSA key, its JWKS (made by PyJWT), tokens below.
        issuer = "https://issuer.e2e.test"
        jwt_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(jwt_key.public_key()))
        jwk.update({"kid": "k1", "use": "sig", "alg": "RS256"})
        with open(os.path.join(work, "jwks.json"), "w") as f:
            json.dump({"keys": [jwk]}, f)

        with open(os.path.join(work, "aigis.toml"), "a") as f:
            f.write(
                "\n[serve]\nmax_body_bytes = 1048576\n"
                'tls = { cert = "gw.pem", key = "gw.key", client_ca = "clients.pem", client_auth = "optional" }\n'
                '\n[[serve.models]]\nname = "digits"\npath = "models/digits.onnx"\n'
                '[serve.models.profile]\nfile = "digits.profile.json"\nlabel = "label"\naction = "flag"\n'
                f'\n[[serve.api_keys]]\nname = "ci"\nsha256 = "{made["sha256"]}"\n'
                f'\n[serve.auth.jwt]\nissuer = "{issuer}"\njwks = "jwks.json"\naudience = "aigis"\nalgorithms = ["RS256"]\n'
                '\n[serve.authz]\npolicies = "policies.cedar"\n'
                '\n[serve.metrics]\nlisten = "127.0.0.1:0"\n'
                '\n[serve.admin]\nlisten = "127.0.0.1:0"\nprincipals = ["api_key:ci"]\n'
            )
        with open(os.path.join(work, "policies.cedar"), "w") as f:
            f.write(
                "permit (principal, action, resource);\n"
                'forbid (principal == Aigis::Principal::"analyst-9", action == Aigis::Action::"infer", resource);\n'
            )
        server, started = start_serve(aigis, work, env)
        address = started["listening"]
        metrics_url = started["metrics"]
        admin_url = started["admin"]
        check(address.startswith("https://127.0.0.1:"), f"the server says where it listens ({address})")
        host = address.removeprefix("https://")
        # tritonclient adds its own headers to the dict it is given: a fresh one per call.
        def auth():
            return {"Authorization": f"Bearer {key}"}

        client = httpclient.InferenceServerClient(url=host, ssl=True, ssl_options={"ca_certs": ca_file})
        check(client.is_server_live(), "live")
        check(client.is_server_ready(), "ready")
        check(client.is_model_ready("digits", headers=auth()), "the model is ready")
        meta = client.get_model_metadata("digits", headers=auth())
        check(
            meta["inputs"] == [{"name": "X", "datatype": "FP32", "shape": [-1, 64]}],
            f"metadata from the model's signature ({meta['inputs']})",
        )

        digits = datasets.load_digits()
        _, X, _, _ = train_test_split((digits.data / 16.0).astype(np.float32), digits.target, test_size=0.2, random_state=1)
        sess = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"])
        want_label, want_proba = digits_reference(sess, X)
        for binary in (True, False):
            inp = httpclient.InferInput("X", list(X.shape), "FP32")
            inp.set_data_from_numpy(X, binary_data=binary)
            outs = [
                httpclient.InferRequestedOutput("output_label", binary_data=binary),
                httpclient.InferRequestedOutput("output_probability", binary_data=binary),
            ]
            result = client.infer("digits", [inp], outputs=outs, headers=auth())
            label = result.as_numpy("output_label")
            proba = result.as_numpy("output_probability")
            kind = "binary" if binary else "JSON"
            check(label is not None and np.array_equal(label.astype(np.int64), want_label), f"{len(X)} labels equal onnxruntime's ({kind} tensors)")
            check(
                proba is not None and proba.shape == want_proba.shape and float(np.max(np.abs(proba - want_proba))) < 1e-5,
                f"probabilities within 1e-5 of onnxruntime's ({kind} tensors)",
            )

        def refused(call, status, what):
            try:
                call()
                check(False, f"{what}: refused with {status}")
            except InferenceServerException as e:
                check(str(e.status()) == str(status), f"{what}: {e.status()} ({e.message()})")

        one = httpclient.InferInput("X", [1, 64], "FP32")
        one.set_data_from_numpy(X[:1], binary_data=False)
        refused(lambda: client.infer("digits", [one]), 401, "no key")
        refused(lambda: client.infer("digits", [one], headers={"Authorization": "Bearer aigis_wrong"}), 401, "a wrong key")
        refused(lambda: client.infer("nope", [one], headers=auth()), 404, "an unknown model")
        bad = httpclient.InferInput("X", [1, 63], "FP32")
        bad.set_data_from_numpy(X[:1, :63].copy(), binary_data=False)
        refused(lambda: client.infer("digits", [bad], headers=auth()), 422, "a wrong shape")

        url = f"{address}/v2/models/digits/infer"
        status, body = raw(url, key, json.dumps({"inputs": [{"name": "Y", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}]}).encode(), "POST")
        check((status, body.get("code")) == (422, "invalid_input") and body["error"].startswith("inputs[0].name"), f"an unknown input: {status} {body}")
        big = json.dumps({"inputs": [{"name": "X", "shape": [5000, 64], "datatype": "FP32", "data": [0.5] * 320000}]}).encode()
        status, body = raw(url, key, big, "POST")
        check((status, body.get("code")) == (413, "payload_too_large"), f"a body over the limit: {status} {body}")
        status, body = raw(url, None, b"{}", "POST")
        check((status, body.get("code")) == (401, "unauthenticated"), f"raw call without a key: {status}")
        # The training data's profile: pixels five times brighter than any it had are
        # flagged by the profile-range detector (and let through: `action = "flag"`).
        odd = json.dumps({"inputs": [{"name": "X", "shape": [1, 64], "datatype": "FP32", "data": [5.0] * 64}]}).encode()
        status, body = raw(url, key, odd, "POST")
        check(status == 200, f"a row outside the training ranges is let through when flagging: {status}")

        # JWT: PyJWT makes the tokens, honest and forged.
        now = int(time.time())
        claims = {"iss": issuer, "aud": "aigis", "sub": "analyst-7", "exp": now + 600, "iat": now}
        priv_pem = pem_key(jwt_key)
        pub_pem = jwt_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        token = jwt.encode(claims, priv_pem, algorithm="RS256", headers={"kid": "k1"})
        one_row = json.dumps({"inputs": [{"name": "X", "shape": [1, 64], "datatype": "FP32", "data": X[0].tolist()}]}).encode()
        status, body = raw(url, token, one_row, "POST")
        check(status == 200 and body["outputs"][0]["data"][0] == int(want_label[0]), f"an RS256 token from the issuer infers: {status}")
        result = client.infer("digits", [one], headers={"Authorization": f"Bearer {token}"})
        check(int(result.as_numpy("output_label")[0]) == int(want_label[0]), "tritonclient with the token")

        def hs_confusion():
            head = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
            body_ = b64url(json.dumps(claims).encode())
            sig = hmac.new(pub_pem, f"{head}.{body_}".encode(), hashlib.sha256).digest()
            return f"{head}.{body_}.{b64url(sig)}"

        other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        honest = token.split(".")
        tampered = dict(claims, sub="admin")
        forged = {
            "alg none": jwt.encode(claims, None, algorithm="none", headers={"kid": "k1"}),
            "HS256 with the public key as secret": hs_confusion(),
            "expired": jwt.encode(dict(claims, exp=now - 300), priv_pem, algorithm="RS256", headers={"kid": "k1"}),
            "wrong audience": jwt.encode(dict(claims, aud="someone-else"), priv_pem, algorithm="RS256", headers={"kid": "k1"}),
            "another key under kid k1": jwt.encode(claims, pem_key(other_key), algorithm="RS256", headers={"kid": "k1"}),
            "a tampered payload": f"{honest[0]}.{b64url(json.dumps(tampered).encode())}.{honest[2]}",
        }
        for what, bad_token in forged.items():
            status, body = raw(url, bad_token, one_row, "POST")
            check((status, body.get("code")) == (401, "unauthenticated"), f"JWT {what}: {status}")

        # Cedar: a valid token for a principal the policy forbids.
        status, body = raw(url, jwt.encode(dict(claims, sub="analyst-9"), priv_pem, algorithm="RS256", headers={"kid": "k1"}), one_row, "POST")
        check((status, body.get("code")) == (403, "forbidden"), f"a principal the Cedar policy forbids: {status}")

        # SIGHUP: a policy file that does not validate is refused and the old policy stays;
        # a good one takes effect at once.
        def hangup():
            """SIGHUP, then the reload event `aigis --json serve` prints on stdout."""
            server.send_signal(signal.SIGHUP)
            line = server.stdout.readline()
            return json.loads(line) if line else {}

        forbidden_token = jwt.encode(dict(claims, sub="analyst-9"), priv_pem, algorithm="RS256", headers={"kid": "k1"})
        policy_file = os.path.join(work, "policies.cedar")
        with open(policy_file, "w") as f:
            f.write('forbid (principal, action, resource) when { context.rows == "one" };\n')
        said = hangup()
        check(said.get("reload") == "refused" and "serve.authz.policies" in said.get("error", ""), f"SIGHUP with a bad policy is refused: {said}")
        status, _ = raw(url, forbidden_token, one_row, "POST")
        check(status == 403, f"the old policy stays in force: {status}")
        with open(policy_file, "w") as f:
            f.write("permit (principal, action, resource);\n")
        said = hangup()
        check(said.get("reload") == "applied" and said.get("policies") is True, f"SIGHUP with a good policy: {said}")
        status, _ = raw(url, forbidden_token, one_row, "POST")
        check(status == 200, f"the new policy is in force: {status}")

        # Mutual TLS: the client certificate is the credential.
        mtls = ssl.create_default_context(cafile=ca_file)
        mtls.load_cert_chain(os.path.join(work, "client.pem"), os.path.join(work, "client.key"))
        status, body = raw(url, None, one_row, "POST", context=mtls)
        check(status == 200, f"a client certificate from the client CA authenticates: {status}")

        # The served document, with the model name this server has, so generated calls
        # reach the model instead of a 404.
        status, doc = raw(f"{address}/openapi.json")
        check(status == 200 and doc.get("openapi") == "3.1.0", "the OpenAPI document is served")
        doc["components"]["parameters"]["name"]["schema"] = {"type": "string", "enum": ["digits"]}
        schema_file = os.path.join(work, "openapi.json")
        with open(schema_file, "w") as f:
            json.dump(doc, f)
        st = shutil.which("st") or os.path.join(os.path.dirname(sys.executable), "st")
        fuzz = subprocess.run(
            [
                st, "run", schema_file, "--url", address, "--tls-verify", ca_file,
                "-H", f"Authorization: Bearer {key}",
                "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                "--max-examples", "40", "--seed", "1", "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=work,  # schemathesis keeps a cache in its working folder
        )
        tail = "\n".join(fuzz.stdout.strip().splitlines()[-14:])
        check(fuzz.returncode == 0, f"schemathesis against /openapi.json: exit {fuzz.returncode}\n{tail}")
        if fuzz.returncode != 0:
            print(fuzz.stdout[-4000:], file=sys.stderr)

        # Prometheus metrics, on their own listener.
        with urllib.request.urlopen(metrics_url, timeout=10) as r:
            scraped = r.read().decode()
        check(
            'code="forbidden",decision="refused"} 2' in scraped
            and 'route="POST /v2/models/{name}/infer",model="digits",status="200",code="-",decision="allowed"}' in scraped
            and "aigis_gateway_stage_duration_seconds_bucket" in scraped
            and "aigis_gateway_requests_in_flight" in scraped
            and 'aigis_gateway_detections_total{model="digits",detector="profile_range",action="flag"} 1' in scraped,
            "the metrics count the calls by answer and time each guard",
        )
        check(key not in scraped and "analyst-9" not in scraped, "no key and no principal in the metrics")

        # The admin API, over TLS on its own port: rotate `ci`'s key with no overlap; the
        # old key stops at once and the new one works; a principal that is not listed is
        # refused even though the Cedar policy permits everything.
        check(admin_url.startswith("https://127.0.0.1:") and admin_url != address, f"the admin API listens apart ({admin_url})")
        status, body = raw(f"{admin_url}/keys", token, json.dumps({"principal": "ci"}).encode(), "POST")
        check((status, body.get("code")) == (403, "forbidden"), f"an unlisted principal on the admin API: {status}")
        # A token whose `sub` is the listed key's name: `api_key:ci` admits only the key.
        namesake = jwt.encode(dict(claims, sub="ci"), priv_pem, algorithm="RS256", headers={"kid": "k1"})
        status, body = raw(f"{admin_url}/keys", namesake, json.dumps({"principal": "ci"}).encode(), "POST")
        check((status, body.get("code")) == (403, "forbidden"),
              f"a JWT whose sub is the admin key's name, on the admin API: {status}")
        status, rotated = raw(f"{admin_url}/keys/rotate", key, json.dumps({"principal": "ci", "overlap_s": 0}).encode(), "POST")
        check(status == 201 and rotated["key"].startswith("aigis_"), f"the admin API rotates a key: {status}")
        new_key = rotated.get("key", "")
        status, _ = raw(url, key, one_row, "POST")
        check(status == 401, f"the rotated-out key is refused at once: {status}")
        status, _ = raw(url, new_key, one_row, "POST")
        check(status == 200, f"the new key infers: {status}")

        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=15)
        check(code == 0, f"SIGTERM stops the server (exit {code})")
        server = None

        listed = run("--json", "evidence", "list", "--predicate-type", "https://aigis.dev/predicate/gateway-call/v1").stdout
        entries = [json.loads(line) for line in listed.splitlines() if line.strip()]
        # tritonclient: 2 readiness and metadata calls, 3 inferences, 4 refusals; raw: 3,
        # then 1 token call, 6 forged tokens, 1 forbidden, 2 around the reloads and 1
        # certificate call.
        check(len(entries) >= 23, f"the ledger holds a gateway-call record per call ({len(entries)} records)")
        # The out-of-range call's record (found by its request digest) holds the flag.
        odd_sha = hashlib.sha256(odd).hexdigest()
        odd_entries = [e for e in entries if odd_sha in json.dumps(e)]
        shown = run("evidence", "show", "--statement", str(odd_entries[0]["index"])).stdout if odd_entries else "{}"
        flags = json.loads(shown).get("predicate", {}).get("flags", [])
        check(
            len(flags) == 1 and flags[0]["detector"] == "profile_range" and flags[0]["action"] == "flag",
            f"the out-of-range call's record holds the detector's flag: {flags}",
        )
        ledger_text = open(os.path.join(work, ".aigis", "ledger.db"), "rb").read()
        check(key.encode() not in ledger_text and new_key.encode() not in ledger_text, "no API key in the ledger")
        admin = run("--json", "evidence", "list", "--predicate-type", "https://aigis.dev/predicate/gateway-admin/v1").stdout
        admin = [json.loads(line) for line in admin.splitlines() if line.strip()]
        check(len(admin) == 3, f"both reloads, refused and applied, and the key rotation are in the ledger ({len(admin)} records)")
        verify = subprocess.run([aigis, "ledger", "verify"], cwd=work, env=env, capture_output=True, text=True)
        check(verify.returncode == 0, f"aigis ledger verify: exit {verify.returncode}")
    finally:
        if server is not None:
            server.kill()
            print(server.stderr.read(), file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"\n{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("\nall checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
