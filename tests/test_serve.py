"""The live viewer's app (``graphdiff serve``), request by request through Starlette's TestClient: every
endpoint, edits recomputing the right numbers (the CS231n circuit at x = 1: f = (1 + 5) * -4 = -24), bad
requests answered with a 4xx and a JSON message (never a traceback or a 500), the Host and Origin checks,
the security headers, hostile ids escaped, nothing written to disk, and the command line's errors.

The client raises any exception the app lets escape, so a request that would have been a 500 fails here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from helpers import classifier_spec, grouped_spec, log_spec, problem_lines, snapshot, write_spec

import graphdiff as gd
from graphdiff.cli import main
from graphdiff.serve import SERVE_HINT, DataRows, Session

pytest.importorskip("starlette")
pytest.importorskip("httpx")
with warnings.catch_warnings():  # Starlette's TestClient would rather have httpx2; httpx works the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

from graphdiff.serve.app import CSP, MAX_BODY, create_app  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CIRCUIT = EXAMPLES / "cs231n_circuit.json"
SVG_NS = "{http://www.w3.org/2000/svg}"

pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def client_for(session: Session, host: str = "127.0.0.1", port: int | None = None) -> TestClient:
    return TestClient(create_app(session, port=port), base_url=f"http://{host}")


@pytest.fixture
def circuit() -> TestClient:
    return client_for(Session(gd.load(CIRCUIT)))


def matrix_spec() -> dict:
    """L = sum(W @ v) with W (2, 2) = [[1, 2], [3, 4]] and v = [1, -1]: u = [-1, -1], L = -2,
    dL/dW = [[1, -1], [1, -1]], dL/dv = [4, 6]."""
    return {
        "format_version": 1,
        "name": "matrix",
        "leaves": [
            {"id": "W", "kind": "parameter", "value": [[1.0, 2.0], [3.0, 4.0]]},
            {"id": "v", "kind": "input", "value": [1.0, -1.0]},
        ],
        "nodes": [
            {"id": "u", "op": "matmul", "inputs": ["W", "v"]},
            {"id": "L", "op": "sum", "inputs": ["u"]},
        ],
        "loss": "L",
    }


def svg_texts(svg: str) -> dict[str, str]:
    """Each SVG group with a graphdiff id -> its text, as a reader sees it."""
    root = ET.fromstring(svg.encode("utf-8"))
    texts = {}
    for g in root.iter(f"{SVG_NS}g"):
        if g.get("class") in ("node", "edge"):
            texts[g.get("id")] = " ".join(" ".join(g.itertext()).replace("\xa0", " ").split())
    return texts


def assert_json_error(response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    message = response.json()["error"]
    assert isinstance(message, str) and message and "\n" not in message
    assert "Traceback" not in response.text
    return message


# --- the page ---------------------------------------------------------------------------------------


def test_the_page_loads_its_own_script_and_style_and_nothing_from_elsewhere(circuit):
    page = circuit.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<script src="/static/viewer.js"' in html and 'href="/static/viewer.css"' in html
    references = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert references and all(ref.startswith("/") and not ref.startswith("//") for ref in references)
    assert "<script>" not in html and "<style" not in html and " style=" not in html  # nothing inline
    for name, kind in [("viewer.js", "javascript"), ("viewer.css", "text/css"), ("favicon.svg", "image/svg")]:
        response = circuit.get(f"/static/{name}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
        text = response.text
        assert "https://" not in text
        # The one http:// URL is the SVG namespace, a name rather than a resource.
        assert set(re.findall(r"http://[^\"' )]*", text)) <= {"http://www.w3.org/2000/svg"}
        assert "@import" not in text and "url(" not in text
    assert_json_error(circuit.get("/static/../session.py"), 404)
    assert_json_error(circuit.get("/static/viewer.html"), 404)


def test_every_answer_carries_a_restrictive_content_security_policy(circuit):
    assert "default-src 'none'" in CSP and "script-src 'self'" in CSP and "connect-src 'self'" in CSP
    assert "unsafe-inline" not in CSP and "unsafe-eval" not in CSP and "http" not in CSP
    for response in [
        circuit.get("/"),
        circuit.get("/api/state"),
        circuit.get("/api/nothing"),
        circuit.post("/api/leaf", content=b"{", headers={"content-type": "application/json"}),
        client_for(Session(gd.load(CIRCUIT)), host="evil.example").get("/"),
    ]:
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"


# --- reading the graph --------------------------------------------------------------------------------


def test_the_structure_names_every_id_by_its_svg_index(circuit):
    graph = circuit.get("/api/graph").json()
    assert graph["name"] == "cs231n_circuit"
    assert [item["id"] for item in graph["items"]] == ["x", "y", "z", "q", "f"]
    assert [item["kind"] for item in graph["items"]] == ["input", "input", "input", "node", "node"]
    assert graph["items"][4]["op"] == "mul" and graph["items"][4]["inputs"] == [3, 2]
    assert graph["items"][3]["input_names"] == ["a", "b"]
    assert graph["loss"] == 4 and graph["outputs"] == [4] and graph["ends"] == [4]
    assert [item["editable"] for item in graph["items"]] == [True, True, True, False, False]
    svg = svg_texts(circuit.get("/api/state").json()["svg"])
    assert {"n0", "n1", "n2", "n3", "n4", "w3_0", "w3_1", "w4_0", "w4_1", "out0"} <= set(svg)


def test_the_state_holds_the_lectures_numbers(circuit):
    state = circuit.get("/api/state").json()
    assert state["loss"] == {"index": 4, "value": -12.0}
    assert [s["value"] for s in state["items"]] == [-2.0, 5.0, -4.0, 3.0, -12.0]
    assert [s["grad"] for s in state["items"]] == [-4.0, -4.0, 3.0, -4.0, 1.0]
    assert state["edited"] == [] and state["boxes"] == [] and state["rows"] is None
    texts = svg_texts(state["svg"])
    assert "-12" in texts["out0"] and "-2" in texts["w3_0"] and "-4" in texts["w3_0"]


def test_a_node_and_a_wire_come_with_their_full_value_and_gradient(circuit):
    x = circuit.get("/api/node/0").json()
    assert (x["id"], x["kind"], x["value"]["data"], x["grad"]["data"]) == ("x", "input", [-2.0], [-4.0])
    assert x["consumers"] == [3] and x["value"]["shape"] == [] and x["value"]["dtype"] == "float64"
    f = circuit.get("/api/node/4").json()
    assert (f["op"], f["inputs"], f["value"]["data"], f["grad"]["data"]) == ("mul", [3, 2], [-12.0], [1.0])
    wire = circuit.get("/api/wire/4/1").json()  # z -> f
    assert (wire["source"], wire["input_name"], wire["value"]["data"], wire["grad"]["data"]) == (
        2,
        "b",
        [-4.0],
        [3.0],
    )


def test_a_matrix_is_sent_whole_in_c_order_with_its_statistics():
    client = client_for(Session(gd.loads(json.dumps(matrix_spec()))))
    w = client.get("/api/node/0").json()
    assert w["value"]["shape"] == [2, 2] and w["value"]["data"] == [1.0, 2.0, 3.0, 4.0]
    assert w["grad"]["data"] == [1.0, -1.0, 1.0, -1.0]
    assert w["value"]["stats"] == {"nonfinite": 0, "min": 1.0, "max": 4.0, "mean": 2.5, "norm": 30**0.5}


def test_nan_and_inf_are_sent_as_strings_in_valid_json(tmp_path):
    client = client_for(Session(gd.load(write_spec(tmp_path, "logs.json", log_spec()))))
    state = client.get("/api/state")
    json.loads(state.text, parse_constant=lambda name: pytest.fail(f"bare {name} in the JSON"))
    assert state.json()["loss"]["value"] == "-inf"
    lx = client.get("/api/node/1").json()
    assert lx["value"]["data"] == [0.0, "-inf"] and lx["value"]["stats"]["nonfinite"] == 1
    assert client.get("/api/node/0").json()["grad"]["data"] == [1.0, "inf"]


# --- editing ----------------------------------------------------------------------------------------


def test_setting_x_to_1_recomputes_forward_and_backward(circuit):
    response = circuit.post("/api/leaf", json={"id": "x", "value": 1})
    assert response.status_code == 200
    state = response.json()
    assert state["version"] == 1 and state["edited"] == [0]
    assert state["loss"]["value"] == -24.0  # (1 + 5) * -4
    assert [s["value"] for s in state["items"]] == [1.0, 5.0, -4.0, 6.0, -24.0]
    assert [s["grad"] for s in state["items"]] == [-4.0, -4.0, 6.0, -4.0, 1.0]
    texts = svg_texts(state["svg"])
    assert "-24" in texts["out0"] and "6" in texts["w4_0"]
    assert circuit.get("/api/node/2").json()["grad"]["data"] == [6.0]  # dz = q = 6
    assert circuit.get("/api/state").json()["loss"]["value"] == -24.0  # the state stays


def test_an_element_and_a_whole_tensor_can_be_set():
    client = client_for(Session(gd.loads(json.dumps(matrix_spec()))))
    state = client.post("/api/leaf", json={"id": "W", "index": [0, 1], "value": 5}).json()
    assert state["loss"]["value"] == -5.0  # u = [1 - 5, 3 - 4]
    assert client.get("/api/node/0").json()["value"]["data"] == [1.0, 5.0, 3.0, 4.0]
    state = client.post("/api/leaf", json={"id": "v", "value": [2, 0]}).json()
    assert state["loss"]["value"] == 8.0  # u = [2, 6]
    assert client.get("/api/node/0").json()["grad"]["data"] == [2.0, 0.0, 2.0, 0.0]
    assert state["edited"] == [0, 1]
    state = client.post("/api/reset", json={}).json()
    assert state["loss"]["value"] == -2.0 and state["edited"] == [] and state["version"] == 3


def test_a_parameter_and_a_constant_are_editable_too():
    client = client_for(Session(gd.load(EXAMPLES / "self_attention.json")))
    graph = client.get("/api/graph").json()
    scale = next(item for item in graph["items"] if item["id"] == "scale")
    assert scale["kind"] == "constant"
    before = client.get("/api/state").json()["loss"]["value"]
    after = client.post("/api/leaf", json={"id": "scale", "value": 0.0}).json()["loss"]["value"]
    assert after != before
    wq = client.post("/api/leaf", json={"id": "Wq", "index": [0, 0], "value": 0.5}).json()
    assert wq["version"] == 2


def bad_requests() -> list[tuple[str, bytes | str, int, str]]:
    """(path, body, status, part of the message)."""
    return [
        ("/api/leaf", b"{", 400, "invalid JSON"),
        ("/api/leaf", b"[1]", 400, "JSON object"),
        ("/api/leaf", b'{"id": "x", "value": 1, "id": "y"}', 400, "duplicate key"),
        ("/api/leaf", b'{"id": "x", "value": NaN}', 400, "NaN"),
        ("/api/leaf", b'{"id": "x", "value": 1e400}', 400, "out of the float64 range"),
        ("/api/leaf", b'{"id": "x", "value": [Infinity]}', 400, "Infinity"),
        ("/api/leaf", b'{"id": "x"}', 400, "names the leaf and its value"),
        ("/api/leaf", b'{"id": "x", "value": 1, "extra": 2}', 400, 'unknown key "extra"'),
        ("/api/leaf", b'{"id": 3, "value": 1}', 400, "must be a string"),
        ("/api/leaf", b'{"id": "nope", "value": 1}', 404, 'no leaf "nope"'),
        ("/api/leaf", b'{"id": "q", "value": 1}', 400, "is a node"),
        ("/api/leaf", b'{"id": "x", "value": [1, 2]}', 400, "shape"),
        ("/api/leaf", b'{"id": "x", "value": "1"}', 400, "a number or a list"),
        ("/api/leaf", b'{"id": "x", "value": true}', 400, "booleans"),
        ("/api/leaf", b'{"id": "x", "value": null}', 400, "a number or a list"),
        ("/api/leaf", b'{"id": "x", "value": {"a": 1}}', 400, "a number or a list"),
        ("/api/leaf", b'{"id": "x", "value": [[1], [2, 3]]}', 400, "x"),
        ("/api/leaf", b'{"id": "x", "value": 1, "index": [0]}', 400, "index"),
        ("/api/leaf", b'{"id": "x", "value": 1, "index": "0"}', 400, "index"),
        ("/api/leaf", "[" * 100_000 + "]" * 100_000, 400, "nested too deeply"),
        ("/api/leaf", b"\xff\xfe", 400, "UTF-8"),
        ("/api/view", b'{"collapse": "layer1"}', 400, "list of cluster names"),
        ("/api/view", b'{"collapse": ["nowhere"]}', 400, "cluster"),
        ("/api/rows", b'{"rows": [0]}', 409, "--data"),
        ("/api/reset", b'{"please": true}', 400, "unknown key"),
        ("/api/check", b"[]", 400, "JSON object"),
    ]


@pytest.mark.parametrize("path, body, status, message", bad_requests(), ids=lambda v: str(v)[:40])
def test_a_bad_request_is_a_4xx_with_a_message_and_changes_nothing(circuit, path, body, status, message):
    before = circuit.get("/api/state").json()
    response = circuit.post(path, content=body, headers={"content-type": "application/json"})
    assert message in assert_json_error(response, status)
    after = circuit.get("/api/state").json()
    assert (after["version"], after["loss"], after["collapse"]) == (before["version"], before["loss"], [])


def test_a_label_out_of_range_is_refused_by_the_op_and_the_state_is_kept():
    client = client_for(Session(gd.load(EXAMPLES / "svm_three_points.json")))
    message = assert_json_error(client.post("/api/leaf", json={"id": "y", "value": [0, 1, 5]}), 400)
    assert "label 5" in message or "5" in message
    assert assert_json_error(client.post("/api/leaf", json={"id": "y", "value": [0, 1, 1.5]}), 400)
    assert client.get("/api/state").json()["loss"]["value"] == pytest.approx(0.926667, abs=1e-6)
    assert client.post("/api/leaf", json={"id": "y", "value": [0, 1, 1]}).status_code == 200


def test_an_index_out_of_range_and_a_list_at_an_index_are_refused():
    client = client_for(Session(gd.loads(json.dumps(matrix_spec()))))
    for body in [
        {"id": "W", "index": [0, 2], "value": 1},
        {"id": "W", "index": [-1, 0], "value": 1},
        {"id": "W", "index": [0, True], "value": 1},
        {"id": "W", "index": [0, 0], "value": [1]},
        {"id": "W", "index": [0, 0, 0], "value": 1},
        {"id": "W", "value": [[1, 2, 3], [4, 5, 6]]},
    ]:
        assert_json_error(client.post("/api/leaf", json=body), 400)
    assert client.get("/api/state").json()["version"] == 0


def test_wrong_methods_paths_content_types_and_sizes_are_4xx_json(circuit):
    assert_json_error(circuit.get("/api/leaf"), 405)
    assert_json_error(circuit.post("/api/state", json={}), 405)
    assert_json_error(circuit.delete("/"), 405)
    assert_json_error(circuit.get("/api/nothing"), 404)
    assert_json_error(circuit.get("/api/node/5"), 404)
    assert_json_error(circuit.get("/api/node/99999999999999999999999"), 404)
    assert_json_error(circuit.get("/api/node/-1"), 404)
    assert_json_error(circuit.get("/api/node/x"), 404)
    assert_json_error(circuit.get("/api/wire/0/0"), 404)  # a leaf has no inputs
    assert_json_error(circuit.get("/api/wire/4/2"), 404)
    assert_json_error(circuit.get("/api/box/0"), 404)  # nothing collapsed
    assert_json_error(circuit.get("/api/steps/999"), 404)
    message = assert_json_error(circuit.post("/api/leaf", content=b'{"id": "x", "value": 1}'), 415)
    assert "application/json" in message
    form = circuit.post("/api/leaf", data={"id": "x", "value": "1"})
    assert_json_error(form, 415)
    text = circuit.post("/api/leaf", content=b"{}", headers={"content-type": "text/plain"})
    assert_json_error(text, 415)
    big = b'{"id": "x", "value": [' + b"1," * (MAX_BODY // 2) + b"1]}"
    assert_json_error(
        circuit.post("/api/leaf", content=big, headers={"content-type": "application/json"}), 413
    )

    def chunks():  # no Content-Length: the limit holds while the body streams in
        for _ in range(MAX_BODY // 65536 + 2):
            yield b" " * 65536

    streamed = circuit.post("/api/leaf", content=chunks(), headers={"content-type": "application/json"})
    assert_json_error(streamed, 413)
    assert circuit.get("/api/state").json()["version"] == 0


def large_spec() -> dict:
    """matrix_spec with W (2, 20000) of ones and v (20000,) an input without a default."""
    spec = matrix_spec()
    spec["leaves"][1] = {"id": "v", "kind": "input", "shape": [20_000]}
    spec["leaves"][0] = {"id": "W", "kind": "parameter", "value": {"init": "ones"}, "shape": [2, 20_000]}
    return spec


def test_an_edit_of_more_numbers_than_the_page_edits_is_refused():
    client = client_for(Session(gd.loads(json.dumps(large_spec())), {"v": np.zeros(20_000)}))
    assert_json_error(client.post("/api/leaf", json={"id": "v", "value": [0.0] * 20_000}), 413)
    assert client.post("/api/leaf", json={"id": "v", "index": [7], "value": 1.0}).status_code == 200
    big = client.get("/api/node/0").json()  # 40,000 numbers: still sent whole
    assert big["value"]["size"] == 40_000 and len(big["value"]["data"]) == 40_000


# --- data rows ---------------------------------------------------------------------------------------


def toy_rows() -> tuple[Session, np.ndarray, np.ndarray]:
    """The softmax classifier fed by rows of a six-example dataset, rows 0 and 1 at start."""
    rng = np.random.default_rng(0)
    features, labels = rng.standard_normal((6, 3)), np.array([0, 1, 1, 0, 1, 0])
    data = DataRows("toy", 6, lambda rows: {"X": features[rows], "y": labels[rows]}, initial=(0, 1))
    return Session(gd.loads(json.dumps(classifier_spec())), data=data), features, labels


def loss_at(features: np.ndarray, labels: np.ndarray, w: np.ndarray | None = None) -> float:
    graph = gd.loads(json.dumps(classifier_spec()))
    if w is not None:
        spec = classifier_spec()
        spec["leaves"][2] = {"id": "W", "kind": "parameter", "value": w.tolist()}
        graph = gd.loads(json.dumps(spec))
    return graph.run({"X": features, "y": labels}).loss


def test_data_rows_feed_the_inputs_and_a_pick_of_rows_recomputes():
    session, features, labels = toy_rows()
    client = client_for(session)
    assert client.get("/api/graph").json()["data"] == {"name": "toy", "size": 6}
    state = client.get("/api/state").json()
    assert state["rows"] == [0, 1]
    assert state["loss"]["value"] == pytest.approx(loss_at(features[[0, 1]], labels[[0, 1]]))
    w = np.array(session.values["W"])
    w[0, 0] = 0.5
    client.post("/api/leaf", json={"id": "W", "index": [0, 0], "value": 0.5})
    state = client.post("/api/rows", json={"rows": [5, 2, 4]}).json()
    assert state["version"] == 2
    assert state["rows"] == [5, 2, 4] and 2 in state["edited"]  # the edit of W (n2) is kept
    assert state["loss"]["value"] == pytest.approx(loss_at(features[[5, 2, 4]], labels[[5, 2, 4]], w))
    x = client.get("/api/node/0").json()["value"]
    assert x["shape"] == [3, 3] and x["data"] == pytest.approx(features[[5, 2, 4]].ravel().tolist())
    state = client.post("/api/reset", json={}).json()
    assert state["rows"] == [0, 1] and state["edited"] == []


@pytest.mark.parametrize("rows", [[], [6], [-1], ["0"], [True], [0.5], list(range(257)), "0:4", None])
def test_bad_rows_are_refused(rows):
    session, _, _ = toy_rows()
    client = client_for(session)
    assert_json_error(client.post("/api/rows", json={"rows": rows}), 400)
    assert client.get("/api/state").json()["rows"] == [0, 1]


# --- hosts, origins ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["evil.example", "127.0.0.1.evil.example", "localhost.evil.example", "10.0.0.1", "[::1]", "0.0.0.0"],
)
def test_a_request_naming_another_host_is_refused(host):
    """A page on evil.example whose DNS name is rebound to 127.0.0.1 still sends Host: evil.example."""
    client = client_for(Session(gd.load(CIRCUIT)), host=host)
    assert "host" in assert_json_error(client.get("/api/state"), 403)
    assert_json_error(client.post("/api/leaf", json={"id": "x", "value": 1}), 403)
    assert_json_error(client.get("/"), 403)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.0.0.1:8765", "LOCALHOST:1"])
def test_localhost_and_127_0_0_1_are_served(host):
    assert client_for(Session(gd.load(CIRCUIT)), host=host).get("/api/state").status_code == 200


def test_a_cross_origin_request_is_refused():
    client = client_for(Session(gd.load(CIRCUIT)), port=8765)
    edit = {"id": "x", "value": 1}
    for origin in ["http://evil.example", "http://127.0.0.1:9999", "null", "https://127.0.0.1:8765"]:
        response = client.post("/api/leaf", json=edit, headers={"origin": origin})
        assert_json_error(response, 403)
    cross_site = client.post("/api/leaf", json=edit, headers={"sec-fetch-site": "cross-site"})
    assert_json_error(cross_site, 403)
    assert client.get("/api/state").json()["version"] == 0
    for origin in ["http://127.0.0.1:8765", "http://localhost:8765"]:
        assert client.post("/api/leaf", json=edit, headers={"origin": origin}).status_code == 200


# --- steps, clusters, checks, pictures ---------------------------------------------------------------


def test_the_steps_go_through_the_forward_and_the_backward_pass(circuit):
    captions = circuit.get("/api/steps").json()["captions"]
    assert len(captions) == 6  # the leaves, q, f; the seed at the loss, f's gate, q's gate
    assert [c.split()[0] for c in captions] == ["forward"] * 3 + ["backward"] * 3
    for k in (0, 2, 5):
        frame = circuit.get(f"/api/steps/{k}").json()
        assert frame["step"] == k and frame["count"] == 6 and frame["caption"] == captions[k]
        assert {"n0", "n4"} <= set(svg_texts(frame["svg"]))
    assert "-4" not in svg_texts(circuit.get("/api/steps/2").json()["svg"])["w4_0"]  # no gradient yet
    assert "-4" in svg_texts(circuit.get("/api/steps/5").json()["svg"])["w3_0"]  # dx, at the last step
    circuit.post("/api/leaf", json={"id": "x", "value": 1})
    assert "6" in svg_texts(circuit.get("/api/steps/2").json()["svg"])["w4_0"]  # q = 1 + 5, after the edit


def test_clusters_collapse_into_a_box_and_expand_again(tmp_path):
    client = client_for(Session(gd.load(write_spec(tmp_path, "grouped.json", grouped_spec()))))
    graph = client.get("/api/graph").json()
    assert [c["name"] for c in graph["clusters"]] == ["layer1", "out"]
    assert [item["cluster"] for item in graph["items"]] == ["layer1", "layer1", "layer1", "out"]
    state = client.post("/api/view", json={"collapse": ["layer1"]}).json()
    assert state["collapse"] == ["layer1"] and state["boxes"] == ["layer1"]
    ids = set(svg_texts(state["svg"]))
    assert "c0" in ids and "n0" not in ids and "n3" in ids
    box = client.get("/api/box/0").json()
    assert box["name"] == "layer1" and box["members"] == [0, 1, 2]
    # f = (x + y) x at x = 1, y = 2: df/dx = 2x + y = 4, df/dy = x = 1, df/dq = x = 1
    assert box["grad_norm"] == pytest.approx((4**2 + 1**2 + 1**2) ** 0.5)
    assert client.get("/api/steps/1").json()["svg"].count('id="c0"') == 1  # frames are drawn collapsed too
    state = client.post("/api/view", json={"collapse": []}).json()
    assert state["boxes"] == [] and "c0" not in svg_texts(state["svg"])
    assert_json_error(client.get("/api/box/0"), 404)


def test_a_large_graph_starts_with_its_largest_clusters_collapsed():
    """As the renderer does above 150 boxes: here 'big' (160 nodes) is collapsed, 'small' (20) is not."""
    leaves = [{"id": "x", "kind": "input", "value": 0.5}]
    nodes, previous = [], "x"
    for cluster, count in (("big", 160), ("small", 20)):
        for k in range(count):
            nodes.append({"id": f"{cluster}/n{k}", "op": "sin", "inputs": [previous]})
            previous = f"{cluster}/n{k}"
    spec = {"format_version": 1, "name": "chain", "leaves": leaves, "nodes": nodes, "loss": previous}
    client = client_for(Session(gd.loads(json.dumps(spec))))
    state = client.get("/api/state").json()
    assert state["collapse"] == ["big"] and state["boxes"] == ["big"]
    ids = set(svg_texts(state["svg"]))
    assert "c0" in ids and "n1" not in ids and "n161" in ids
    assert len(client.get("/api/box/0").json()["members"]) == 160
    expanded = client.post("/api/view", json={"collapse": []}).json()
    assert "n1" in set(svg_texts(expanded["svg"]))


def test_the_gradient_check_reports_every_float_leaf(circuit):
    check = circuit.post("/api/check", json={}).json()
    assert check["passed"] is True and check["version"] == 0
    assert [(row["id"], row["index"], row["passed"]) for row in check["rows"]] == [
        ("x", 0, True),
        ("y", 1, True),
        ("z", 2, True),
    ]
    assert all(row["max_error"] < 1e-6 and row["at_kinks"] == 0 for row in check["rows"])
    circuit.post("/api/leaf", json={"id": "x", "value": 1})
    check = circuit.post("/api/check", json={}).json()
    assert check["version"] == 1 and check["rows"][2]["analytic"] == 6.0


def test_the_gradient_check_counts_coordinates_at_a_kink_instead_of_failing_them():
    spec = {
        "format_version": 1,
        "name": "kink",
        "leaves": [{"id": "x", "kind": "input", "value": [0.0, 1.0]}],
        "nodes": [{"id": "r", "op": "relu", "inputs": ["x"]}, {"id": "L", "op": "sum", "inputs": ["r"]}],
        "loss": "L",
    }
    (row,) = client_for(Session(gd.loads(json.dumps(spec)))).post("/api/check", json={}).json()["rows"]
    assert (row["id"], row["passed"], row["at_kinks"]) == ("x", True, 1)  # relu at x[0] = 0


def test_the_gradient_check_is_bounded_on_large_leaves():
    from graphdiff.serve.session import CHECK_PASSES

    client = client_for(Session(gd.loads(json.dumps(large_spec())), {"v": np.ones(20_000)}))
    check = client.post("/api/check", json={}).json()
    assert check["passed"] is True
    assert [(row["id"], row["size"]) for row in check["rows"]] == [("W", 40_000), ("v", 20_000)]
    assert sum(2 * row["checked"] for row in check["rows"]) <= CHECK_PASSES
    assert all(0 < row["checked"] < row["size"] for row in check["rows"])


def test_a_graph_without_a_loss_has_nothing_to_check_but_draws_its_values():
    spec = matrix_spec()
    del spec["loss"]
    spec["outputs"] = ["L"]
    client = client_for(Session(gd.loads(json.dumps(spec))))
    state = client.get("/api/state").json()
    assert state["loss"] is None and state["items"][3]["grad"] is None
    assert client.get("/api/node/3").json()["grad_note"].startswith("the graph has no loss")
    assert "no loss" in assert_json_error(client.post("/api/check", json={}), 409)
    assert len(client.get("/api/steps").json()["captions"]) == 3  # the forward pass only


def test_the_diagram_downloads_as_svg_and_png(circuit):
    svg = circuit.get("/api/diagram.svg?download=1")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.headers["content-disposition"] == 'attachment; filename="cs231n_circuit.svg"'
    assert {"n0", "out0"} <= set(svg_texts(svg.text))
    png = circuit.get("/api/diagram.png?download=1")
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert png.headers["content-disposition"] == 'attachment; filename="cs231n_circuit.png"'
    assert "content-disposition" not in circuit.get("/api/diagram.svg").headers


# --- hostile ids, nothing written -------------------------------------------------------------------

EVIL = '<script>alert("x")</script>'


def hostile_spec() -> dict:
    return {
        "format_version": 1,
        "name": '"; filename="evil.sh',
        "description": EVIL,
        "leaves": [
            {"id": EVIL, "kind": "input", "value": 1.0, "description": EVIL},
            {"id": "<img src=x onerror=alert(1)>", "kind": "parameter", "value": 2.0},
        ],
        "nodes": [
            {"id": "</svg><script>", "op": "mul", "inputs": [EVIL, "<img src=x onerror=alert(1)>"]},
        ],
        "loss": "</svg><script>",
    }


def test_hostile_ids_reach_the_page_as_data_never_as_markup():
    client = client_for(Session(gd.loads(json.dumps(hostile_spec()))))
    page = client.get("/").text
    assert "alert(" not in page and "evil" not in page  # the page holds no user text at all
    graph = client.get("/api/graph")
    assert graph.headers["content-type"] == "application/json"
    assert [item["id"] for item in graph.json()["items"]] == [
        EVIL,
        "<img src=x onerror=alert(1)>",
        "</svg><script>",
    ]
    svg = client.get("/api/state").json()["svg"]
    root = ET.fromstring(svg.encode("utf-8"))  # still one well-formed SVG document
    assert not {el.tag.rpartition("}")[2] for el in root.iter()} & {
        "script",
        "img",
        "foreignObject",
        "iframe",
    }
    for el in root.iter():
        assert not any(
            name.rpartition("}")[2] in ("href", "src") or name.startswith("on") for name in el.attrib
        )
    assert "<script" not in svg and "<img" not in svg
    assert EVIL in " ".join(root.itertext())  # drawn as the text it is
    state = client.post("/api/leaf", json={"id": EVIL, "value": 3}).json()
    assert state["loss"]["value"] == 6.0
    download = client.get("/api/diagram.svg?download=1").headers["content-disposition"]
    assert download == 'attachment; filename="filename_evil.sh.svg"'


def test_serving_writes_nothing_to_disk(tmp_path, monkeypatch):
    folder = tmp_path / "specs"
    folder.mkdir()
    spec = matrix_spec()
    np.save(folder / "W.npy", np.array([[1.0, 2.0], [3.0, 4.0]]))
    spec["leaves"][0] |= {"value": {"file": "W.npy"}, "shape": [2, 2]}
    write_spec(folder, "m.json", spec)
    monkeypatch.chdir(folder)
    before = snapshot(tmp_path)
    client = client_for(Session(gd.load(folder / "m.json")))
    for path in ["/", "/static/viewer.js", "/api/graph", "/api/state", "/api/node/0", "/api/wire/2/0"]:
        assert client.get(path).status_code == 200
    assert client.post("/api/leaf", json={"id": "W", "index": [1, 1], "value": 9}).status_code == 200
    assert client.post("/api/check", json={}).status_code == 200
    for path in ["/api/steps", "/api/steps/3", "/api/diagram.svg?download=1", "/api/diagram.png?download=1"]:
        assert client.get(path).status_code == 200
    assert client.post("/api/reset", json={}).status_code == 200
    assert snapshot(tmp_path) == before


def test_importing_graphdiff_and_its_command_line_imports_neither_starlette_nor_uvicorn():
    code = (
        "import sys, graphdiff, graphdiff.serve, graphdiff.serve.session\n"
        "from graphdiff.cli import build_parser\n"
        "build_parser()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# --- the command line -----------------------------------------------------------------------------------


def serve(capsys, *args: str) -> tuple[int, list[str]]:
    code = main(["serve", *args])
    return code, problem_lines(capsys.readouterr().err)


def test_serve_without_starlette_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "starlette", None)  # import starlette now raises ImportError
    code, err = serve(capsys, str(CIRCUIT))
    assert code == 2 and err == [SERVE_HINT]
    assert "pip install 'graphdiff[serve]'" in err[0]


@pytest.mark.parametrize("port", ["abc", "-1", "65536", "1e3", "", "9" * 5000, "٣"])
def test_a_bad_port_is_one_line_and_exit_code_2(port, capsys):
    code, err = serve(capsys, str(CIRCUIT), "--port", port)
    assert code == 2 and len(err) == 1 and err[0].startswith("--port: expected a port number")


def test_a_missing_or_invalid_file_is_one_line_and_exit_code_2(tmp_path, capsys):
    code, err = serve(capsys, str(tmp_path / "missing.json"))
    assert code == 2 and len(err) == 1 and "missing.json" in err[0]
    write_spec(tmp_path, "bad.json", "{")
    code, err = serve(capsys, str(tmp_path / "bad.json"))
    assert code == 2 and len(err) == 1 and "bad.json" in err[0]
    spec = matrix_spec()
    spec["leaves"][1] = {"id": "v", "kind": "input", "shape": [2]}
    write_spec(tmp_path, "nofeed.json", spec)
    code, err = serve(capsys, str(tmp_path / "nofeed.json"))
    assert code == 2 and len(err) == 1 and '"v"' in err[0] and "missing" in err[0]


def test_a_port_in_use_is_one_line_and_exit_code_2(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, err = serve(capsys, str(CIRCUIT), "--port", str(port))
    assert code == 2 and len(err) == 1 and f"cannot listen on 127.0.0.1:{port}" in err[0]


def test_serve_prints_its_address_serves_the_page_and_stops_on_ctrl_c(tmp_path):
    """The real command in a process: the address on the first line, the page and the API on 127.0.0.1,
    and Ctrl-C ending it with "interrupted" (exit code 130), no traceback."""
    import httpx

    proc = subprocess.Popen(
        [sys.executable, "-m", "graphdiff.cli", "serve", str(CIRCUIT)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        match = re.fullmatch(
            r"graphdiff serve: cs231n_circuit at (http://127\.0\.0\.1:(\d+)/) \(Ctrl-C stops\)\n", line
        )
        assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
        url = match.group(1)
        assert httpx.get(url, timeout=30).status_code == 200
        edited = httpx.post(url + "api/leaf", json={"id": "x", "value": 1}, timeout=30)
        assert edited.json()["loss"]["value"] == -24.0
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and problem_lines(err) == ["interrupted"]
    assert os.listdir(tmp_path) == []


def toy_data(folder: Path) -> Path:
    """classifier.json beside data.npz, six examples of X (3 features) and y."""
    rng = np.random.default_rng(1)
    np.savez(folder / "data.npz", X=rng.standard_normal((6, 3)), y=np.array([0, 1, 1, 0, 1, 0]))
    return write_spec(folder, "classifier.json", classifier_spec())


def test_data_options_are_checked_before_serving_each_in_one_line(tmp_path, capsys):
    spec = toy_data(tmp_path)
    data = str(tmp_path / "data.npz")
    for args, expected in [
        (["--row", "1"], "--row: needs --data"),
        (["--bind", "X=X"], "--bind: needs --data"),
        (["--data", data, "--row", "6"], "--row 6: data.npz has examples 0 to 5"),
        (["--data", data, "--bind", "X=nothing"], 'the data has no array "nothing"'),
        (["--data", str(tmp_path / "none.npz")], "none.npz"),
        (["--data", "nowhere"], "--data nowhere"),
    ]:
        code, err = serve(capsys, str(spec), *args)
        assert code == 2 and len(err) == 1 and expected in err[0], (args, err)


def test_serve_with_data_feeds_rows_and_the_page_picks_others(tmp_path):
    import httpx

    spec = toy_data(tmp_path)
    before = snapshot(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "graphdiff.cli", "serve", str(spec), "--data", "data.npz", "--row", "4"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = re.search(r"(http://127\.0\.0\.1:\d+/)", proc.stdout.readline()).group(1)
        assert proc.stdout.readline() == "data: data.npz (6 examples), rows 4: X, y\n"
        assert httpx.get(url + "api/state", timeout=30).json()["rows"] == [4]
        state = httpx.post(url + "api/rows", json={"rows": [0, 1, 2]}, timeout=30).json()
        assert state["rows"] == [0, 1, 2] and state["items"][0]["shape"] == [3, 3]
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert snapshot(tmp_path) == before


def test_the_server_listens_on_127_0_0_1_only():
    from graphdiff.serve.server import bind

    sock = bind(0)
    try:
        host, port = sock.getsockname()
        assert host == "127.0.0.1" and port > 0
    finally:
        sock.close()


def test_serve_help_has_examples(capsys):
    with pytest.raises(SystemExit) as info:
        main(["serve", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "graphdiff serve examples/cs231n_circuit.json" in out and "--port" in out and "--open" in out
