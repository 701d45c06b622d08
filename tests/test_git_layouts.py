"""Several layouts at once, first match wins: a small repository shaped like alphagov/govuk-helm-charts
(image-tag files without extension holding YAML, `values-<env>.yaml` per environment, a chart's base
`values.yaml`, a shared chart template), read by the Git source, the folder corpus and the CLI."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from karma_pipelines.apps.cli import build_parser
from karma_pipelines.sources.git import extract_git_history
from karma_pipelines.sources.git.layout import Layouts, split_layouts
from karma_pipelines.sources.git.source import GitSource
from karma_pipelines.suggester.corpus import corpus_from_folder
from tests.test_layout_one_matcher import _git

IMAGE_TAGS = "charts/app-config/{component_type}/{env}/{nickname}"
ENV_VALUES = "charts/{nickname}/values-{env}.yaml"
BASE_VALUES = "charts/{nickname}/values.yaml"
TEMPLATES = "charts/{nickname}/templates/*.yaml"
GOVUK = [IMAGE_TAGS, ENV_VALUES, BASE_VALUES]


def _commit(repo: Path, when: int, message: str, files: dict[str, str]) -> str:
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message, when=when)
    return _git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def govuk(tmp_path: Path) -> Path:
    repo = tmp_path / "govuk"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _commit(
        repo,
        0,
        "initial charts",
        {
            "charts/app-config/image-tags/production/router": "image_tag: v1\n",
            "charts/app-config/image-tags/staging/router": "image_tag: v1\n",
            "charts/app-config/values-production.yaml": "router:\n  replicas: 3\n",
            "charts/app-config/values-staging.yaml": "router:\n  replicas: 1\n",
            "charts/router/values.yaml": "image:\n  repository: router\nport: 8080\n",
            "charts/router/values-production.yaml": "port: 80\n",
            "charts/generic-app/templates/deployment.yaml": "kind: Deployment\nreplicas: 1\n",
            "README.md": "# charts\n",
        },
    )
    _commit(
        repo,
        1,
        "Deploy router v2 to staging",
        {"charts/app-config/image-tags/staging/router": "image_tag: v2\n"},
    )
    _commit(
        repo, 2, "More replicas", {"charts/app-config/values-production.yaml": "router:\n  replicas: 5\n"}
    )
    _commit(repo, 3, "Base port", {"charts/router/values.yaml": "image:\n  repository: router\nport: 9090\n"})
    _commit(
        repo,
        4,
        "Template",
        {"charts/generic-app/templates/deployment.yaml": "kind: Deployment\nreplicas: 2\n"},
    )
    _commit(repo, 5, "Docs", {"README.md": "# charts, documented\n"})
    return repo


def test_first_layout_that_matches_names_the_component():
    layouts = Layouts.of([IMAGE_TAGS, f"{ENV_VALUES};{BASE_VALUES}", "charts/{nickname}/**"])
    assert layouts.patterns == (IMAGE_TAGS, ENV_VALUES, BASE_VALUES, "charts/{nickname}/**")
    assert layouts.key == ";".join(layouts.patterns)
    tag = layouts.which("charts/app-config/image-tags/production/router")
    assert tag is not None and tag[0] == 0
    assert (tag[1].identity, tag[1].file_key) == (("production", "image-tags/router"), "router")
    # A placeholder inside a file name: the environment comes from `values-{env}.yaml` ...
    env_file = layouts.which("charts/router/values-production.yaml")
    assert env_file is not None and env_file[0] == 1
    assert env_file[1].identity == ("production", "charts/router")
    # ... and the chart's base values.yaml is the same component key in `default`, by the third layout.
    base = layouts.which("charts/router/values.yaml")
    assert base is not None and base[0] == 2 and base[1].identity == ("default", "charts/router")
    # The catch-all comes last: it only takes what no earlier layout named.
    rest = layouts.which("charts/router/templates/svc.yaml")
    assert rest is not None and rest[0] == 3 and rest[1].file_key == "templates/svc.yaml"
    assert layouts.which("README.md") is None
    # The same layouts in another order give the files to another layout.
    assert Layouts.of(["charts/{nickname}/**", *GOVUK]).which("charts/router/values.yaml")[0] == 0


def test_layout_lists_are_split_deduplicated_and_checked():
    assert split_layouts(f" {IMAGE_TAGS} ;; {ENV_VALUES};") == [IMAGE_TAGS, ENV_VALUES]
    assert Layouts.of([IMAGE_TAGS, IMAGE_TAGS]).patterns == (IMAGE_TAGS,)
    assert Layouts.of(None).patterns == ("iac/{env}/{component_type}/{nickname}/config.json",)
    with pytest.raises(ValueError, match="no pattern"):
        Layouts.of(" ; ")
    with pytest.raises(ValueError, match="nickname"):
        Layouts.of(f"{IMAGE_TAGS};charts/{{env}}/values.yaml")


def test_git_source_reads_every_layout(govuk: Path):
    extraction = extract_git_history(govuk, layout=GOVUK)
    deploys = extraction.deploy_records
    got = sorted(zip(deploys["component"], deploys["environment"], deploys["message"], strict=True))
    assert got == sorted(
        [
            ("image-tags/router", "production", "initial charts"),
            ("image-tags/router", "staging", "initial charts"),
            ("charts/app-config", "production", "initial charts"),
            ("charts/app-config", "staging", "initial charts"),
            ("charts/router", "default", "initial charts"),
            ("charts/router", "production", "initial charts"),
            ("image-tags/router", "staging", "Deploy router v2 to staging"),
            ("charts/app-config", "production", "More replicas"),
            ("charts/router", "default", "Base port"),
        ]
    )
    snaps = extraction.config_snapshots.set_index("deploy_id")
    # A file without extension holding YAML is parsed as YAML (the image tag is a field).
    v2 = deploys.loc[deploys["message"] == "Deploy router v2 to staging", "deploy_id"].item()
    assert json.loads(snaps.loc[v2, "config_json"]) == {"image_tag": "v2"}
    assert deploys.loc[deploys["deploy_id"] == v2, "fields_changed"].item() == ["image_tag"]
    # One commit changing `charts/router` in two environments: ids stay unique with `@<env>`.
    assert deploys["deploy_id"].is_unique
    assert extraction.state.layout == ";".join(GOVUK)
    # The `;` form and the list form are the same layouts.
    same = extract_git_history(govuk, layout=";".join(GOVUK)).deploy_records
    assert same["deploy_id"].tolist() == deploys["deploy_id"].tolist()


def test_one_component_from_two_layouts_is_keyed_by_file(tmp_path: Path):
    repo = tmp_path / "r"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _commit(repo, 0, "one", {"svc/web/values.yaml": "a: 1\n", "svc/web/extra.json": '{"b": 2}'})
    layouts = ["svc/{nickname}/values.yaml", "svc/{nickname}/*.json"]
    extraction = extract_git_history(repo, layout=layouts)
    (config,) = extraction.config_snapshots["config_json"]
    assert json.loads(config) == {"values.yaml": {"a": 1}, "extra.json": {"b": 2}}
    folder = corpus_from_folder(repo, layouts)
    assert folder.configs["component"].tolist() == ["svc/web"]
    assert set(folder.fields[0]) == {"values.yaml.a", "extra.json.b"}


def test_folder_corpus_agrees_with_the_git_source(govuk: Path):
    corpus = corpus_from_folder(govuk, GOVUK)
    configs = corpus.configs
    got = sorted(zip(configs["component"], configs["environment"], strict=True))
    deploys = extract_git_history(govuk, layout=GOVUK).deploy_records
    assert got == sorted(set(zip(deploys["component"], deploys["environment"], strict=True)))


def test_state_is_keyed_by_repository_and_every_layout(govuk: Path, tmp_path: Path):
    state_dir = tmp_path / "state"

    def read(layout) -> GitSource:
        source = GitSource(govuk, layout, state_dir=state_dir)
        source.raw_tables(source.batch_keys(), pd_horizon())
        return source

    one = read(GOVUK)
    files = sorted(state_dir.glob("git-*.pkl"))
    assert len(files) == 1
    kept = pickle.loads(files[0].read_bytes())["extraction"]
    assert kept.state.layout == ";".join(GOVUK)
    # The same layouts spelt with `;` find the same state; another order is another state.
    assert read(";".join(GOVUK))._state_file() == one._state_file()
    other = read(list(reversed(GOVUK)))
    assert other._state_file() != one._state_file()
    assert len(list(state_dir.glob("git-*.pkl"))) == 2


def pd_horizon():
    import pandas as pd

    return pd.Timedelta(days=7)


def test_every_command_takes_several_layouts():
    parser = build_parser()
    for argv in (
        ["backtest", "--repo", "."],
        ["score", "--repo", "."],
        ["suggest", "--repo", "."],
        ["run", "--source", "git:."],
    ):
        default = parser.parse_args(argv)
        assert default.layout == ["iac/{env}/{component_type}/{nickname}/config.json"]
        args = parser.parse_args([*argv, "--layout", IMAGE_TAGS, "--layout", f"{ENV_VALUES};{BASE_VALUES}"])
        assert Layouts.of(args.layout).patterns == tuple(GOVUK)


def test_a_bad_layout_is_refused_before_any_work(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["backtest", "--repo", ".", "--layout", "charts/{name}/values.yaml"])
    assert exit_info.value.code == 2
    assert "unknown placeholder {name}" in capsys.readouterr().err


def test_environment_variable_takes_several_layouts(monkeypatch):
    from karma_pipelines.definitions import source_from_environment

    monkeypatch.setenv("KARMA_GIT_LAYOUT", ";".join(GOVUK))
    monkeypatch.setenv("KARMA_SOURCE_KIND", "git")
    resource = source_from_environment()
    assert Layouts.of(resource.layout).patterns == tuple(GOVUK)


def test_coverage_counts_commits_and_names_what_is_left_out(govuk: Path):
    # Without the templates layout: the template's two commits touch a config-looking file left out.
    extraction = extract_git_history(govuk, layout=GOVUK)
    coverage = extraction.state.coverage
    report = coverage.report()
    assert report["commits"] == 6
    # README.md is not config; every other commit touches a matched or a config-looking file.
    assert report["config_commits"] == 5 and report["covered_commits"] == 4
    assert report["uncovered_commits"] == 1  # "Template": only the left-out template
    assert report["left_out_commits"] == 2  # the initial commit also added it
    assert report["left_out_files"] == 1
    assert report["left_out_examples"] == ["charts/generic-app/templates/deployment.yaml"]
    per_layout = {row["layout"]: (row["commits"], row["files"]) for row in report["layouts"]}
    assert per_layout == {IMAGE_TAGS: (2, 2), ENV_VALUES: (2, 3), BASE_VALUES: (2, 1)}
    warning = coverage.warning()
    assert (
        "1 file(s) that look like config" in warning
        and "charts/generic-app/templates/deployment.yaml" in warning
    )
    assert "covered: 4 of 5 config-touching commits" in warning
    # With a layout for templates nothing is left out, and no warning.
    full = extract_git_history(govuk, layout=[*GOVUK, TEMPLATES]).state.coverage
    assert full.report()["covered_commits"] == 5 and full.report()["left_out_files"] == 0
    assert full.warning() is None
    deploys = extract_git_history(govuk, layout=[*GOVUK, TEMPLATES]).deploy_records
    assert set(deploys.loc[deploys["message"] == "Template", "component"]) == {"charts/generic-app"}


def test_coverage_carries_over_an_incremental_run(govuk: Path):
    first = extract_git_history(govuk, layout=GOVUK, ref="HEAD~2")
    assert first.state.coverage.report()["commits"] == 4
    _commit(
        govuk, 6, "Another template change", {"charts/generic-app/templates/deployment.yaml": "kind: X\n"}
    )
    later = extract_git_history(govuk, layout=GOVUK, previous=first)
    assert not later.full_reread
    report = later.state.coverage.report()
    assert (report["commits"], report["config_commits"], report["uncovered_commits"]) == (7, 6, 2)
    assert first.state.coverage.report()["commits"] == 4  # the previous extraction is unchanged
    assert report == extract_git_history(govuk, layout=GOVUK).state.coverage.report()


def test_backtest_json_has_coverage_and_stderr_warns(govuk: Path, tmp_path: Path, capsys):
    from karma_pipelines.apps.reading import coverage_report

    source = GitSource(govuk, GOVUK)
    source.raw_tables(source.batch_keys(), pd_horizon())
    report = coverage_report(source, "backtest")
    assert report["left_out_files"] == 1 and report["covered_share"] == 4 / 5
    err = capsys.readouterr().err
    assert err.startswith("karma-pipelines backtest: warning: the layouts leave out 1 file(s)")
    assert json.loads(json.dumps(report)) == report


def test_gerrit_acl_files_parse_as_git_config(tmp_path: Path):
    """openstack/project-config's `gerrit/acls/<ns>/<project>.config`: git-config (INI) sections,
    a key given several times is a list of its values."""
    repo = tmp_path / "acls"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    acl = (
        '[access "refs/heads/*"]\n'
        "abandon = group nova-core\n"
        "label-Code-Review = -2..+2 group nova-core\n"
        "label-Code-Review = -1..+1 group Registered Users\n"
        "\n# comment\n[receive]\nrequireChangeId = true\n"
    )
    _commit(repo, 0, "acl", {"gerrit/acls/openstack/nova.config": acl})
    _commit(repo, 1, "tighten", {"gerrit/acls/openstack/nova.config": acl.replace("-1..+1", "-1..+0")})
    extraction = extract_git_history(repo, layout="gerrit/acls/{component_type}/{nickname}.config")
    assert extraction.quarantined.empty
    deploys = extraction.deploy_records
    assert deploys["component"].tolist() == ["openstack/nova", "openstack/nova"]
    assert deploys["fields_changed"].iloc[1] == ['access "refs/heads/*".label-Code-Review']
    first = json.loads(extraction.config_snapshots["config_json"].iloc[0])
    assert first['access "refs/heads/*"']["label-Code-Review"] == [
        "-2..+2 group nova-core",
        "-1..+1 group Registered Users",
    ]
    assert first["receive"] == {"requireChangeId": "true"}


def test_source_records_metadata_carries_the_coverage(govuk: Path):
    import dagster as dg

    from karma_pipelines.defs.extract import _coverage_metadata

    source = GitSource(govuk, GOVUK)
    source.raw_tables(source.batch_keys(), pd_horizon())
    with dg.build_asset_context() as context:
        metadata = _coverage_metadata(context, source.coverage)
    assert metadata["config_commits"] == 5 and metadata["covered_commits"] == 4
    assert metadata["covered_share"].value == pytest.approx(0.8)
    assert metadata["left_out_files"] == 1
    assert metadata["left_out_examples"].data == ["charts/generic-app/templates/deployment.yaml"]
    assert "charts/{nickname}/values-{env}.yaml" in metadata["layouts"].md_str
    assert "1 file(s) that look like config" in metadata["coverage_warning"]
    with dg.build_asset_context() as context:
        assert _coverage_metadata(context, None) == {}
