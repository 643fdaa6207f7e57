"""The production Dockerfile: what it copies is in the build context, and each target runs a
real command of the project, as a non-root user, with a health check and without compilers."""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import re
import shlex
import tomllib
from pathlib import Path

import click
import pytest
import yaml
from dagster import Definitions
from dagster._cli import cli as dagster_cli

import reelflow
from api.main import SHAKA_PLAYER_DIR, WEB_PAGES_DIR, create_app
from cli.main import build_parser
from devstack.jars import BUNDLES
from reelflow.settings import PROJECT_ROOT, Settings
from tests.unit.deploy.dockerfile import (
    Instruction,
    Stage,
    context_files,
    is_ignored,
    logical_lines,
    parse,
    read_dockerignore,
)

ROOT = Path(__file__).resolve().parents[3]
STAGES = parse((ROOT / "Dockerfile").read_text())
BY_NAME = {stage.name: stage for stage in STAGES if stage.name}
IGNORE = read_dockerignore((ROOT / ".dockerignore").read_text())
TARGETS = ("api", "dagster", "worker")
COMPILERS = re.compile(r"^(gcc|g\+\+|cpp|clang|build-essential|make|gfortran)(-[\d.]+)?$")


def chain(name: str) -> list[Stage]:
    """The stage `name` and the stages it is built on, the first one first."""
    stages = [BY_NAME[name]]
    while stages[0].base in BY_NAME:
        stages.insert(0, BY_NAME[stages[0].base])
    return stages


def instructions(name: str, keyword: str) -> list[Instruction]:
    return [i for stage in chain(name) for i in stage.instructions if i.keyword == keyword]


def last(name: str, keyword: str) -> Instruction:
    found = instructions(name, keyword)
    assert found, f"target {name} has no {keyword}"
    return found[-1]


def env(name: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for instruction in instructions(name, "ENV"):
        words = instruction.words()
        if "=" not in words[0]:
            values[words[0]] = " ".join(words[1:])
            continue
        values.update(word.partition("=")[::2] for word in words)
    return values


def command_of(instruction: Instruction) -> list[str]:
    """The argv of a CMD or a HEALTHCHECK, which must be in exec form: in shell form `/bin/sh`
    would be PID 1 and keep SIGTERM from the process."""
    args = instruction.args
    if instruction.keyword == "HEALTHCHECK":
        keyword, _, args = args.partition(" ")
        assert keyword.upper() == "CMD", f"line {instruction.line}: HEALTHCHECK without CMD"
        args = args.strip()
    assert args.startswith("["), f"line {instruction.line}: {instruction.keyword} in shell form"
    return Instruction(instruction.keyword, {}, args, instruction.line).words()


def apt_packages(stage: Stage) -> list[str]:
    packages = []
    for run in (i for i in stage.instructions if i.keyword == "RUN"):
        for step in re.split(r"&&|;|\|\|", run.args):
            words = shlex.split(step)
            if words[:2] == ["apt-get", "install"]:
                packages += [w for w in words[2:] if not w.startswith("-")]
    return packages


def site_packages(name: str) -> str:
    """Where the image's venv installs the project: PROJECT_ROOT inside the image."""
    base = chain(name)[0].base
    version = re.fullmatch(r"python:(\d+\.\d+)[.\d]*-slim-.+", base)
    assert version, f"target {name} is not built on a slim python image: {base}"
    return f"{env(name)['VIRTUAL_ENV']}/lib/python{version.group(1)}/site-packages"


def copies(name: str) -> dict[str, list[str]]:
    """Destination of each COPY of the target's stages -> its sources (`stage:` when --from)."""
    found: dict[str, list[str]] = {}
    for instruction in instructions(name, "COPY"):
        *sources, destination = instruction.words()
        origin = instruction.flags.get("from")
        found[destination] = [f"{origin}:{s}" if origin else s for s in sources]
    return found


def reelflow_args(argv: list[str]) -> argparse.Namespace:
    """Parse a `reelflow ...` command line as the command would, without running it."""
    assert argv[0] == "reelflow"
    try:
        return build_parser().parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"reelflow refuses {shlex.join(argv[1:])}")


def python_probe(name: str) -> str:
    """The code of a target's `python -c` health check, once it is known to compile and to
    import only what the image has."""
    probe = command_of(last(name, "HEALTHCHECK"))
    assert probe[:2] == ["python", "-c"] and len(probe) == 3
    for node in ast.walk(ast.parse(probe[2])):
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert importlib.util.find_spec(alias.name), f"{name}: no module {alias.name}"
    return probe[2]


def dagster_context(argv: list[str]) -> click.Context:
    """Parse a `dagster ...` command line as the dagster CLI (`dagster._cli:main`) would,
    without running it."""
    assert argv[0] == "dagster"
    command: click.Command = dagster_cli
    name, words = argv[0], argv[1:]
    while isinstance(command, click.Group):
        name, *words = words
        sub = command.get_command(click.Context(command), name)
        assert sub is not None, f"dagster has no command {name}"
        command = sub
    return command.make_context(name, words)


def test_logical_lines_join_continuations_and_drop_comments_inside_them() -> None:
    text = 'FROM a AS b\n# note\nRUN one \\\n    # inside\n\n    two\nCMD ["x", \\\n  "y"]\n'
    assert logical_lines(text) == [
        (1, "FROM a AS b"),
        (3, "RUN one     two"),
        (7, 'CMD ["x",   "y"]'),
    ]
    stage = parse(text)[0]
    assert (stage.base, stage.name) == ("a", "b")
    assert stage.instructions[1].words() == ["x", "y"]


def test_dockerignore_matching_follows_buildkit() -> None:
    patterns = read_dockerignore("**/__pycache__\n*.egg-info\nweb/*\n!web/public\ndocs\n")
    assert is_ignored("storage/migrations/__pycache__/env.cpython-311.pyc", patterns)
    assert is_ignored("reelflow.egg-info/PKG-INFO", patterns)
    assert not is_ignored("storage/reelflow.egg-info", patterns)
    assert is_ignored("web/node_modules/shaka-player/dist/x.js", patterns)
    assert not is_ignored("web/public/index.html", patterns)
    assert is_ignored("docs/screenshots/player.png", patterns)
    assert not is_ignored("docsite/index.md", patterns)


def test_the_three_targets_exist() -> None:
    assert set(TARGETS) <= set(BY_NAME)


def test_copy_from_names_an_earlier_stage() -> None:
    for index, stage in enumerate(STAGES):
        earlier = {s.name for s in STAGES[:index]}
        for instruction in stage.instructions:
            origin = instruction.flags.get("from")
            if instruction.keyword == "COPY" and origin is not None:
                assert origin in earlier, f"line {instruction.line}: no stage {origin} before it"


def test_every_copied_path_is_in_the_build_context() -> None:
    for stage in STAGES:
        for instruction in stage.instructions:
            if instruction.keyword != "COPY" or "from" in instruction.flags:
                continue
            for source in instruction.words()[:-1]:
                assert (ROOT / source).exists(), f"line {instruction.line}: {source} missing"
                assert not is_ignored(source, IGNORE), f"{source} is in .dockerignore"
                sent = context_files(ROOT, source, IGNORE)
                every = [
                    p
                    for p in context_files(ROOT, source, [])
                    if "__pycache__" not in p.parts and p.suffix != ".pyc"
                ]
                assert sent == every, f"{source}: .dockerignore leaves out {set(every) - set(sent)}"


def test_the_context_leaves_out_local_state_and_development_files() -> None:
    for path in (
        ".git/HEAD",
        ".venv/bin/python",
        ".state/dagster/dagster.yaml",
        "web/node_modules/shaka-player/package.json",
        "api/__pycache__/main.cpython-311.pyc",
        "reelflow.egg-info/PKG-INFO",
        "tests/unit/deploy/test_dockerfile.py",
        "docs/screenshots/player.png",
        ".env",
    ):
        assert is_ignored(path, IGNORE), path


def test_the_builder_installs_the_project_with_the_makefiles_constraints() -> None:
    makefile = (ROOT / "Makefile").read_text()
    constraints = re.search(r"pip install\b.*?\s-c\s+(\S+)", makefile)
    assert constraints, "the Makefile installs without a constraints file"
    installs = [
        step.split()
        for i in BY_NAME["builder"].instructions
        if i.keyword == "RUN"
        for step in i.args.split("&&")
        if "pip install" in step
    ]
    assert len(installs) == 1
    words = installs[0]
    assert words[words.index("-c") + 1] == constraints.group(1)
    assert words[-1] == "."
    # Everything `pip install .` reads: the metadata, its readme, the constraints, each package.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    copied = {s for sources in copies("builder").values() for s in sources}
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    needed = {"pyproject.toml", project["project"]["readme"], constraints.group(1)} | packages
    assert needed <= copied


@pytest.mark.parametrize("name", TARGETS)
def test_target_runs_as_a_created_non_root_user(name: str) -> None:
    user = last(name, "USER").args.split(":")[0]
    assert user not in ("root", "0")
    runs = " ".join(i.args for i in instructions(name, "RUN"))
    created = re.search(rf"useradd\b[^&;]*--uid (\d+)[^&;]*\s{re.escape(user)}\b", runs)
    assert created and int(created.group(1)) != 0, f"no useradd of {user} with a uid"


@pytest.mark.parametrize("name", TARGETS)
def test_target_installs_no_compiler_and_builds_on_a_slim_image(name: str) -> None:
    # Full python images ship gcc: only a slim one keeps compilers out of the target.
    assert re.fullmatch(r"python:[\d.]+-slim-\w+", chain(name)[0].base)
    for stage in chain(name):
        compilers = [p for p in apt_packages(stage) if COMPILERS.match(p)]
        assert not compilers, f"stage {stage.name} installs {compilers}"


@pytest.mark.parametrize("name", TARGETS)
def test_target_models_load(name: str) -> None:
    # implicit and lightgbm need OpenMP at import.
    assert "libgomp1" in [p for stage in chain(name) for p in apt_packages(stage)]


def test_images_are_pinned_by_tag() -> None:
    for stage in STAGES:
        if stage.base in BY_NAME:
            continue
        tag = stage.base.rpartition("/")[2].partition(":")[2]
        assert tag and tag != "latest", f"{stage.base} is not pinned to a tag"


@pytest.mark.parametrize("name", TARGETS)
def test_target_is_configured_for_production(name: str) -> None:
    variables = env(name)
    prefix = Settings.model_config["env_prefix"]
    assert variables[f"{prefix}DEPLOYMENT"] == "prod"
    assert variables["PYTHONUNBUFFERED"] == "1"
    assert variables["PATH"].split(":")[0] == f"{variables['VIRTUAL_ENV']}/bin"
    if name in ("dagster", "worker"):
        home = variables["DAGSTER_HOME"]
        assert copies(name)[f"{home}/dagster.yaml"] == ["deploy/dagster.yaml"]


def test_api_command_serves_on_its_health_checked_port() -> None:
    args = reelflow_args(command_of(last("api", "CMD")))
    assert args.command == "api" and args.host == "0.0.0.0"
    assert last("api", "EXPOSE").args == str(args.port)
    probe = python_probe("api")
    url = re.search(r"http://127\.0\.0\.1:(\d+)(/\w+)", probe)
    assert url and int(url.group(1)) == args.port
    assert "get" in create_app(Settings()).openapi()["paths"][url.group(2)]


def test_api_serves_the_web_pages_from_the_image() -> None:
    # The API finds the pages beside the package directories: in the image, in site-packages.
    assert Path(reelflow.__file__).resolve().parent.parent == PROJECT_ROOT
    root = site_packages("api")
    copied = copies("api")
    assert copied[f"{root}/{WEB_PAGES_DIR.relative_to(PROJECT_ROOT)}"] == ["web/public"]
    player = copied[f"{root}/{SHAKA_PLAYER_DIR.relative_to(PROJECT_ROOT)}"]
    assert player == [f"web:/web/{SHAKA_PLAYER_DIR.relative_to(PROJECT_ROOT / 'web')}"]
    npm = BY_NAME["web"]
    assert "web/package-lock.json" in [
        s for i in npm.instructions if i.keyword == "COPY" for s in i.words()
    ]
    assert any(i.args.startswith("npm ci") for i in npm.instructions if i.keyword == "RUN")


def test_dagster_command_serves_the_workspaces_code_location() -> None:
    argv = command_of(last("dagster", "CMD"))
    context = dagster_context(argv)
    assert context.command.name == "grpc"
    params = context.params
    location = yaml.safe_load((ROOT / "workspace.yaml").read_text())["load_from"][0]
    module = location["python_module"]
    assert params["module_name"] == module["module_name"]
    assert params["location_name"] == module["location_name"]
    assert isinstance(
        getattr(importlib.import_module(params["module_name"]), params["attribute"]), Definitions
    )
    probe = dagster_context(command_of(last("dagster", "HEALTHCHECK")))
    assert probe.command.name == "grpc-health-check"
    assert probe.params["port"] == params["port"]
    assert last("dagster", "EXPOSE").args == str(params["port"])
    copied = copies("dagster")
    # `reelflow reprocess` launches runs through the workspace beside the packages.
    assert copied[f"{site_packages('dagster')}/workspace.yaml"] == ["workspace.yaml"]
    # The webserver and the daemon load the location from this server.
    [served] = copied["/opt/dagster/workspace.yaml"]
    server = yaml.safe_load((ROOT / served).read_text())["load_from"][0]["grpc_server"]
    assert (server["port"], server["location_name"]) == (params["port"], module["location_name"])


def test_dagster_runs_spark_with_the_connectors_jars() -> None:
    packages = [p for stage in chain("dagster") for p in apt_packages(stage)]
    assert "openjdk-17-jre-headless" in packages
    jar_dir = Settings(cache_dir=Path(env("dagster")["REELFLOW_CACHE_DIR"])).jar_dir
    fetch = [i.args for i in BY_NAME["jars"].instructions if "bundle_jars" in i.args]
    assert len(fetch) == 1
    call = re.search(r"bundle_jars\(Path\('([^']+)'\), '([^']+)'\)", fetch[0])
    assert call and call.group(2) in BUNDLES
    bundle = f"{call.group(1)}/{call.group(2)}"
    assert copies("dagster")[f"{jar_dir}/{call.group(2)}"] == [f"jars:{bundle}"]


def test_worker_command_and_its_health_check() -> None:
    assert reelflow_args(command_of(last("worker", "CMD"))).command == "worker"
    python_probe("worker")
