"""The suggester's corpus: latest configs from snapshots, plain folders, twins and graph neighbours."""

import json

import pandas as pd
import yaml

from karma_pipelines.records.from_events import snapshot_row
from karma_pipelines.suggester.corpus import corpus_from_folder, corpus_from_snapshots, service_stem


def _snap(deploy_id, day, component, env, config):
    return snapshot_row(deploy_id, pd.Timestamp(f"2026-01-{day:02d}", tz="UTC"), component, env, config)


def test_latest_config_per_component_as_of_a_date_and_deleted_ones_dropped():
    rows = [
        _snap("d1", 1, "vpc/net-dev", "dev", {"cidr": "10.0.0.0/16"}),
        _snap("d2", 5, "vpc/net-dev", "dev", {"cidr": "10.0.0.0/16", "az_count": 2}),
        _snap("d3", 2, "ecs-cluster/c-dev", "dev", {"cluster_name": "c", "vpc_nickname": "net-dev"}),
        _snap("d4", 3, "s3-bucket/gone-dev", "dev", {"bucket_name": "b"}),
        _snap("d5", 4, "s3-bucket/gone-dev", "dev", {}),  # deleted
    ]
    snaps = pd.DataFrame(rows)
    corpus = corpus_from_snapshots(snaps)
    assert sorted(corpus.configs["component"]) == ["ecs-cluster/c-dev", "vpc/net-dev"]
    vpc = corpus.row_of("vpc/net-dev")[0]
    assert corpus.fields[vpc] == ("az_count", "cidr")
    earlier = corpus_from_snapshots(snaps, as_of="2026-01-03")
    assert earlier.fields[earlier.row_of("vpc/net-dev")[0]] == ("cidr",)
    assert "s3-bucket/gone-dev" in set(earlier.configs["component"])
    # Dependency-graph neighbours become context tokens on both ends.
    assert set(corpus.configs.loc[vpc, "context"]) == {"@env:dev", "@down:ecs-cluster"}
    cluster = corpus.row_of("ecs-cluster/c-dev")[0]
    assert set(corpus.configs.loc[cluster, "context"]) == {"@env:dev", "@up:vpc"}


def test_folder_of_json_and_yaml_configs_with_a_layout(tmp_path):
    def put(rel, text):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    put("iac/dev/vpc/net-dev/config.json", json.dumps({"cidr": "10.0.0.0/16", "tags": {"Owner": "me"}}))
    put("iac/prod/vpc/net-prod/config.yaml", yaml.safe_dump({"cidr": "10.1.0.0/16", "az_count": 3}))
    put("iac/prod/vpc/broken/config.json", "{not json")
    put("iac/prod/vpc/listy/config.json", "[1, 2]")
    put("iac/README.md", "not a config")
    corpus = corpus_from_folder(tmp_path, "iac/{env}/{component_type}/{nickname}/config.*")
    assert sorted(corpus.configs["component"]) == ["vpc/net-dev", "vpc/net-prod"]
    assert sorted(corpus.skipped) == ["iac/prod/vpc/broken/config.json", "iac/prod/vpc/listy/config.json"]
    dev = corpus.row_of("vpc/net-dev")[0]
    # A wildcard in the file name keys a config by file name, as the Git source does with the same layout.
    assert corpus.fields[dev] == ("config.json.cidr", "config.json.tags.Owner")
    assert corpus.configs.loc[dev, "environment"] == "dev"
    plain = corpus_from_folder(tmp_path, "iac/{env}/{component_type}/{nickname}/config.json")
    assert plain.fields[plain.row_of("vpc/net-dev")[0]] == ("cidr", "tags.Owner")
    # The two are twins: the same service in two environments.
    assert corpus.configs["group"].nunique() == 1
    # Without {env} or {component_type}: `default`, and the folder above the nickname.
    flat = corpus_from_folder(tmp_path / "iac" / "dev", "{nickname}/config.json")
    assert flat.configs["component"].tolist() == []  # vpc/net-dev/config.json has two folders
    nested = corpus_from_folder(tmp_path / "iac" / "dev", "*/{nickname}/config.json")
    assert nested.configs[["component", "environment"]].values.tolist() == [["vpc/net-dev", "default"]]


def test_service_stem():
    assert service_stem("catalog-worker-dev", "dev") == "catalog-worker"
    assert service_stem("identity-web-prod-b", "prod") == "identity-web"
    assert service_stem("usekarma", "default") == "usekarma"
    assert service_stem("prod", "prod") == "prod"
