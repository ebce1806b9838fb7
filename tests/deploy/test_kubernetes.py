"""deploy/kubernetes/ agrees with the command line: the manifests are parsed (``yaml.safe_load_all``), their
container arguments are parsed by loadkit's own argparse parser, and every value that must be the same in
two places (ports, worker count, paths, names, labels, environment variables) is compared. Each check is
also run on a copy with one place changed, and must then complain: a port or a flag changed in only one
manifest cannot pass."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from helpers import ROOT

from loadkit import __version__
from loadkit.cli import _parser
from loadkit.errors import ConfigError
from loadkit.redact import is_secret_key
from loadkit.scenario import load_scenario

K8S = ROOT / "deploy" / "kubernetes"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
EXTRAS = ("results-reader.yaml",)  # manifests applied by hand, outside the kustomization
MASTER, WORKER, SERVICE = "loadkit-master", "loadkit-worker", "loadkit-master"


@dataclass
class Bundle:
    """What ``kubectl apply -k`` would read: the kustomization, its resources, the extras."""

    kustomization: dict
    resources: list[dict]
    extras: list[dict]

    def find(self, kind: str, name: str) -> dict:
        found = [d for d in self.resources if d.get("kind") == kind and d["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name} in the kustomization's resources, found {len(found)}"
        return found[0]

    def pod(self, job: str) -> dict:
        workload = next(d for d in self.resources if d.get("kind") in ("Job", "Deployment")
                        and d["metadata"]["name"] == job)
        return workload["spec"]["template"]

    def container(self, job: str) -> dict:
        containers = self.pod(job)["spec"]["containers"]
        assert len(containers) == 1, f"{job}: expected one container"
        return containers[0]


def _docs(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def _bundle() -> Bundle:
    (kust,) = _docs(K8S / "kustomization.yaml")
    resources = [d for name in kust["resources"] for d in _docs(K8S / name)]
    extras = [d for name in EXTRAS for d in _docs(K8S / name)]
    return Bundle(kust, resources, extras)


@pytest.fixture
def bundle() -> Bundle:
    return _bundle()


# --- reading the arguments -------------------------------------------------------------------------------

def _subparser(command: str):
    sub = next(a for a in _parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices[command]


def _parse(args: list[str]):
    """The container's arguments as loadkit parses them (the image's entrypoint is ``loadkit``);
    raises ConfigError on a flag the subcommand does not have."""
    return _parser().parse_args([str(a) for a in args])


def _flag(args: list[str], name: str) -> str | None:
    ns = _parse(args)
    value = getattr(ns, name)
    return None if value is None else str(value)


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


# --- the checks: each returns its problems, [] when the manifests agree -----------------------------------

def check_flags(b: Bundle) -> list[str]:
    """Every argument parses with loadkit's parser for the right subcommand, every --flag spelled in full
    (argparse would accept an abbreviation that a new flag can make ambiguous)."""
    problems = []
    for job, command in ((MASTER, "run"), (WORKER, "worker")):
        args = [str(a) for a in b.container(job).get("args", [])]
        if not args or args[0] != command:
            problems.append(f"{job}: expected `loadkit {command} ...`, got {args[:1]}")
            continue
        try:
            _parse(args)
        except ConfigError as exc:
            problems.append(f"{job}: loadkit refuses its arguments: {exc}")
            continue
        known = set(_subparser(command)._option_string_actions)
        problems += [f"{job}: {a} is not a `loadkit {command}` flag spelled in full"
                     for a in args if a.startswith("--") and a.split("=", 1)[0] not in known]
    if not problems:
        master, worker = _parse(b.container(MASTER)["args"]), _parse(b.container(WORKER)["args"])
        if master.set != worker.set:  # part of the identity the master checks: it would refuse the workers
            problems.append(f"--set differs: master {master.set}, workers {worker.set}")
        if master.host != worker.host:
            problems.append(f"--host differs: master {master.host}, workers {worker.host}")
        if master.scenario != worker.scenario:
            problems.append(f"scenario differs: master {master.scenario}, workers {worker.scenario}")
        if not master.expect_workers:
            problems.append("the master does not wait for workers (--expect-workers)")
    return problems


def check_ports(b: Bundle) -> list[str]:
    """Workers reach the master: worker --master → Service name and port → targetPort → the master's
    containerPort → its --master-bind."""
    problems = []
    service = b.find("Service", SERVICE)
    (port,) = service["spec"]["ports"]
    bind_host, bind_port = _host_port(_flag(b.container(MASTER)["args"], "master_bind") or "")
    if bind_host not in ("0.0.0.0", "::", "[::]"):
        problems.append(f"--master-bind {bind_host}: workers in other pods cannot reach an address other than all")
    master_ports = b.container(MASTER).get("ports", [])
    target = port.get("targetPort", port["port"])
    by_name = {p.get("name"): p["containerPort"] for p in master_ports}
    container_port = by_name.get(target) if isinstance(target, str) else target
    if container_port is None or container_port not in {p["containerPort"] for p in master_ports}:
        problems.append(f"Service targetPort {target!r} is none of the master's container ports {master_ports}")
    elif container_port != bind_port:
        problems.append(f"the master listens on {bind_port} (--master-bind) but its Service sends to {container_port}")
    host, worker_port = _host_port(_flag(b.container(WORKER)["args"], "master") or "")
    if host.split(".")[0] != service["metadata"]["name"]:
        problems.append(f"workers connect to {host}, the master's Service is {service['metadata']['name']}")
    if worker_port != port["port"]:
        problems.append(f"workers connect to port {worker_port}, the Service exposes {port['port']}")
    return problems


def check_workers(b: Bundle) -> list[str]:
    """The master waits for exactly as many workers as Kubernetes starts."""
    expected = int(_flag(b.container(MASTER)["args"], "expect_workers") or 0)
    workload = next(d for d in b.resources if d["metadata"]["name"] == WORKER)
    spec = workload["spec"]
    if workload["kind"] == "Deployment":
        counts = {"replicas": spec.get("replicas", 1)}
    else:
        counts = {"completions": spec.get("completions", 1), "parallelism": spec.get("parallelism", 1)}
    return [f"{WORKER} {key} is {n}, the master --expect-workers {expected}"
            for key, n in counts.items() if n != expected]


def _mount_of(pod: dict, container: dict, path: str) -> tuple[dict, dict] | None:
    """The volume mount holding ``path`` in the container, and its volume."""
    p = PurePosixPath(path)
    for m in container.get("volumeMounts", []):
        if p == PurePosixPath(m["mountPath"]) or PurePosixPath(m["mountPath"]) in p.parents:
            volume = next((v for v in pod["spec"].get("volumes", []) if v["name"] == m["name"]), None)
            return (m, volume) if volume is not None else None
    return None


def _generator(b: Bundle, section: str, name: str) -> dict | None:
    return next((g for g in b.kustomization.get(section, []) if g["name"] == name), None)


def _generator_files(gen: dict) -> dict[str, Path]:
    """key → file of a configMapGenerator's ``files`` (``key=path`` or ``path``)."""
    out = {}
    for item in gen.get("files", []):
        key, _, path = item.rpartition("=")
        out[key or Path(path).name] = K8S / path
    return out


def check_mounts(b: Bundle) -> list[str]:
    """The scenario the arguments name is the ConfigMap's key, mounted there in master and workers;
    the results go to the PersistentVolumeClaim of the kustomization (or an emptyDir)."""
    problems = []
    for job in (MASTER, WORKER):
        pod, container = b.pod(job), b.container(job)
        scenario = _flag(container["args"], "scenario") or ""
        found = _mount_of(pod, container, scenario)
        if found is None:
            problems.append(f"{job}: no volume is mounted at {scenario}")
            continue
        mount, volume = found
        cm = (volume.get("configMap") or {}).get("name")
        gen = _generator(b, "configMapGenerator", cm) if cm else None
        if gen is None:
            problems.append(f"{job}: {scenario} is on volume {volume['name']}, not on a ConfigMap of the kustomization")
            continue
        key = str(PurePosixPath(scenario).relative_to(mount["mountPath"]))
        if key not in _generator_files(gen):
            problems.append(f"{job}: {scenario} is key {key!r}, ConfigMap {cm} has {sorted(_generator_files(gen))}")
    master, pod = b.container(MASTER), b.pod(MASTER)
    for flag in ("out", "baselines"):
        path = _flag(master["args"], flag) or ""
        found = _mount_of(pod, master, path)
        if found is None:
            problems.append(f"master --{flag} {path} is on no volume: it would be lost with the pod")
            continue
        mount, volume = found
        if mount.get("readOnly"):
            problems.append(f"master --{flag} {path} is on a read-only mount")
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if claim is not None:
            problems += [p for p in [_claim_problem(b, claim)] if p]
        elif "emptyDir" not in volume:
            problems.append(f"master --{flag} {path} is on volume {volume['name']}, neither a claim nor an emptyDir")
    for extra in b.extras:
        for v in extra["spec"].get("volumes", []):
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                problems += [p for p in [_claim_problem(b, claim)] if p]
    return list(dict.fromkeys(problems))


def _claim_problem(b: Bundle, claim: str) -> str:
    names = [d["metadata"]["name"] for d in b.resources if d.get("kind") == "PersistentVolumeClaim"]
    return "" if claim in names else f"claim {claim} is not among the kustomization's PVCs {names}"


def _env_file(path: Path) -> dict[str, str]:
    """An env file of a generator; for the secret one, the committed ``.example`` beside it (the real one
    holds credentials and is not in git)."""
    if not path.is_file():
        path = path.with_name(path.name + ".example")
    pairs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def _generated(b: Bundle, section: str, name: str) -> dict[str, str] | None:
    gen = _generator(b, section, name)
    if gen is None:
        return None
    data = {}
    for item in gen.get("literals", []):
        key, _, value = item.partition("=")
        data[key] = value
    for env in gen.get("envs", []):
        data.update(_env_file(K8S / env))
    data.update({k: p.read_text(encoding="utf-8") for k, p in _generator_files(gen).items()})
    return data


def container_env(b: Bundle, job: str) -> tuple[dict[str, str], list[str]]:
    """The environment the container would get, and what it references that does not exist."""
    env, problems = {}, []
    container = b.container(job)
    for source in container.get("envFrom", []):
        for kind, section in (("configMapRef", "configMapGenerator"), ("secretRef", "secretGenerator")):
            if kind in source:
                data = _generated(b, section, source[kind]["name"])
                if data is None:
                    problems.append(f"{job}: envFrom {kind} {source[kind]['name']} is not in the kustomization")
                else:
                    env.update(data)
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
            continue
        for kind, section in (("secretKeyRef", "secretGenerator"), ("configMapKeyRef", "configMapGenerator")):
            ref = (var.get("valueFrom") or {}).get(kind)
            if ref is None:
                continue
            data = _generated(b, section, ref["name"])
            if data is None or ref["key"] not in data:
                problems.append(f"{job}: {var['name']} refers to {kind} {ref['name']}/{ref['key']}, which does not exist")
            else:
                env[var["name"]] = data[ref["key"]]
    return env, problems


def check_env(b: Bundle) -> list[str]:
    """Every variable a container refers to exists in a ConfigMap or Secret of the kustomization, and with
    exactly that environment loadkit reads the mounted scenario (TARGET_URL, credentials) without a problem;
    secrets come from a Secret, never from a ConfigMap."""
    problems = []
    for job in (MASTER, WORKER):
        env, missing = container_env(b, job)
        problems += missing
        args = _parse(b.container(job)["args"])
        files = _generator_files(_generator(b, "configMapGenerator", "loadkit-scenario") or {})
        scenario = files.get(PurePosixPath(args.scenario).name)
        if scenario is None:
            continue  # check_mounts says why
        try:
            load_scenario(str(scenario), overrides=args.set, host=args.host, env=env)
        except ConfigError as exc:
            problems += [f"{job}: {line}" for line in exc.lines()]
        for var in b.container(job).get("env", []):
            ref = (var.get("valueFrom") or {}).get("configMapKeyRef")
            if ref and is_secret_key(var["name"]):
                problems.append(f"{job}: {var['name']} looks secret but comes from ConfigMap {ref['name']}")
    for gen in b.kustomization.get("configMapGenerator", []):
        problems += [f"ConfigMap {gen['name']}: {item.split('=')[0]} looks secret; put it in a Secret"
                     for item in gen.get("literals", []) if is_secret_key(item.split("=")[0])]
    return problems


def check_labels(b: Bundle) -> list[str]:
    """The Service selects the master's pod and no worker; affinity and Deployment selectors match their pods."""
    problems = []
    selector = b.find("Service", SERVICE)["spec"]["selector"]
    master, worker = b.pod(MASTER)["metadata"]["labels"], b.pod(WORKER)["metadata"]["labels"]
    if not selector.items() <= master.items():
        problems.append(f"the Service selects {selector}, the master pod has {master}")
    if selector.items() <= worker.items():
        problems.append(f"the Service selects {selector}, which the worker pods have too")
    for d in b.resources:
        if d.get("kind") not in ("Job", "Deployment"):
            continue
        labels = d["spec"]["template"]["metadata"].get("labels", {})
        match = ((d["spec"].get("selector") or {}).get("matchLabels")) or {}
        if not match.items() <= labels.items():
            problems.append(f"{d['metadata']['name']}: selector {match} does not match its pods {labels}")
        affinity = d["spec"]["template"]["spec"].get("affinity", {}).get("podAntiAffinity", {})
        for term in affinity.get("preferredDuringSchedulingIgnoredDuringExecution", []):
            m = term["podAffinityTerm"]["labelSelector"]["matchLabels"]
            if not m.items() <= labels.items():
                problems.append(f"{d['metadata']['name']}: anti-affinity {m} does not match its pods {labels}")
    return problems


def check_images(b: Bundle) -> list[str]:
    """Every container runs the image the kustomization names, built by deploy/Dockerfile at this version;
    the Dockerfile's port and user are the ones the manifests use."""
    problems = []
    images = {i["name"]: i for i in b.kustomization.get("images", [])}
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    for job in (MASTER, WORKER):
        image = b.container(job)["image"]
        if image not in images:
            problems.append(f"{job}: image {image} is not set in the kustomization's images")
    for entry in images.values():
        if str(entry.get("newTag")) != __version__:
            problems.append(f"image tag {entry.get('newTag')} is not loadkit's version {__version__}")
    for extra in b.extras:
        for c in extra["spec"]["containers"]:
            want = {f"{i.get('newName', n)}:{i.get('newTag')}" for n, i in images.items()}
            if c["image"] not in want:
                problems.append(f"{extra['metadata']['name']}: image {c['image']}, expected one of {sorted(want)}")
    if not re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.M):
        problems.append("deploy/Dockerfile is not built FROM python:3.11-slim")
    if not re.search(r'^ENTRYPOINT \["loadkit"\]', dockerfile, re.M):
        problems.append('deploy/Dockerfile: the manifests pass arguments to an ENTRYPOINT ["loadkit"]')
    _, bind_port = _host_port(_flag(b.container(MASTER)["args"], "master_bind") or ":0")
    if not re.search(rf"^EXPOSE {bind_port}\b", dockerfile, re.M):
        problems.append(f"deploy/Dockerfile does not EXPOSE the master port {bind_port}")
    user = re.search(r"^USER (\d+)", dockerfile, re.M)
    for job in (MASTER, WORKER):
        uid = b.pod(job)["spec"].get("securityContext", {}).get("runAsUser")
        if user is None or uid != int(user.group(1)):
            problems.append(f"{job}: runAsUser {uid}, the image's USER {user and user.group(1)}")
    return problems


def check_resources(b: Bundle) -> list[str]:
    """Every container asks for CPU and memory and is bounded (a load generator starved of CPU measures itself)."""
    return [f"{d['metadata']['name']}/{c['name']}: resources.{kind}.{what} missing"
            for d in b.resources + b.extras if d.get("kind") in ("Job", "Deployment", "Pod")
            for c in (d["spec"].get("template", {}).get("spec") or d["spec"])["containers"]
            for kind in ("requests", "limits") for what in ("cpu", "memory")
            if what not in (c.get("resources", {}).get(kind) or {})]


CHECKS = [check_flags, check_ports, check_workers, check_mounts, check_env, check_labels, check_images,
          check_resources]


# --- the tests -------------------------------------------------------------------------------------------

def test_every_file_is_wired_in_and_every_manifest_parses() -> None:
    (kust,) = _docs(K8S / "kustomization.yaml")
    files_of = [i.rpartition("=")[2] for g in kust.get("configMapGenerator", []) + kust.get("secretGenerator", [])
                for i in g.get("files", [])]
    envs = [e for g in kust.get("configMapGenerator", []) + kust.get("secretGenerator", []) for e in g.get("envs", [])]
    present = {p.name for p in K8S.iterdir() if p.is_file()} - set(envs)  # real env files are local, untracked
    needed = {"kustomization.yaml", *kust["resources"], *EXTRAS, *files_of, *(e + ".example" for e in envs)}
    assert present == needed, (f"missing: {sorted(needed - present)}; "
                               f"used by nothing: {sorted(present - needed)}")
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert all(f"deploy/kubernetes/{e}" in ignored for e in envs), "credential files must stay out of git"
    for name in [*kust["resources"], *EXTRAS]:
        docs = _docs(K8S / name)
        assert docs, name
        for d in docs:
            assert {"apiVersion", "kind", "metadata"} <= d.keys(), name
            assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", d["metadata"]["name"]), name
    kinds = sorted(d["kind"] for d in _bundle().resources)
    assert kinds == ["Job", "Job", "PersistentVolumeClaim", "Service"]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_the_manifests_agree_with_the_cli(bundle: Bundle, check: Callable[[Bundle], list[str]]) -> None:
    assert check(bundle) == []


def _args(b: Bundle, job: str) -> list[Any]:
    return b.container(job)["args"]


def _replace_arg(b: Bundle, job: str, flag: str, value: str) -> None:
    args = _args(b, job)
    args[args.index(flag) + 1] = value


def _rename_flag(b: Bundle, job: str, flag: str, new: str) -> None:
    args = _args(b, job)
    args[args.index(flag)] = new


MUTATIONS: list[tuple[str, Callable[[Bundle], None], Callable[[Bundle], list[str]]]] = [
    ("service port", lambda b: b.find("Service", SERVICE)["spec"]["ports"][0].update(port=5558), check_ports),
    ("master bind port", lambda b: _replace_arg(b, MASTER, "--master-bind", "0.0.0.0:6000"), check_ports),
    ("master bind loopback", lambda b: _replace_arg(b, MASTER, "--master-bind", "127.0.0.1:5557"), check_ports),
    ("worker master port", lambda b: _replace_arg(b, WORKER, "--master", "loadkit-master:5558"), check_ports),
    ("worker master host", lambda b: _replace_arg(b, WORKER, "--master", "master:5557"), check_ports),
    ("container port", lambda b: b.container(MASTER)["ports"][0].update(containerPort=5558), check_ports),
    ("target port name", lambda b: b.find("Service", SERVICE)["spec"]["ports"][0].update(targetPort="zmq"),
     check_ports),
    ("completions", lambda b: b.find("Job", WORKER)["spec"].update(completions=3), check_workers),
    ("parallelism", lambda b: b.find("Job", WORKER)["spec"].update(parallelism=1), check_workers),
    ("expect workers", lambda b: _replace_arg(b, MASTER, "--expect-workers", "3"), check_workers),
    ("unknown master flag", lambda b: _rename_flag(b, MASTER, "--worker-timeout", "--workers-timeout"), check_flags),
    ("abbreviated flag", lambda b: _rename_flag(b, MASTER, "--expect-workers", "--expect-worker"), check_flags),
    ("worker flag of run", lambda b: _args(b, WORKER).extend(["--out", "/results"]), check_flags),
    ("bad value", lambda b: _replace_arg(b, MASTER, "--worker-timeout", "soon"), check_flags),
    ("--set on one side", lambda b: _args(b, MASTER).extend(["--set", "load.stages.1.users=80"]), check_flags),
    ("subcommand", lambda b: _args(b, WORKER).__setitem__(0, "run"), check_flags),
    ("scenario path", lambda b: _args(b, WORKER).__setitem__(1, "/scenario/other.yaml"), check_mounts),
    ("mount path", lambda b: b.container(WORKER)["volumeMounts"][0].update(mountPath="/scenarios"), check_mounts),
    ("configmap name", lambda b: b.pod(MASTER)["spec"]["volumes"][0]["configMap"].update(name="scenario"),
     check_mounts),
    ("results off the volume", lambda b: _replace_arg(b, MASTER, "--out", "/tmp/results"), check_mounts),
    ("claim name", lambda b: b.pod(MASTER)["spec"]["volumes"][1]["persistentVolumeClaim"].update(claimName="x"),
     check_mounts),
    ("secret key", lambda b: b.container(WORKER)["env"][1]["valueFrom"]["secretKeyRef"].update(key="PASSWORD"),
     check_env),
    ("secret name", lambda b: b.container(MASTER)["env"][0]["valueFrom"]["secretKeyRef"].update(name="auth"),
     check_env),
    ("no target url on workers", lambda b: b.container(WORKER).pop("envFrom"), check_env),
    ("no password on master", lambda b: b.container(MASTER)["env"].pop(1), check_env),
    ("secret in a configmap", lambda b: b.kustomization["configMapGenerator"][1]["literals"].append("DB_PASSWORD=x"),
     check_env),
    ("service selector", lambda b: b.find("Service", SERVICE)["spec"]["selector"].update(
        {"app.kubernetes.io/component": "worker"}), check_labels),
    ("master pod label", lambda b: b.pod(MASTER)["metadata"]["labels"].update(
        {"app.kubernetes.io/component": "main"}), check_labels),
    ("image name", lambda b: b.container(WORKER).update(image="locustio/locust"), check_images),
    ("image tag", lambda b: b.kustomization["images"][0].update(newTag="0.0.9"), check_images),
    ("run as user", lambda b: b.pod(WORKER)["spec"]["securityContext"].update(runAsUser=0), check_images),
    ("no limits", lambda b: b.container(WORKER)["resources"].pop("limits"), check_resources),
]


@pytest.mark.parametrize(("what", "mutate", "check"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_a_change_in_one_place_only_is_caught(bundle: Bundle, what: str, mutate, check) -> None:
    changed = copy.deepcopy(bundle)
    mutate(changed)
    assert check(changed), f"changing the {what} in one place went unnoticed by {check.__name__}"
