"""Property-based fuzz of the published pipeline routes in the live API server.

Hypothesis sends well-formed, half-formed and garbage requests (paths, ids, versions, bodies,
tokens). Two properties must hold: no response is a 5xx, and a run exists only for a 200.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_published_e2e import run_count, scoring_pipeline

from airflow_mlpipe import PipelineEndpoint, Workspace

pytestmark = pytest.mark.integration

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
param_names = st.sampled_from(["scale", "input_data", "sclae", "", "regenerate_outputs"]) | st.text(
    max_size=10
)
azure_bodies = st.fixed_dictionaries(
    {},
    optional={
        "ExperimentName": st.sampled_from(["fuzz"]) | st.text(max_size=300) | json_values,
        "ParameterAssignments": st.dictionaries(
            param_names, st.sampled_from(["3", "x", 4, 2.5, True]) | json_values, max_size=3
        )
        | json_values,
        "DataPathAssignments": st.dictionaries(
            param_names,
            st.fixed_dictionaries(
                {
                    "DataStoreName": st.sampled_from(["workspaceblobstore", "nope"]) | json_values,
                    "RelativePath": st.sampled_from(["published-data/b"]) | json_values,
                }
            )
            | json_values,
            max_size=2,
        )
        | json_values,
        "RunSource": json_values,
        "Description": json_values,
        "tags": st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2) | json_values,
        "RegenerateOutputs": json_values,
        "ForceRerunSteps": st.lists(st.sampled_from(["score", "report", "x"]), max_size=2) | json_values,
        "Bogus": json_values,
    },
)


@pytest.fixture(scope="module")
def target(deployment, client):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLPIPE_HOME", str(deployment.home))
        yield from _published_target(deployment, client)


def _published_target(deployment, client):
    ws = Workspace.from_config()
    store = ws.get_default_datastore().store
    store.write_bytes("published-data/a/rows.csv", b"1\n2\n3\n")
    store.write_bytes("published-data/b/rows.csv", b"1\n2\n3\n4\n5\n")
    published = scoring_pipeline(ws, "fuzz").publish(name="scoring-fuzz")
    ep = PipelineEndpoint.publish(
        ws, name=f"fuzz-{uuid.uuid4().hex[:6]}", description=None, pipeline=published
    )
    yield {"published": published, "endpoint": ep, "client": client, "url": deployment.url}
    # queued fuzz runs need not run: nothing else checks them
    from airflow_mlpipe.registry.published import PublishedRegistry

    PublishedRegistry(deployment.home / "registry").set_pipeline_status(published.id, "Disabled")
    client.set_paused(published.dag_id, True)


def test_fuzzed_requests_never_get_a_5xx_and_start_a_run_only_on_200(target):
    client, published, ep = target["client"], target["published"], target["endpoint"]
    token = client.token()
    base = f"{target['url']}/mlpipe/pipelines/v1.0"
    ids = st.sampled_from([published.id, ep.id, str(uuid.uuid4())]) | st.text(min_size=1, max_size=40)
    versions = st.sampled_from(["0", "1", "01", "-1"]) | st.text(min_size=1, max_size=10)
    seg = ids.map(lambda s: quote(s, safe=""))
    paths = st.one_of(
        st.tuples(st.just("POST"), seg.map(lambda i: f"/PipelineRuns/PipelineSubmit/{i}")),
        st.tuples(st.just("POST"), seg.map(lambda i: f"/PipelineRuns/PipelineEndpointSubmit/Id/{i}")),
        st.tuples(
            st.just("POST"),
            st.tuples(seg, versions.map(lambda v: quote(v, safe=""))).map(
                lambda t: f"/PipelineRuns/PipelineEndpointSubmit/Id/{t[0]}/Versions/{t[1]}"
            ),
        ),
        st.tuples(
            st.just("POST"),
            (st.just(ep.name) | st.text(min_size=1, max_size=20)).map(
                lambda n: f"/PipelineRuns/PipelineEndpointSubmit/Name/{quote(n, safe='')}"
            ),
        ),
        st.tuples(st.just("GET"), seg.map(lambda i: f"/PipelineRuns/{i}")),
        st.tuples(st.just("GET"), seg.map(lambda i: f"/PublishedPipelines/{i}")),
        st.tuples(st.just("GET"), seg.map(lambda i: f"/PipelineEndpoints/{i}")),
    )
    headers = st.sampled_from(
        [{"Authorization": f"Bearer {token}"}] * 4
        + [{}, {"Authorization": "Bearer x.y.z"}, {"Authorization": "Basic abc"}]
    )
    raw = st.binary(max_size=40).map(lambda b: ("raw", b))
    bodies = azure_bodies.map(lambda b: ("json", b)) | json_values.map(lambda b: ("json", b)) | raw
    query = st.none() | versions.map(lambda v: {"pipelineVersion": v})
    before = run_count(client, published.dag_id)
    accepted: list[str] = []
    statuses: dict[int, int] = {}
    session = requests.Session()

    @settings(
        max_examples=250,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    @given(paths, bodies, headers, query)
    def check(path, body, header, params):
        method, route = path
        kind, payload = body
        kw = {"json": payload} if kind == "json" else {"data": payload}
        resp = session.request(method, base + route, headers=header, params=params, timeout=30, **kw)
        assert resp.status_code < 500, (
            f"{method} {route} {params} {payload!r}: {resp.status_code} {resp.text}"
        )
        statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
        assert resp.headers.get("content-type", "").startswith("application/json"), resp.text
        if resp.status_code == 200 and method == "POST":
            assert resp.json()["DagId"] == published.dag_id
            accepted.append(resp.json()["Id"])
        elif method == "POST":
            assert "detail" in resp.json(), resp.text

    check()
    print("fuzz statuses:", dict(sorted(statuses.items())))
    # the fuzz reached both sides of every check, not just one kind of refusal
    assert {200, 400, 401, 404} <= set(statuses), statuses
    # every run that exists was answered 200; every other answer started nothing
    assert run_count(client, published.dag_id) == before + len(accepted)
