"""The Kubernetes manifests of deploy/k8s as kustomize renders the base and each overlay: valid
against the Kubernetes schemas, and consistent with the code, the settings and the Dagster
instance they run."""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import click
import kubernetes_validate
import pytest
import yaml
from dagster._cli import cli as dagster_cli
from dagster_k8s.utils import get_common_labels
from pydantic import SecretStr

from cli.main import build_parser
from devstack.kustomize import kustomize_build
from pipelines.executors import MEDIA_QUEUES
from reelflow.settings import PROJECT_ROOT, Settings

Doc = dict[str, Any]

DEPLOY = PROJECT_ROOT / "deploy"
K8S = DEPLOY / "k8s"
TARGETS = {
    "base": K8S / "base",
    "staging": K8S / "overlays" / "staging",
    "prod": K8S / "overlays" / "prod",
}
OVERLAYS = ("staging", "prod")
KUBERNETES_VERSION = "1.30"
# KEDA's custom resources: kubernetes-validate ships no schema for them.
KEDA_KINDS = {("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication")}
NAMESPACE = "reelflow"
SECRET = "reelflow-secrets"
CONFIG = "reelflow-config"
INSTANCE = "dagster-instance"
SECRET_EXAMPLE = K8S / "secrets.env.example"
PLACEHOLDER = "change-me"
IMAGE = "ghcr.io/reelflow/reelflow"
# Each environment's release tag after the image's Dockerfile target: `api-0.1.0`.
RELEASE_TAG = {"staging": r"staging", "prod": r"\d+\.\d+\.\d+"}
# Replicas of the API, fewest and most.
API_REPLICAS = {"base": (2, 10), "staging": (1, 3), "prod": (3, 20)}
ENV_PREFIX = str(Settings.model_config.get("env_prefix"))
# boto3's names for settings that Dagster's S3 compute log manager reads (deploy/dagster.yaml).
MIRRORS = {
    "AWS_DEFAULT_REGION": "REELFLOW_S3_REGION",
    "AWS_ACCESS_KEY_ID": "REELFLOW_S3_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY": "REELFLOW_S3_SECRET_ACCESS_KEY",
}
ENDPOINTS = (
    "postgres_dsn",
    "dagster_postgres_url",
    "broker_url",
    "redis_url",
    "s3_endpoint_url",
    "cdn_base_url",
    "api_base_url",
    "dagster_url",
)
LOOPBACK = re.compile(r"^(localhost|127\.[\d.]+|::1|0\.0\.0\.0)$")
WORKLOAD_KINDS = ("Deployment", "StatefulSet")
CLUSTER_KINDS = {"Namespace", "ClusterRole", "ClusterRoleBinding"}


@pytest.fixture(scope="module")
def rendered(settings: Settings) -> dict[str, list[Doc]]:
    """Each target's documents, rendered once by the bootstrap's kustomize."""
    return {
        name: [doc for doc in yaml.safe_load_all(kustomize_build(settings, path)) if doc]
        for name, path in TARGETS.items()
    }


def every(docs: list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [doc for doc in every(docs, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name} rendered {len(found)} times"
    return found[0]


def workloads(docs: list[Doc]) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] in WORKLOAD_KINDS]


def pod_spec(workload: Doc) -> Doc:
    spec: Doc = workload["spec"]["template"]["spec"]
    return spec


def pod_labels(workload: Doc) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def containers(workload: Doc) -> list[Doc]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def container(workload: Doc) -> Doc:
    (only,) = pod_spec(workload)["containers"]
    return only


def ports(workload: Doc) -> dict[str | int, int]:
    """The workload's container ports, by name and by number."""
    found: dict[str | int, int] = {}
    for each in containers(workload):
        for port in each.get("ports", []):
            found[port["containerPort"]] = port["containerPort"]
            if "name" in port:
                found[port["name"]] = port["containerPort"]
    return found


def env_of(workload: Doc) -> dict[str, str]:
    return {var["name"]: var.get("value", "") for var in container(workload).get("env", [])}


def mounts_of(workload: Doc) -> dict[str, tuple[str, str | None]]:
    """Mount path -> (the ConfigMap mounted there, its key), for the ConfigMap volumes."""
    maps = {
        volume["name"]: volume["configMap"]["name"]
        for volume in pod_spec(workload).get("volumes", [])
        if "configMap" in volume
    }
    return {
        mount["mountPath"]: (maps[mount["name"]], mount.get("subPath"))
        for mount in container(workload).get("volumeMounts", [])
        if mount["name"] in maps
    }


def workload_running(docs: list[Doc], *command: str) -> Doc:
    """The one workload whose container command starts with `command`."""
    (found,) = [
        w for w in workloads(docs) if container(w).get("command", [])[: len(command)] == [*command]
    ]
    return found


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a Kubernetes label selector selects these labels."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        if operator == "In":
            matched = key in labels and labels[key] in expression["values"]
        elif operator == "NotIn":
            matched = labels.get(key) not in expression["values"]
        else:
            matched = (key in labels) is (operator == "Exists")
        if not matched:
            return False
    return True


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair of a document, at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def secret_references(doc: Doc) -> Iterator[tuple[str, str | None]]:
    """(Secret name, key or None for all keys) of each reference to a Secret in `doc`."""
    for key, value in walk(doc):
        if key == "secretKeyRef":
            yield value["name"], value["key"]
        elif key == "secretRef":
            yield value["name"], None
        elif key == "secretTargetRef":
            yield from ((ref["name"], ref["key"]) for ref in value)
        elif key == "secret" and isinstance(value, dict):
            yield value["secretName"], None


def secret_example() -> dict[str, str]:
    """The keys of reelflow-secrets with their example values, as `kubectl create secret
    --from-env-file` reads them."""
    lines = SECRET_EXAMPLE.read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {key: value for key, value in pairs}


def setting_names() -> set[str]:
    return {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}


def quantity(text: str | int) -> float:
    match = re.fullmatch(r"([\d.]+)([A-Za-z]*)", str(text))
    assert match is not None, text
    number, unit = match.groups()
    units = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    return float(number) * units[unit]


@dataclass(frozen=True)
class Source:
    """Where a connection comes from: a pod of a namespace, or (no namespace) outside the
    cluster."""

    namespace: str | None
    labels: Mapping[str, str] = field(default_factory=dict)


OUTSIDE = Source(None)


def admits(docs: list[Doc], target: Doc, port: int, source: Source) -> bool:
    """Whether the namespace's NetworkPolicies let `source` reach `target`'s pods on `port`."""
    named = ports(target)
    policies = [
        policy["spec"]
        for policy in every(docs, "NetworkPolicy")
        if "Ingress" in policy["spec"].get("policyTypes", ["Ingress"])
        and selects(policy["spec"]["podSelector"], pod_labels(target))
    ]
    if not policies:
        return True
    return any(
        _rule_admits(rule, named, port, source)
        for policy in policies
        for rule in policy.get("ingress", [])
    )


def _rule_admits(rule: Doc, named: dict[str | int, int], port: int, source: Source) -> bool:
    if rule.get("ports") and not any(
        "port" not in allowed or named.get(allowed["port"]) == port for allowed in rule["ports"]
    ):
        return False
    peers = rule.get("from") or []
    return not peers or any(_peer_admits(peer, source) for peer in peers)


def _peer_admits(peer: Doc, source: Source) -> bool:
    if "ipBlock" in peer:
        return source.namespace is None
    if source.namespace is None:
        return False
    if "namespaceSelector" in peer:
        namespace = {"kubernetes.io/metadata.name": source.namespace}
        in_namespace = selects(peer["namespaceSelector"], namespace)
    else:
        in_namespace = source.namespace == NAMESPACE
    return in_namespace and selects(peer.get("podSelector", {}), source.labels)


def pod_of(workload: Doc) -> Source:
    return Source(NAMESPACE, pod_labels(workload))


def validation_errors(docs: list[Doc]) -> list[str]:
    errors = []
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            if (doc["apiVersion"], doc["kind"]) not in KEDA_KINDS:
                errors.append(f"{name}: no schema for {doc['apiVersion']}")
        except kubernetes_validate.ValidationError as error:
            path = ".".join(map(str, error.path))
            errors.append(f"{name}: {path}: {error.message}")
    return errors


def instance() -> Doc:
    loaded: Doc = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    return loaded


@pytest.mark.parametrize("target", TARGETS)
def test_every_document_is_valid_for_kubernetes(
    target: str, rendered: dict[str, list[Doc]]
) -> None:
    assert validation_errors(rendered[target]) == []


def test_the_validation_rejects_a_misspelled_field(rendered: dict[str, list[Doc]]) -> None:
    api = one(rendered["base"], "Deployment", "reelflow-api")
    misspelled = {**api, "spec": {**api["spec"], "replica": 2}}
    assert validation_errors([api]) == []
    assert validation_errors([misspelled]) == [
        "Deployment/reelflow-api: spec: Additional properties are not allowed "
        "('replica' was unexpected)"
    ]


@pytest.mark.parametrize("target", TARGETS)
def test_everything_is_in_the_namespace(target: str, rendered: dict[str, list[Doc]]) -> None:
    docs = rendered[target]
    assert [ns["metadata"]["name"] for ns in every(docs, "Namespace")] == [NAMESPACE]
    for doc in docs:
        if doc["kind"] not in CLUSTER_KINDS:
            assert doc["metadata"].get("namespace") == NAMESPACE, doc["metadata"]["name"]


@pytest.mark.parametrize("target", TARGETS)
def test_every_container_has_requests_and_limits(
    target: str, rendered: dict[str, list[Doc]]
) -> None:
    for workload in workloads(rendered[target]):
        for each in containers(workload):
            resources = each.get("resources", {})
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), (
                    f"{workload['metadata']['name']}/{each['name']} {bound}"
                )


@pytest.mark.parametrize("target", TARGETS)
def test_every_pod_runs_as_non_root_without_privileges(
    target: str, rendered: dict[str, list[Doc]]
) -> None:
    for workload in workloads(rendered[target]):
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] > 0
        for each in containers(workload):
            assert each["securityContext"]["allowPrivilegeEscalation"] is False
            assert each["securityContext"]["capabilities"]["drop"] == ["ALL"]
        # Only the pods that launch runs talk to the Kubernetes API.
        if "serviceAccountName" not in spec:
            assert spec["automountServiceAccountToken"] is False


@pytest.mark.parametrize("target", TARGETS)
def test_secrets_are_only_referenced_and_by_keys_the_secret_has(
    target: str, rendered: dict[str, list[Doc]]
) -> None:
    docs = rendered[target]
    assert every(docs, "Secret") == []
    references = [ref for doc in docs for ref in secret_references(doc)]
    assert {name for name, _ in references} == {SECRET}
    assert {key for _, key in references if key} <= set(secret_example())


def test_the_secret_example_holds_settings_their_mirrors_and_the_servers_passwords(
    rendered: dict[str, list[Doc]],
) -> None:
    keys = set(secret_example())
    referenced = {key for doc in rendered["base"] for _, key in secret_references(doc) if key}
    for key in keys:
        assert key in setting_names() or key in referenced or MIRRORS.get(key) in keys, key
    assert all(value.count(PLACEHOLDER) == 1 for value in secret_example().values())


@pytest.mark.parametrize("target", TARGETS)
def test_the_config_map_holds_known_settings_that_are_not_secret(
    target: str, rendered: dict[str, list[Doc]]
) -> None:
    data: dict[str, str] = one(rendered[target], "ConfigMap", CONFIG)["data"]
    secret_keys = set(secret_example())
    for key, value in data.items():
        if key in MIRRORS:
            assert value == data[MIRRORS[key]], key
            continue
        assert key in setting_names(), key
        assert key not in secret_keys, key
        annotation = str(Settings.model_fields[key.removeprefix(ENV_PREFIX).lower()].annotation)
        assert "SecretStr" not in annotation, key
        assert urlsplit(value).password is None, key


@pytest.mark.parametrize("target", TARGETS)
def test_prod_starts_with_the_config_map_and_the_secret(
    target: str, rendered: dict[str, list[Doc]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    # Real secrets: long, random, and not any placeholder that prod refuses.
    value = secrets.token_urlsafe(48)
    environment = {
        **one(rendered[target], "ConfigMap", CONFIG)["data"],
        **{key: text.replace(PLACEHOLDER, value) for key, text in secret_example().items()},
    }
    for name, text in environment.items():
        monkeypatch.setenv(name, text)

    settings = Settings()

    assert settings.deployment == "prod"
    assert settings.media_executor == "celery"
    assert settings.object_store == "s3"
    for name in ENDPOINTS:
        endpoint = getattr(settings, name)
        url = endpoint.get_secret_value() if isinstance(endpoint, SecretStr) else endpoint
        assert not LOOPBACK.match(urlsplit(url).hostname or ""), name
    for host in (*settings.cassandra_contact_points, settings.smtp_host or ""):
        assert host and not LOOPBACK.match(host)


@pytest.mark.parametrize("target", TARGETS)
def test_the_api_probes_its_health_routes_on_its_port(
    target: str, rendered: dict[str, list[Doc]]
) -> None:
    api = one(rendered[target], "Deployment", "reelflow-api")
    named, main = ports(api), container(api)
    assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
    args = build_parser().parse_args(main["command"][1:])
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert named[main[probe]["httpGet"]["port"]] == args.port == 8000


@pytest.mark.parametrize("target", TARGETS)
def test_reelflow_commands_parse_and_servers_listen_on_the_pods_address(
    target: str, rendered: dict[str, list[Doc]]
) -> None:
    parser = build_parser()
    commands = 0
    for workload in workloads(rendered[target]):
        command = container(workload).get("command", [])
        if command[:1] != ["reelflow"]:
            continue
        commands += 1
        args = parser.parse_args(command[1:])
        if getattr(args, "port", None) is not None:
            assert args.port in ports(workload).values()
            assert args.host == "0.0.0.0"
    assert commands == 3


@pytest.mark.parametrize("target", TARGETS)
def test_selectors_select_their_pods_and_a_service_reaches_every_port(
    target: str, rendered: dict[str, list[Doc]]
) -> None:
    docs = rendered[target]
    services = [s for s in every(docs, "Service") if s["spec"].get("type") != "ExternalName"]
    for workload in workloads(docs):
        labels = pod_labels(workload)
        assert selects(workload["spec"]["selector"], labels)
        named = ports(workload)
        if not named:
            continue
        serving = [s for s in services if selects({"matchLabels": s["spec"]["selector"]}, labels)]
        assert serving, f"no Service selects {workload['metadata']['name']}"
        for service in serving:
            for port in service["spec"]["ports"]:
                assert port["targetPort"] in named
    for service in services:
        selected = [
            w
            for w in workloads(docs)
            if selects({"matchLabels": service["spec"]["selector"]}, pod_labels(w))
        ]
        assert len(selected) == 1, service["metadata"]["name"]


@pytest.mark.parametrize("target", TARGETS)
def test_the_api_scales_on_cpu_and_keeps_a_pod_through_disruptions(
    target: str, rendered: dict[str, list[Doc]]
) -> None:
    docs = rendered[target]
    api = one(docs, "Deployment", "reelflow-api")
    (hpa,) = every(docs, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "reelflow-api",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == API_REPLICAS[target]
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    # A replica count in the Deployment would undo the autoscaler's at each apply.
    assert "replicas" not in api["spec"]
    (budget,) = every(docs, "PodDisruptionBudget")
    assert selects(budget["spec"]["selector"], pod_labels(api))
    # A count of pods that may go, not that must stay: a single pod still lets a node drain.
    assert budget["spec"]["maxUnavailable"] == 1
    assert "minAvailable" not in budget["spec"]


@pytest.mark.parametrize("target", TARGETS)
def test_the_media_workers_scale_on_a_queue_they_take(
    target: str, rendered: dict[str, list[Doc]]
) -> None:
    docs = rendered[target]
    (scaled,) = every(docs, "ScaledObject")
    worker = workload_running(docs, "reelflow", "worker")
    assert scaled["spec"]["scaleTargetRef"]["name"] == worker["metadata"]["name"]
    assert scaled["spec"]["scaleTargetRef"].get("kind", "Deployment") == worker["kind"]
    assert "replicas" not in worker["spec"]
    assert 1 <= scaled["spec"]["minReplicaCount"] < scaled["spec"]["maxReplicaCount"]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "rabbitmq"
    queue = trigger["metadata"]["queueName"]
    assert queue in MEDIA_QUEUES
    taken = build_parser().parse_args(container(worker)["command"][1:]).queues or MEDIA_QUEUES
    assert queue in taken
    auth = one(docs, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "host", "name": SECRET, "key": f"{ENV_PREFIX}BROKER_URL"}
    ]


@pytest.mark.parametrize("target", TARGETS)
def test_only_the_api_is_reachable_from_outside(
    target: str, rendered: dict[str, list[Doc]]
) -> None:
    docs = rendered[target]
    deny_all = [
        p
        for p in every(docs, "NetworkPolicy")
        if p["spec"]["podSelector"] == {} and not p["spec"].get("ingress")
    ]
    assert deny_all and deny_all[0]["spec"]["policyTypes"] == ["Ingress"]
    elsewhere = Source("default")
    for workload in workloads(docs):
        for port in set(ports(workload).values()):
            name = workload["metadata"]["name"]
            from_outside = admits(docs, workload, port, OUTSIDE)
            from_elsewhere = admits(docs, workload, port, elsewhere)
            assert from_outside is from_elsewhere is (name == "reelflow-api"), (name, port)
    for ingress in every(docs, "Ingress"):
        backends = [value for key, value in walk(ingress["spec"]) if key == "service"]
        assert {backend["name"] for backend in backends} == {"reelflow-api"}


@pytest.mark.parametrize("target", TARGETS)
def test_the_connections_the_services_need_are_allowed(
    target: str, rendered: dict[str, list[Doc]]
) -> None:
    docs = rendered[target]
    api = one(docs, "Deployment", "reelflow-api")
    webserver = one(docs, "Deployment", "dagster-webserver")
    daemon = one(docs, "Deployment", "dagster-daemon")
    code = one(docs, "Deployment", "reelflow-code")
    worker = workload_running(docs, "reelflow", "worker")
    exporter = workload_running(docs, "reelflow", "pipeline-metrics")
    broker = one(docs, "StatefulSet", "rabbitmq")
    cache = one(docs, "Deployment", "redis")
    launcher = instance()["run_launcher"]["config"]
    run_worker = Source(
        NAMESPACE,
        {
            **get_common_labels(),
            "app.kubernetes.io/component": "run_worker",
            "dagster/run-id": "f00d",
            **launcher.get("labels", {}),
        },
    )
    prometheus = Source("monitoring")
    keda = Source("keda")
    allowed = [
        (pod_of(webserver), code, 4000),
        (pod_of(daemon), code, 4000),
        (pod_of(api), webserver, 3000),
        (pod_of(worker), broker, 5672),
        (run_worker, broker, 5672),
        (pod_of(exporter), broker, 5672),
        (keda, broker, 5672),
        (pod_of(api), cache, 6379),
        (prometheus, api, 8000),
        (prometheus, exporter, 9400),
    ]
    for source, target_workload, port in allowed:
        name = target_workload["metadata"]["name"]
        assert port in ports(target_workload).values(), (name, port)
        reached = admits(docs, target_workload, port, source)
        assert reached, f"{source} cannot reach {name}:{port}"
    refused = [
        (pod_of(api), broker, 5672),
        (pod_of(worker), cache, 6379),
        (pod_of(api), code, 4000),
        (prometheus, broker, 5672),
    ]
    for source, target_workload, port in refused:
        reached = admits(docs, target_workload, port, source)
        assert not reached, f"{source} reaches {target_workload['metadata']['name']}:{port}"


@pytest.mark.parametrize("target", TARGETS)
def test_the_dagster_instance_is_deploy_dagster_yaml_and_workspace_yaml(
    target: str, rendered: dict[str, list[Doc]]
) -> None:
    data = one(rendered[target], "ConfigMap", INSTANCE)["data"]
    assert data == {
        "dagster.yaml": (DEPLOY / "dagster.yaml").read_text(),
        "workspace.yaml": (DEPLOY / "workspace.yaml").read_text(),
    }


@pytest.mark.parametrize("target", TARGETS)
def test_the_run_launcher_finds_what_the_instance_names(
    target: str, rendered: dict[str, list[Doc]]
) -> None:
    docs = rendered[target]
    launcher = instance()["run_launcher"]
    assert launcher["class"] == "K8sRunLauncher"
    config = launcher["config"]
    assert config["job_namespace"] == NAMESPACE
    one(docs, "ConfigMap", config["instance_config_map"])
    for name in config["env_config_maps"]:
        one(docs, "ConfigMap", name)
    assert config["env_secrets"] == [SECRET]
    account = config["service_account_name"]
    one(docs, "ServiceAccount", account)
    rules = [
        rule
        for binding in every(docs, "RoleBinding")
        if {"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}
        in binding["subjects"]
        for rule in one(docs, binding["roleRef"]["kind"], binding["roleRef"]["name"])["rules"]
    ]

    def allowed(group: str, resource: str, verb: str) -> bool:
        return any(
            group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]
            for rule in rules
        )

    for verb in ("create", "get", "list", "delete"):
        assert allowed("batch", "jobs", verb)
    for resource in ("pods", "pods/log"):
        assert allowed("", resource, "get") and allowed("", resource, "list")
    home = config["dagster_home"]
    for name in ("dagster-daemon", "dagster-webserver", "reelflow-code"):
        workload = one(docs, "Deployment", name)
        assert env_of(workload)["DAGSTER_HOME"] == home
        assert mounts_of(workload)[f"{home}/dagster.yaml"] == (INSTANCE, "dagster.yaml")
    for name in ("dagster-daemon", "dagster-webserver"):
        assert pod_spec(one(docs, "Deployment", name))["serviceAccountName"] == account


def dagster_params(argv: list[str]) -> dict[str, Any]:
    """The parameters of a `dagster ...` command line, parsed as the dagster CLI would."""
    command: click.Command = dagster_cli
    words = argv[1:]
    while isinstance(command, click.Group):
        name, *words = words
        found = command.get_command(click.Context(command), name)
        assert found is not None, name
        command = found
    return command.make_context(argv[0], words).params


@pytest.mark.parametrize("target", TARGETS)
def test_webserver_and_daemon_load_the_code_server_the_workspace_names(
    target: str, rendered: dict[str, list[Doc]]
) -> None:
    docs = rendered[target]
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    (location,) = workspace["load_from"]
    server = location["grpc_server"]
    service = one(docs, "Service", server["host"])
    code = one(docs, "Deployment", "reelflow-code")
    assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels(code))
    (port,) = service["spec"]["ports"]
    assert port["port"] == server["port"] == ports(code)[port["targetPort"]]
    params = dagster_params(container(code)["command"])
    assert params["port"] == server["port"]
    assert params["location_name"] == server["location_name"]
    assert importlib.util.find_spec(params["module_name"]) is not None
    for name in ("dagster-webserver", "dagster-daemon"):
        workload = one(docs, "Deployment", name)
        command = container(workload)["command"]
        path = command[command.index("-w") + 1]
        assert mounts_of(workload)[path] == (INSTANCE, "workspace.yaml")


@pytest.mark.parametrize("target", OVERLAYS)
def test_overlay_images_are_release_tags_of_each_target(
    target: str, rendered: dict[str, list[Doc]]
) -> None:
    docs = rendered[target]
    for workload in workloads(docs):
        main = container(workload)
        name, _, tag = main["image"].rpartition(":")
        assert name and tag and tag != "latest", main["image"]
        if name != IMAGE:
            assert re.fullmatch(r"[\d.]+(-[a-z]+)?", tag), main["image"]
            continue
        command = main["command"]
        served = command[0] == "reelflow" and command[1] in ("api", "worker")
        image_target = command[1] if served else "dagster"
        assert re.fullmatch(f"{image_target}-{RELEASE_TAG[target]}", tag), main["image"]
        # A tag that moves with each build is pulled again, or a node runs the one it has.
        if not re.search(RELEASE_TAG["prod"] + "$", tag):
            assert main["imagePullPolicy"] == "Always", main["image"]
    code = one(docs, "Deployment", "reelflow-code")
    assert env_of(code)["DAGSTER_CURRENT_IMAGE"] == container(code)["image"]


def test_prod_pods_are_larger_than_stagings(rendered: dict[str, list[Doc]]) -> None:
    for command in (("reelflow", "api"), ("reelflow", "worker")):
        staging, prod = (
            container(workload_running(rendered[env], *command))["resources"]["limits"]
            for env in OVERLAYS
        )
        for resource in ("cpu", "memory"):
            assert quantity(prod[resource]) > quantity(staging[resource])
