"""The production shape, checked without Docker (these machines have none): docker-compose.yml's
structure, and that every command its services and the Dockerfile run exists in this project."""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from celery.app.utils import find_app
from celery.bin.base import CLIContext
from celery.bin.celery import celery as celery_cli
from django.conf import settings
from django.core.management import get_commands
from django.urls import resolve

from config.health import healthz

BASE_DIR = Path(__file__).resolve().parents[1]
QUEUES = {"ingest", "ml", "default"}
# ${NAME:?message} makes compose refuse to start while NAME is unset: the only way a secret may appear.
REQUIRED_VARIABLE = re.compile(r"\$\{(?P<name>[A-Z_]+):\?[^}]*\}")
VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Z_]+)(?::?(?P<kind>[-?])(?P<text>[^}]*))?\}")
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|_KEYS?$")
# Environment names read by a tool rather than by config/settings.py.
TOOL_VARIABLES = {"WEB_CONCURRENCY"}  # gunicorn's worker count


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    return compose["services"]


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (BASE_DIR / "Dockerfile").read_text())
    lines = (line.strip() for line in text.splitlines())
    return [
        (keyword.upper(), arguments.strip())
        for keyword, _, arguments in (line.partition(" ") for line in lines if line and not line.startswith("#"))
    ]


def instructions(name: str) -> list[str]:
    return [arguments for keyword, arguments in dockerfile() if keyword == name]


def exec_form(arguments: str) -> list[str]:
    parsed = yaml.safe_load(arguments)  # a JSON array is YAML too
    assert isinstance(parsed, list), f"use the exec form (a JSON array): {arguments}"
    return parsed


def interpolate(text: str) -> str:
    """Substitute variables as compose does with none set: defaults, a value for required ones, $$ -> $."""

    def value(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        return match["text"] if match["kind"] == "-" else f"test-{match['name'].lower()}"

    return VARIABLE.sub(value, text)


def as_argv(command: str | list[str]) -> list[str]:
    return [interpolate(part) for part in (shlex.split(command) if isinstance(command, str) else command)]


def command_of(service: dict[str, Any]) -> list[str]:
    """What a service runs: its own command, or the image's CMD for services built from our Dockerfile."""
    if "command" in service:
        return as_argv(service["command"])
    assert service.get("build") == ".", "a service without a command must run our image's CMD"
    return exec_form(instructions("CMD")[-1])


def healthcheck_argv(service: dict[str, Any]) -> list[str]:
    test = service["healthcheck"]["test"]
    if isinstance(test, str):
        return as_argv(test)
    kind, *rest = test
    return as_argv(rest[0]) if kind == "CMD-SHELL" else as_argv(rest)


def is_one_shot(service: dict[str, Any]) -> bool:
    return service.get("restart") == "no"


def workers(services: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Celery workers by service name, with the queues each consumes."""
    found = {}
    for name, service in services.items():
        argv = as_argv(service["command"]) if "command" in service else []
        if argv[:1] == ["celery"] and "worker" in argv:
            found[name] = celery_options(argv)["queues"]
    return found


def celery_options(argv: list[str]) -> dict[str, Any]:
    """Parse a ``celery -A config <command> ...`` line with Celery's own CLI; unknown options fail."""
    assert argv[:3] == ["celery", "-A", "config"], argv
    app = find_app("config")  # what `celery -A config` loads
    assert app is importlib.import_module("config.celery").app
    name, *arguments = argv[3:]
    parent = click.Context(celery_cli, info_name="celery", obj=CLIContext(app=app, no_color=True, workdir=None))
    return celery_cli.commands[name].make_context(name, arguments, parent=parent).params


def check_python_c(argv: list[str]) -> None:
    """A ``python -c`` line compiles, and what it imports from this project exists."""
    assert argv[:2] == ["python", "-c"], argv
    code = argv[2]
    compile(code, "<healthcheck>", "exec")
    for module, names in re.findall(r"from ([\w.]+) import ([\w, ]+)", code):
        imported = importlib.import_module(module)
        for name in names.split(","):
            assert hasattr(imported, name.strip()), f"{module} has no {name.strip()}"


def check_command(argv: list[str]) -> None:
    """The program a service runs exists here: gunicorn's WSGI app, a Celery command, a manage.py command."""
    program = argv[0]
    if program == "gunicorn":
        module, _, attribute = next(a for a in argv[1:] if not a.startswith("-")).partition(":")
        assert callable(getattr(importlib.import_module(module), attribute or "application"))
    elif program == "celery":
        celery_options(argv)
    elif argv[:2] == ["python", "manage.py"]:
        assert argv[2] in get_commands(), f"manage.py has no command {argv[2]!r}"
    elif argv[:2] == ["python", "-c"]:
        check_python_c(argv)
    else:
        pytest.fail(f"unknown program {program!r}")


def test_the_compose_file_runs_the_production_shape(services) -> None:
    assert {"web", "worker", "beat", "postgres", "redis"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    ours = [service for service in services.values() if service.get("build")]
    assert {service["build"] for service in ours} == {"."}
    assert len({service["image"] for service in ours}) == 1, "every Threadline service runs the same image"
    assert command_of(services["web"])[:2] == ["gunicorn", "config.wsgi:application"]
    assert "0.0.0.0:8000" in command_of(services["web"])
    assert any(port.endswith(":8000") for port in services["web"]["ports"])
    assert command_of(services["beat"])[3] == "beat"


def test_every_long_running_service_has_a_healthcheck(services) -> None:
    for name, service in services.items():
        if not is_one_shot(service):
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"

    assert healthcheck_argv(services["postgres"])[0] == "pg_isready"
    assert healthcheck_argv(services["redis"]) == ["redis-cli", "ping"]
    web_check = services["web"]["healthcheck"]["test"][-1]
    url = re.search(r"http://127\.0\.0\.1:8000(/\S*?)['\"]", web_check)
    assert url and resolve(url[1]).func is healthz
    for name in workers(services):
        argv = healthcheck_argv(services[name])
        options = celery_options(argv)
        assert (argv[3], options["command"], options["destination"]) == ("inspect", "ping", ["celery@$HOSTNAME"])


def test_the_named_queues_are_all_consumed_by_some_worker(services) -> None:
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()} | {settings.CELERY_TASK_DEFAULT_QUEUE}
    assert routed <= QUEUES, "a task is routed to a queue no worker in compose knows"
    consumed = {queue for queues in workers(services).values() for queue in queues}
    assert consumed == QUEUES, f"queues without a worker: {QUEUES - consumed}; unknown: {consumed - QUEUES}"


def test_services_start_only_once_what_they_need_is_healthy(services) -> None:
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions, not a list"
        for target, rule in depends_on.items():
            assert target in services, f"{name} depends on unknown {target}"
            if rule["condition"] == "service_completed_successfully":
                assert is_one_shot(services[target]), f"{name} waits for {target} to finish, which it never does"
            else:
                assert rule["condition"] == "service_healthy", f"{name} -> {target}"
                assert "healthcheck" in services[target]
    for name in ["web", *workers(services)]:
        needs = services[name]["depends_on"]
        assert needs["postgres"] == needs["redis"] == {"condition": "service_healthy"}, name
        migrations = [t for t, rule in needs.items() if rule["condition"] == "service_completed_successfully"]
        assert any(command_of(services[t])[:3] == ["python", "manage.py", "migrate"] for t in migrations), name
    assert services["beat"]["depends_on"]["redis"] == {"condition": "service_healthy"}


def test_each_command_a_service_runs_exists_in_the_project(services) -> None:
    for service in services.values():
        if service.get("build"):
            check_command(command_of(service))
            if "healthcheck" in service:
                check_command(healthcheck_argv(service))


def test_the_app_services_are_configured_for_production_without_committed_secrets(services) -> None:
    settings_source = (BASE_DIR / "config" / "settings.py").read_text()
    for name, service in services.items():
        environment = service.get("environment", {})
        for key, value in environment.items():
            value = str(value)
            if SECRET_NAME.search(key) and value:
                assert REQUIRED_VARIABLE.fullmatch(value) or re.fullmatch(r"\$\{[A-Z_]+:-\}", value), (
                    f"{name}: {key} must come from the environment, not from the compose file"
                )
            for password in re.findall(r"://[^:/@\s]+:([^@]*)@", value):
                assert REQUIRED_VARIABLE.fullmatch(password), f"{name}: a password in {key} is written out"
            if service.get("build") and key not in TOOL_VARIABLES:
                assert f'"{key}"' in settings_source, f"{name}: config/settings.py never reads {key}"
        if service.get("build"):
            assert environment["DEBUG"] == "false"
            assert REQUIRED_VARIABLE.fullmatch(environment["SECRET_KEY"])
            assert {"DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS"} <= set(environment)
            assert "*" not in environment["ALLOWED_HOSTS"]


def test_web_and_the_ingest_worker_share_the_uploads_volume(services) -> None:
    environment = dict(item.split("=", 1) for item in " ".join(instructions("ENV")).split() if "=" in item)
    data_dir = environment["THREADLINE_DATA_DIR"]
    ingest_workers = [name for name, queues in workers(services).items() if "ingest" in queues]
    mounts = [set(services[name].get("volumes", [])) for name in ["web", *ingest_workers]]
    shared = set.intersection(*mounts)
    assert any(volume.endswith(f":{data_dir}") for volume in shared), "uploads stored by web must reach the worker"


def test_the_dockerfile_builds_the_project_from_its_own_files() -> None:
    assert instructions("FROM") == ["python:3.11-slim"]
    for arguments in instructions("COPY"):
        *sources, _ = arguments.split()
        for source in sources:
            assert (BASE_DIR / source).exists(), f"COPY {source}: no such file"
    copied = {Path(source).name for arguments in instructions("COPY") for source in arguments.split()[:-1]}
    local_apps = {app for app in settings.INSTALLED_APPS if (BASE_DIR / app).is_dir()}
    needed = {"manage.py", "config", "pyproject.toml", *local_apps}
    needed |= {Path(d).name for d in [*settings.TEMPLATES[0]["DIRS"], *settings.STATICFILES_DIRS]}
    assert needed <= copied, f"the image lacks {needed - copied}"

    runs = instructions("RUN")
    assert any(re.search(r'\bpip install .*"\.\$\{EXTRAS:\+\[\$EXTRAS\]\}"', run) for run in runs)
    build_args = dict(argument.split("=", 1) for argument in instructions("ARG"))
    assert build_args["EXTRAS"] == "embeddings", "the image carries minilm, the default representation"
    assert build_args["TORCH_INDEX_URL"].endswith("/whl/cpu"), "torch's CPU build, not PyPI's CUDA one"
    collectstatic = next(run for run in runs if "manage.py collectstatic" in run)
    assert "DEBUG=false" in collectstatic, "collect with DEBUG off, so the manifest production serves exists"
    build_key = re.search(r"SECRET_KEY=(\S+)", collectstatic)
    assert build_key and "placeholder" in build_key[1], "the build-time key must be an obvious placeholder"
    assert not any("SECRET_KEY" in env for env in instructions("ENV")), "no key may be baked into the image"
    assert "collectstatic" in get_commands()

    keyword_order = [keyword for keyword, _ in dockerfile()]
    user = instructions("USER")
    assert user and user[-1] not in {"root", "0"}
    assert keyword_order.index("USER") < keyword_order.index("CMD")
    check_command(exec_form(instructions("CMD")[-1]))


def test_the_build_context_leaves_out_local_state_and_secrets() -> None:
    ignored = {line.strip() for line in (BASE_DIR / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", "var", ".env"} <= ignored
