"""The UIs for real: `karma-pipelines ui` (Dagster + MLflow servers) on free ports on the session's pipeline
home (`simulated_pipeline`), checked through Dagster's GraphQL API, MLflow's REST API and a headless Chromium,
then stopped; and a second `karma-pipelines ui` of its own, started and stopped by `make ui-stop`'s code.

Screenshots go to .karma/screenshots/ (ignored). The browser tests are skipped when /usr/bin/chromium (or
$KARMA_CHROMIUM) is absent (`apt-get install -y --no-install-recommends chromium`). Deselect the whole file
with -m "not live_ui".
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from karma_pipelines.apps.home import ensure_instance
from karma_pipelines.apps.ui import read_pid_file, stop_ui
from karma_pipelines.definitions import build_definitions
from karma_pipelines.defs.resources import KarmaSourceResource
from tests.conftest import ROOT, SMALL_WORLD, free_ports

pytestmark = pytest.mark.live_ui

SCREENSHOTS = ROOT / ".karma" / "screenshots"
VIEWPORT = {"width": 1600, "height": 1000}
MODEL = "karma-rollback-forecaster"
READY_TIMEOUT = 120.0
CHROMIUM = Path(os.environ.get("KARMA_CHROMIUM", "/usr/bin/chromium"))  # Debian's package
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Named here to be read at a glance; the full sets come from the definitions themselves (`expected`).
CORE_ASSETS = {
    "karma_world",
    "source_batches",
    "source_records",
    "deploy_records",
    "config_snapshots",
    "quarantined_records",
    "rollback_features",
    "rollback_forecaster",
    "rollback_forecaster_champion",
    "deploy_risk_scores",
}
CORE_CHECKS = {
    ("clean_karma_events", "check_clean_karma_events_suite"),
    ("deploy_records", "check_deploy_records_suite"),
    ("config_snapshots", "check_config_snapshots_suite"),
    ("quarantined_records", "check_quarantine_accounting"),
    ("rollback_features", "check_rollback_features_point_in_time"),
    ("rollback_forecaster", "check_rollback_forecaster_beats_random"),
    ("rollback_forecaster", "check_rollback_forecaster_challenger"),
}


@dataclass
class LiveUI:
    home: Path
    dagster: str
    mlflow: str
    ports: tuple[int, int]
    supervisor: subprocess.Popen
    log: Path
    pids: dict[str, tuple[int, int]]  # from <home>/ui.pid: name -> (pid = process group id, start time)
    stopped: bool = False

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Pipeline:
    """What the session's pipeline run (`simulated_pipeline`) left for the UIs to show."""

    home: Path
    source: KarmaSourceResource
    run_id: str
    mlflow_run: str  # the forecaster's `mlflow_run` metadata link


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _http(url: str, body: dict | None = None, timeout: float = 30.0) -> dict | str:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        text = response.read().decode()
    return json.loads(text) if response.headers.get_content_type() == "application/json" else text


def graphql(ui: LiveUI, query: str, variables: dict | None = None) -> dict:
    answer = _http(f"{ui.dagster}/graphql", {"query": query, "variables": variables or {}})
    assert not answer.get("errors"), answer["errors"]
    return answer["data"]


def mlflow_get(ui: LiveUI, endpoint: str, **params: str) -> dict:
    return _http(f"{ui.mlflow}/api/2.0/mlflow/{endpoint}?{urllib.parse.urlencode(params)}")


def _ours(home: Path) -> list[str]:
    """Every live process started for this home: the servers' environment has KARMA_HOME=<home> (a temp
    folder no other process uses), whatever process group or session a child may have moved to."""
    marker = f"KARMA_HOME={home}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if marker in Path(f"/proc/{entry.name}/environ").read_bytes().split(b"\0"):
                state = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[0]
                if state not in ("Z", "X"):
                    cmd = Path(f"/proc/{entry.name}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                    found.append(f"{entry.name}: {cmd[:160]}")
    return found


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie: a killed orphan waits a moment for init to reap it) processes of a process group."""
    members = []
    for entry in os.scandir("/proc"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return members


def _wait_ready(ui: LiveUI) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    waiting = {"dagster", "mlflow"}
    while waiting and time.monotonic() < deadline:
        if ui.supervisor.poll() is not None:
            raise RuntimeError(f"`karma-pipelines ui` exited with {ui.supervisor.returncode}")
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            if "dagster" in waiting:
                answer = _http(
                    f"{ui.dagster}/graphql",
                    {"query": "{ repositoriesOrError { ... on RepositoryConnection { nodes { name } } } }"},
                    timeout=5,
                )
                if answer["data"]["repositoriesOrError"]["nodes"]:  # the code location is loaded
                    waiting.discard("dagster")
            if "mlflow" in waiting and _http(f"{ui.mlflow}/health", timeout=5) == "OK":
                waiting.discard("mlflow")
        time.sleep(0.5)
    if waiting:
        raise TimeoutError(f"not ready after {READY_TIMEOUT:.0f} s: {sorted(waiting)}")


def stop_and_check(ui: LiveUI) -> list[str]:
    """Stop the supervisor like `make ui-stop` (SIGTERM to the pid in ui.pid); return the problems seen."""
    if ui.stopped:
        return []
    ui.stopped = True
    problems = []
    code = stop_ui(ui.home, timeout=60)
    try:
        ui.supervisor.wait(timeout=30)
    except subprocess.TimeoutExpired:
        problems.append("the supervisor did not exit")
        ui.supervisor.kill()
        ui.supervisor.wait()
    if code != 0:
        problems.append(f"stop_ui returned {code}")
    if ui.supervisor.returncode != 0:
        problems.append(f"the supervisor exited with {ui.supervisor.returncode}")
    for name, (pgid, _) in ui.pids.items():
        members = _group_members(pgid)
        if members:
            problems.append(f"{name}: process group {pgid} still has processes {members}")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
    left = _ours(ui.home)
    if left:
        problems.append(f"processes with KARMA_HOME={ui.home} left: {left}")
        for line in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line.split(":")[0]), signal.SIGKILL)
    problems += [f"port {port} still open" for port in ui.ports if _port_open(port)]
    if (ui.home / "ui.pid").exists():
        problems.append("ui.pid was not removed")
    return problems


def start_ui(home: Path, world: Path, log: Path, ports: tuple[int, int] | None = None) -> LiveUI:
    """`karma-pipelines ui --home <home>` on `ports` (Dagster, MLflow; default two free ones), reading the
    simulated world at `world`; returns once both servers answer (Dagster with the code location loaded),
    or stops them and fails."""
    home = home.resolve()
    dagster_port, mlflow_port = ports or free_ports(2)
    server_env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "DAGSTER_HOME")}
    server_env.update(KARMA_SOURCE_KIND="simulator", KARMA_SOURCE_PATH=str(world), PYTHONUNBUFFERED="1")
    command = [
        str(Path(sys.executable).parent / "karma-pipelines"),
        *("ui", "--home", str(home), "--dagster-port", str(dagster_port), "--mlflow-port", str(mlflow_port)),
    ]
    with log.open("wb") as out:
        supervisor = subprocess.Popen(
            command, cwd=ROOT, env=server_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    ui = LiveUI(
        home=home,
        dagster=f"http://127.0.0.1:{dagster_port}",
        mlflow=f"http://127.0.0.1:{mlflow_port}",
        ports=(dagster_port, mlflow_port),
        supervisor=supervisor,
        log=log,
        pids={},
    )
    started = time.monotonic()
    try:
        _wait_ready(ui)
    except BaseException as exc:  # Ctrl-C included: never leave the servers running
        ui.pids = {k: v for k, v in read_pid_file(home).items() if k != "supervisor"}
        problems = stop_and_check(ui)
        if not isinstance(exc, RuntimeError | TimeoutError):
            raise
        pytest.fail(f"{exc}; stop: {problems or 'clean'}\n--- servers' log (tail) ---\n{ui.log_tail()}")
    ui.pids = {k: v for k, v in read_pid_file(home).items() if k != "supervisor"}
    print(f"servers ready in {time.monotonic() - started:.1f} s: {ui.dagster} {ui.mlflow}")
    return ui


REGISTRY_TABLES = (
    "registered_models",
    "model_versions",
    "registered_model_aliases",
    "registered_model_tags",
    "model_version_tags",
)


def registry_rows(home: Path) -> dict[str, list[tuple]]:
    """Every row of the MLflow model registry's tables in `<home>/mlflow.db`, read-only."""
    with contextlib.closing(sqlite3.connect(f"{(home / 'mlflow.db').as_uri()}?mode=ro", uri=True)) as db:
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in REGISTRY_TABLES}


@pytest.fixture(scope="module")
def pipeline(simulated_pipeline) -> Pipeline:
    home, result = simulated_pipeline
    assert result.success
    (forecaster,) = result.asset_materializations_for_node("rollback_forecaster")
    return Pipeline(
        home=home,
        source=KarmaSourceResource(kind="simulator", path=str(home / "world"), **SMALL_WORLD),
        run_id=result.run_id,
        mlflow_run=forecaster.metadata["mlflow_run"].value,
    )


@pytest.fixture(scope="module")
def live_ui(pipeline, tmp_path_factory):
    """The UIs on the session's pipeline home (other modules read it: the tests here only read it, and
    its registry must come out unchanged); stopped, and checked to leave nothing behind, at the end."""
    registry = registry_rows(pipeline.home)
    log = tmp_path_factory.mktemp("live_ui_log") / "ui.log"
    # The ports the pipeline's links were written for (as `make run` and `make ui` share DAGSTER_PORT and
    # MLFLOW_PORT).
    ports = tuple(int(p) for p in (pipeline.home / "ui_ports").read_text().split())
    ui = start_ui(pipeline.home, pipeline.home / "world", log, ports)
    yield ui
    problems = stop_and_check(ui)
    assert not problems, f"{problems}\n--- servers' log (tail) ---\n{ui.log_tail()}"
    assert registry_rows(pipeline.home) == registry, "the live UI tests changed the shared MLflow registry"


# --- Dagster: GraphQL -----------------------------------------------------------------------------------

REPOSITORY_QUERY = """
query Repository {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes {
        name
        location { name }
        jobs { name }
        schedules { name cronSchedule executionTimezone scheduleState { status } }
        sensors { name sensorState { status } }
        assetNodes {
          assetKey { path }
          groupName
          assetChecksOrError {
            __typename
            ... on AssetChecks { checks { name blocking executionForLatestMaterialization { status } } }
          }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""

LATEST_MATERIALIZATION_QUERY = """
query Latest($path: [String!]!) {
  assetOrError(assetKey: {path: $path}) {
    __typename
    ... on Asset {
      assetMaterializations(limit: 1) {
        runId
        metadataEntries {
          __typename
          label
          ... on UrlMetadataEntry { url }
          ... on TextMetadataEntry { text }
          ... on IntMetadataEntry { intValue }
        }
      }
    }
  }
}
"""


@pytest.fixture(scope="module")
def repository(live_ui):
    answer = graphql(live_ui, REPOSITORY_QUERY)["repositoriesOrError"]
    assert answer["__typename"] == "RepositoryConnection", answer
    (repo,) = answer["nodes"]
    return repo


@pytest.fixture(scope="module")
def expected(pipeline):
    """What the code location defines for this source, loaded in process: the UI must show the same."""
    defs = build_definitions(source=pipeline.source)
    graph = defs.resolve_asset_graph()
    return {
        "assets": {k.to_user_string() for k in graph.get_all_asset_keys()},
        "checks": {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys},
        "jobs": {j.name for j in defs.jobs},
        "schedules": {s.name: s.default_status.value for s in defs.schedules},
        "sensors": {s.name: s.default_status.value for s in defs.sensors},
    }


def test_dagster_asset_graph_and_checks(repository, expected):
    assert repository["location"]["name"] == "karma_pipelines"
    assert {j["name"] for j in repository["jobs"]} >= expected["jobs"] | {"karma_pipeline_job"}
    nodes = {"/".join(n["assetKey"]["path"]): n for n in repository["assetNodes"]}
    assert set(nodes) >= CORE_ASSETS, CORE_ASSETS - set(nodes)
    assert set(nodes) == expected["assets"]
    checks = {}
    for key, node in nodes.items():
        assert node["assetChecksOrError"]["__typename"] == "AssetChecks", node["assetChecksOrError"]
        checks |= {(key, c["name"]): c for c in node["assetChecksOrError"]["checks"]}
    assert set(checks) >= CORE_CHECKS, CORE_CHECKS - set(checks)
    assert set(checks) == expected["checks"]
    not_passed = {
        k: (c["executionForLatestMaterialization"] or {}).get("status")
        for k, c in checks.items()
        if (c["executionForLatestMaterialization"] or {}).get("status") != "SUCCEEDED"
    }
    assert not not_passed, not_passed  # every check ran on the latest materialization and passed
    assert all(checks[k]["blocking"] for k in CORE_CHECKS)


def test_dagster_schedule_and_sensors(repository, expected):
    schedules = {s["name"]: s for s in repository["schedules"]}
    daily = schedules["karma_daily_schedule"]
    assert (daily["cronSchedule"], daily["executionTimezone"]) == ("0 5 * * *", "UTC")
    assert daily["scheduleState"]["status"] == "STOPPED"  # off by default
    assert {n: s["scheduleState"]["status"] for n, s in schedules.items()} == expected["schedules"]
    # One sensor for every source kind: it watches the source's batches (day files, a Git ref).
    sensors = {s["name"]: s["sensorState"]["status"] for s in repository["sensors"]}
    assert sensors == expected["sensors"] == {"karma_source_sensor": "STOPPED"}


def test_dagster_latest_forecaster_materialization_links_mlflow(live_ui, pipeline):
    answer = graphql(live_ui, LATEST_MATERIALIZATION_QUERY, {"path": ["rollback_forecaster"]})["assetOrError"]
    assert answer["__typename"] == "Asset", answer
    (latest,) = answer["assetMaterializations"]
    assert latest["runId"] == pipeline.run_id
    meta = {e["label"]: e for e in latest["metadataEntries"]}
    assert meta["mlflow_run"]["__typename"] == "UrlMetadataEntry"
    assert meta["mlflow_run"]["url"] == pipeline.mlflow_run
    assert "/#/experiments/" in meta["mlflow_run"]["url"]
    assert meta["registered_model"]["text"] == MODEL
    assert meta["version"]["intValue"] == 1


RUNS_OF_LOCATION_QUERY = """
query RunsOfLocation($label: String!) {
  runsOrError(filter: {tags: [{key: ".dagster/repository", value: $label}]}) {
    __typename
    ... on Runs { results { runId jobName repositoryOrigin { repositoryName repositoryLocationName } } }
    ... on PythonError { message }
  }
}
"""


def test_dagster_lists_the_pipeline_run_under_its_code_location(live_ui, pipeline, repository):
    """The run `execute_all` (what `run` calls) made in process is the code location's, as a run launched
    from the UI is: the UI's run filter by code location finds it, and its origin (which the Overview
    timeline groups by) names the UI's repository and location."""
    name, location = repository["name"], repository["location"]["name"]
    answer = graphql(live_ui, RUNS_OF_LOCATION_QUERY, {"label": f"{name}@{location}"})["runsOrError"]
    assert answer["__typename"] == "Runs", answer
    runs = {r["runId"]: r for r in answer["results"]}
    assert pipeline.run_id in runs, f"{pipeline.run_id} is not among the runs of {name}@{location}: {runs}"
    run = runs[pipeline.run_id]
    assert run["repositoryOrigin"] == {"repositoryName": name, "repositoryLocationName": location}
    assert run["jobName"] in {j["name"] for j in repository["jobs"]}


def status_with_host(url: str, host: str) -> int:
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as refused:
        return refused.code


def test_both_uis_answer_loopback_host_names_only(live_ui):
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 gets nothing from either server."""
    for url, refused in ((f"{live_ui.dagster}/server_info", 400), (f"{live_ui.mlflow}/", 403)):
        port = url.split(":")[2].split("/")[0]
        assert status_with_host(url, "evil.example") == refused, url
        assert status_with_host(url, f"evil.example:{port}") == refused, url
        assert status_with_host(url, f"127.0.0.1:{port}") == 200, url
        assert status_with_host(url, f"localhost:{port}") == 200, url


def test_links_between_the_uis_open_what_they_name(live_ui, pipeline):
    """Dagster -> MLflow: the run link opens on the port the UI was started with, and names a run MLflow
    has; MLflow -> Dagster: the run's `dagster.run_url` opens a Dagster run page that exists."""
    answer = graphql(live_ui, LATEST_MATERIALIZATION_QUERY, {"path": ["rollback_forecaster"]})["assetOrError"]
    meta = {e["label"]: e for e in answer["assetMaterializations"][0]["metadataEntries"]}
    link = meta["mlflow_run"]["url"]
    assert link.startswith(f"{live_ui.mlflow}/#/experiments/"), (link, live_ui.mlflow)
    run_id = link.rsplit("/runs/", 1)[1]
    page = _http(link.split("#", 1)[0])  # the MLflow web app answers at that address
    assert isinstance(page, str) and "<html" in page.lower()
    run = mlflow_get(live_ui, "runs/get", run_id=run_id)["run"]
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    back = tags["dagster.run_url"]
    assert back == f"{live_ui.dagster}/runs/{pipeline.run_id}"
    found = graphql(live_ui, RUN_QUERY, {"runId": back.rsplit("/", 1)[1]})["runOrError"]
    assert found["__typename"] == "Run" and found["status"] == "SUCCESS", found
    assert isinstance(_http(back), str)  # the Dagster web app serves the run page


RUN_QUERY = """
query Run($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { runId status } } }
"""


# --- MLflow: REST ---------------------------------------------------------------------------------------


def test_mlflow_registered_model_and_champion(live_ui, pipeline):
    model = mlflow_get(live_ui, "registered-models/get", name=MODEL)["registered_model"]
    assert model["name"] == MODEL
    assert {a["alias"]: a["version"] for a in model.get("aliases", [])}.get("champion") == "1"
    champion = mlflow_get(live_ui, "registered-models/alias", name=MODEL, alias="champion")["model_version"]
    assert champion["version"] == "1"
    assert pipeline.mlflow_run.endswith(f"/runs/{champion['run_id']}")
    run = mlflow_get(live_ui, "runs/get", run_id=champion["run_id"])["run"]
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags["dagster.run_id"] == pipeline.run_id
    assert tags["dagster.asset_key"] == "rollback_forecaster"
    found = mlflow_get(live_ui, "registered-models/search", filter=f"name='{MODEL}'")
    assert [m["name"] for m in found["registered_models"]] == [MODEL]


# --- the browser ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(live_ui, tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install -y --no-install-recommends chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium_profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
        try:
            yield context
        finally:
            context.close()


# True once the page's DOM has not changed for `quiet` ms and no loading indicator is shown: both UIs keep
# polling (they never go network-idle), but once the last answer is rendered nothing on the page changes
# but its clocks. Dagster's relative times ("5 seconds ago") and durations ("0:30") tick every second, each
# on its own phase: two of them leave no quiet 700 ms on a busy machine (CI: "the page did not settle").
SETTLED = """quiet => {
    const CLOCK = /^\\s*((\\d+|an?|a few) (second|minute|hour|day|month|year)s? ago|\\d+(:\\d\\d)+)\\s*$/;
    if (!window.__karmaSettle) {
        const state = (window.__karmaSettle = {last: performance.now(), log: []});
        const name = n => (n && n.nodeType === 1)
            ? `${n.tagName.toLowerCase()}${n.id ? "#" + n.id : ""}.${String(n.className).slice(0, 40)}`
            : `${n && n.parentElement ? name(n.parentElement) + " > " : ""}#text`;
        new MutationObserver(all => {
            const records = all.filter(r => !(r.type === "characterData" && CLOCK.test(r.target.data)));
            if (!records.length) return;
            state.last = performance.now();
            for (const r of records.slice(0, 3)) {
                const what = `${r.type} ${r.attributeName || ""} ${name(r.target)}`;
                const text = String(r.target.textContent || "").slice(0, 40);
                state.log.push(`${Math.round(state.last)} ${what}: ${text}`);
            }
            state.log.splice(0, Math.max(0, state.log.length - 12));
        }).observe(document.documentElement, {
            subtree: true, childList: true, attributes: true, characterData: true,
        });
    }
    const loading = '[aria-busy="true"], [role="progressbar"], .ant-spin-spinning';
    const busy = [...document.querySelectorAll(loading)].filter(e => e.getClientRects().length > 0);
    window.__karmaSettle.busy = busy.map(e => e.outerHTML.slice(0, 120));
    return !busy.length && performance.now() - window.__karmaSettle.last > quiet;
}"""

# What kept the page from settling: the loading indicators shown and the last changes of its DOM.
UNSETTLED = "() => window.__karmaSettle && {busy: __karmaSettle.busy, changes: __karmaSettle.log}"


# The boxes of the elements matched, on a full-page screenshot: (left, top, right, bottom) in CSS pixels of
# the document (a match may lie in a scrolled-away part of an inner scroll area, off the screenshot).
BOXES = """elements => elements.map(e => e.getBoundingClientRect()).filter(r => r.width > 0 && r.height > 0)
    .map(r => [r.left + scrollX, r.top + scrollY, r.right + scrollX, r.bottom + scrollY])"""


def _shoot(
    browser,
    url: str,
    texts: list[str],
    name: str,
    close: str | None = None,
    then: Callable[[Any], None] | None = None,
    shown: list[str] | None = None,
) -> tuple[Path, dict[str, list[list[float]]]]:
    """Open url, wait until every text is on the page, close a panel, run `then(page)`, wait until the page
    has settled (`SETTLED`) with every text of `shown` (default: `texts`) still shown, save a full-page
    screenshot; return its path and the boxes of the elements showing each text of `shown` (`BOXES`)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def step(what: str, action: Callable[[], Any]) -> None:
        try:
            action()
        except Exception as exc:
            page.screenshot(path=str(SCREENSHOTS / f"FAILED-{name}.png"), full_page=True)
            raise AssertionError(f"{what} on {url}; page errors: {errors}; {exc}") from exc

    def settle() -> None:
        try:
            page.wait_for_function(SETTLED, arg=700, timeout=30_000)
        except PlaywrightTimeout as exc:
            raise AssertionError(f"not settled in 30 s: {page.evaluate(UNSETTLED)}") from exc

    def visible(text: str) -> None:
        expect(page.get_by_text(text, exact=False).first).to_be_visible(timeout=60_000)

    try:
        page.goto(url, wait_until="domcontentloaded", timeout=60_000)
        for text in texts:
            step(f"{text!r} not shown", lambda text=text: visible(text))
        if close:  # e.g. MLflow's assistant side panel, open by default
            button = page.get_by_role("button", name=close, exact=True).first
            if button.is_visible():
                step(f"the {close!r} button did not close its panel", lambda: _click_away(button))
        if then:
            step("`then` failed", lambda: then(page))
        step("the page did not settle", settle)
        boxes = {}
        for text in texts if shown is None else shown:  # there once everything is rendered
            step(f"{text!r} not shown at the end", lambda text=text: visible(text))
            boxes[text] = page.get_by_text(text, exact=False).evaluate_all(BOXES)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path, boxes
    finally:
        page.close()


def _click_away(button) -> None:
    from playwright.sync_api import expect

    button.click(timeout=10_000)
    expect(button).to_be_hidden(timeout=10_000)


def check_screenshot(path: Path, boxes: dict[str, list[list[float]]], sparse: bool = False) -> dict:
    """A real rendering of the page: the viewport's width, at least its height, not blank (many colours,
    no single colour covering nearly everything, some dark pixels; fewer on a `sparse` page, such as a
    timeline of one row), and each text drawn where the page has it (a box of one of its elements, on the
    image, holds contrasting glyphs, not a uniform patch)."""
    from PIL import Image, ImageStat

    with Image.open(path) as image:
        rgb = image.convert("RGB")
    width, height = rgb.size
    assert width == VIEWPORT["width"] and height >= VIEWPORT["height"], (path, rgb.size)
    colours = rgb.getcolors(maxcolors=width * height)
    grey = rgb.convert("L")
    seen: dict = {
        "colours": len(colours),
        "dominant": round(max(count for count, _ in colours) / (width * height), 3),
        "dark": round(sum(grey.histogram()[:128]) / (width * height), 4),  # text, icons, dark panels
        "stddev": round(ImageStat.Stat(grey).stddev[0], 1),
    }
    assert seen["colours"] >= 200 and seen["dominant"] < 0.97, (path, seen)
    dark, stddev = (0.002, 10) if sparse else (0.005, 15)
    assert seen["dark"] > dark and seen["stddev"] > stddev, (path, seen)
    for text, found in boxes.items():
        on_image = [
            (int(left), int(top), min(width, int(right) + 1), min(height, int(bottom) + 1))
            for left, top, right, bottom in found
            if left >= 0 and top >= 0 and right <= width and bottom <= height and right - left >= 4
        ]
        assert on_image, (path, text, f"no element showing it lies on the {width}x{height} image", found)
        patches = [ImageStat.Stat(grey.crop(box)) for box in on_image]
        drawn = [
            round(p.stddev[0], 1)
            for p in patches
            if p.stddev[0] > 20 and p.extrema[0][1] - p.extrema[0][0] > 80
        ]
        seen[text] = max(drawn, default=max(round(p.stddev[0], 1) for p in patches))
        assert drawn, (path, text, "its boxes on the image are (nearly) uniform", seen)
    print(path.name, seen)
    return seen


def _show_mlflow_metadata(page) -> None:
    """Filter the metadata table down to the MLflow links (`mlflow_run`, `mlflow_model`)."""
    page.get_by_placeholder("Filter metadata keys").fill("mlflow")
    page.get_by_text("mlflow_run", exact=True).first.wait_for(state="visible", timeout=30_000)
    page.get_by_text("test_roc_auc", exact=True).first.wait_for(
        state="hidden", timeout=30_000
    )  # filtered out


def test_browser_dagster_asset_page(live_ui, browser):
    shot = _shoot(
        browser,
        f"{live_ui.dagster}/assets/rollback_forecaster",
        ["rollback_forecaster", "Latest materialization", "karma_pipeline_job", "test_roc_auc"],
        "dagster-asset-rollback_forecaster",
        then=_show_mlflow_metadata,  # the metadata filtered down to the MLflow links: test_roc_auc hidden
        shown=[
            "Latest materialization",
            "karma_pipeline_job",
            "mlflow_run",
            "mlflow_model",
            "/#/experiments/",
        ],
    )
    check_screenshot(*shot)


def test_browser_dagster_downstream_lineage(live_ui, browser):
    shot = _shoot(
        browser,
        f"{live_ui.dagster}/assets/rollback_forecaster?view=lineage&lineageScope=downstream&lineageDepth=2",
        ["rollback_forecaster_champion", "deploy_risk_scores", "2 / 2 Passed"],
        "dagster-lineage-rollback_forecaster-downstream",
    )
    check_screenshot(*shot)


def test_browser_dagster_overview_timeline_shows_the_pipeline_run(live_ui, browser):
    # The timeline has a row per job of a code location with runs in the window: the session's run made
    # by `execute_all` is karma_ingest_job's (without a code-location origin a run gets no row, and the
    # page says "No runs or scheduled ticks in this time period").
    shot = _shoot(
        browser,
        f"{live_ui.dagster}/overview/activity/timeline",
        ["karma_ingest_job", "karma_pipelines"],
        "dagster-overview-timeline",
    )
    check_screenshot(*shot, sparse=True)  # one location, one row: mostly white (dark 0.0042, stddev 14.2)


def test_browser_mlflow_registered_model_page(live_ui, browser):
    shot = _shoot(
        browser,
        f"{live_ui.mlflow}/#/models/{MODEL}",
        [MODEL, "Version 1", "champion", "challenger"],
        "mlflow-registered-model-karma-rollback-forecaster",
        close="Close",
    )
    check_screenshot(*shot)


def test_browser_mlflow_champion_run_page(live_ui, pipeline, browser):
    # The metadata link points at the default UI address; keep its path (experiment and run ids).
    fragment = pipeline.mlflow_run[pipeline.mlflow_run.index("/#/") :]
    shot = _shoot(
        browser,
        f"{live_ui.mlflow}{fragment}",
        ["test_roc_auc", "dagster.run_id", MODEL],
        "mlflow-champion-run",
        close="Close",
    )
    check_screenshot(*shot)


# --- stop -----------------------------------------------------------------------------------------------


@pytest.fixture
def own_ui(pipeline, tmp_path):
    """A second `karma-pipelines ui`, on a home of its own (one UI per home: ui.pid), so stopping it leaves
    the module's servers to the other tests, whatever the order. A copy of the MLflow store and a fresh
    Dagster instance; the same world, read-only."""
    home = tmp_path / "home"
    ensure_instance(home)
    shutil.copy(pipeline.home / "mlflow.db", home / "mlflow.db")
    ui = start_ui(home, pipeline.home / "world", tmp_path / "ui.log")
    yield ui
    stop_and_check(ui)  # when the test failed before its stop: never leave the servers running


def test_ui_stop_leaves_nothing_running(own_ui):
    assert _ours(own_ui.home), "the servers should be running before the stop"
    assert set(own_ui.pids) == {"dagster", "mlflow"}
    assert all(_group_members(pgid) for pgid, _ in own_ui.pids.values())
    assert all(_port_open(port) for port in own_ui.ports)
    problems = stop_and_check(own_ui)
    assert not problems, f"{problems}\n--- servers' log (tail) ---\n{own_ui.log_tail()}"
