"""deploy/Dockerfile and .dockerignore: what the image is, and that its commands really work."""

from __future__ import annotations

import fnmatch
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath

import pytest

from tests.deploy.catalogue import DEPLOY, ROOT
from tests.deploy.config_files import dummy_environ, toml_of
from tests.deploy.dockerfile import Instruction, exec_form, healthcheck_command, parse

DOCKERFILE = DEPLOY / "Dockerfile"
CONFIG_IN_IMAGE = "/etc/gateway/gateway.toml"


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse(DOCKERFILE)


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    last = max(i.stage for i in instructions)
    return [i for i in instructions if i.stage == last]


def one(instructions: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in instructions if i.keyword == keyword]
    assert found, f"no {keyword}"
    return found[-1]  # the last one is the one that counts


def test_image_is_built_in_stages_on_slim_python_311_or_newer(
    instructions: list[Instruction],
) -> None:
    args = {
        k: v
        for i in instructions
        if i.keyword == "ARG" and i.stage == -1
        for k, _, v in [i.args.partition("=")]
    }
    bases = [i.args for i in instructions if i.keyword == "FROM"]
    assert len(bases) >= 2, "build and runtime are separate stages"
    for base in bases:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base.split()[0])
        match = re.fullmatch(r"python:(\d+)\.(\d+)(?:\.\d+)?-slim(?:-\w+)?", image)
        assert match, f"{image}: a slim official Python image"
        assert (int(match.group(1)), int(match.group(2))) >= (3, 11)
    runtime = final_stage(instructions)
    copies = [i.args for i in runtime if i.keyword == "COPY"]
    assert any(c.startswith("--from=build /opt/venv") for c in copies), copies
    build = [i.args for i in instructions if i.stage == 0 and i.keyword == "RUN"]
    assert any("pip uninstall --yes pip" in run for run in build), "installers do not ship"
    assert not any(i.keyword == "RUN" and "pip install" in i.args for i in runtime), (
        "the runtime stage installs nothing itself: only the built venv is copied in"
    )


def test_image_runs_as_a_numeric_non_root_user(instructions: list[Instruction]) -> None:
    user = one(final_stage(instructions), "USER").args
    uid, _, gid = user.partition(":")
    # Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
    assert uid.isdigit(), user
    assert int(uid) > 0, user
    assert re.fullmatch(r"([1-9]\d*)?", gid), f"{user}: a numeric group, not root's"


def test_entrypoint_serves_the_mounted_config_on_all_interfaces(
    instructions: list[Instruction],
) -> None:
    argv = exec_form(one(instructions, "ENTRYPOINT").args)
    assert argv == [
        "gateway",
        "serve",
        "--config",
        CONFIG_IN_IMAGE,
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
    ]
    assert one(final_stage(instructions), "EXPOSE").args == "8080"
    copied = [i.args.split() for i in final_stage(instructions) if i.keyword == "COPY"]
    assert ["config/gateway.toml", CONFIG_IN_IMAGE] in copied, "a default config ships"


def test_healthcheck_asks_healthz_on_the_served_port_with_the_interpreter(
    instructions: list[Instruction],
) -> None:
    options, argv = healthcheck_command(one(final_stage(instructions), "HEALTHCHECK").args)
    assert argv[:2] == ["python", "-c"], "slim images have no curl"
    assert "http://127.0.0.1:8080/healthz" in argv[2]
    for key in ("interval", "timeout", "start-period", "retries"):
        assert key in options, f"HEALTHCHECK --{key} is explicit"


def test_build_context_admits_exactly_what_the_image_copies(
    instructions: list[Instruction],
) -> None:
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "**", "everything is excluded unless listed"
    admitted = {r.removeprefix("!").rstrip("/") for r in rules if r.startswith("!")}
    for copy in (i for i in instructions if i.keyword == "COPY"):
        parts = copy.args.split()
        if any(p.startswith("--from=") for p in parts):
            continue
        for source in parts[:-1]:
            assert source.rstrip("/").removeprefix("./") in admitted, (
                f"COPY {source}: not in the build context (.dockerignore)"
            )
            assert (ROOT / source).exists(), f"COPY {source}: no such file"


def test_image_installs_every_optional_backend_of_the_package(
    instructions: list[Instruction],
) -> None:
    """Backends are optional extras (`[postgres]`, `[redis]`): an image without one would
    start and then fail on the first store or Redis call."""
    args = dict(i.args.split("=", 1) for i in instructions if i.keyword == "ARG" and "=" in i.args)
    extras = set(args["EXTRAS"].strip('"').split())
    optional = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get(
        "optional-dependencies", {}
    )
    # Every extra is either in the image or left out here on purpose: a new one needs a call.
    left_out = {"dev": "tests and lint", "bench": "the load generator and its charts"}
    assert set(optional) - set(left_out) <= extras
    assert not extras & set(left_out)
    run = next(i.args for i in instructions if "requirements.py" in i.args and i.keyword == "RUN")
    assert "${EXTRAS}" in run


def test_requirements_script_lists_dependencies_then_the_defined_extras(
    tmp_path: Path,
) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\ndependencies = ["a>=1", "b"]\n'
        '[project.optional-dependencies]\npg = ["c>=2", "a>=1"]\ndev = ["pytest"]\n'
    )
    out = subprocess.run(
        [sys.executable, str(DEPLOY / "requirements.py"), str(pyproject), "pg", "absent"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert out.splitlines() == ["a>=1", "b", "c>=2"]


def test_package_data_ships_every_non_python_file_of_the_package() -> None:
    """The image installs a wheel, not the source tree: a file the wheel leaves out (a new
    migration folder, say) would be missing only in production."""
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["gateway"]
    missing = []
    for path in (ROOT / "gateway").rglob("*"):
        rel = PurePosixPath(path.relative_to(ROOT / "gateway").as_posix())
        if path.is_dir() or path.suffix in (".py", ".pyc") or "__pycache__" in rel.parts:
            continue
        if not any(_glob_match(rel, g) for g in globs):
            missing.append(str(rel))
    assert not missing, f"add to [tool.setuptools.package-data]: {missing}"


def _glob_match(rel: PurePosixPath, pattern: str) -> bool:
    """setuptools package-data semantics: `*` stays within one path segment."""
    want = PurePosixPath(pattern).parts
    return len(want) == len(rel.parts) and all(
        fnmatch.fnmatchcase(part, glob) for part, glob in zip(rel.parts, want, strict=True)
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthcheck(argv: list[str], port: int) -> int:
    command = [sys.executable, argv[1], argv[2].replace(":8080/", f":{port}/")]
    return subprocess.run(command, capture_output=True, timeout=15, check=False).returncode


@pytest.mark.system
def test_entrypoint_and_healthcheck_work_against_a_real_gateway(
    instructions: list[Instruction], tmp_path: Path
) -> None:
    """Runs the image's ENTRYPOINT (config path and port swapped for test ones) with the
    image's default config, then its HEALTHCHECK command: healthy while it serves, unhealthy
    once it has stopped."""
    entry = exec_form(one(instructions, "ENTRYPOINT").args)
    _, health = healthcheck_command(one(final_stage(instructions), "HEALTHCHECK").args)
    config = tmp_path / "gateway.toml"
    text = (ROOT / "config" / "gateway.toml").read_text()
    config.write_text(text.replace("sqlite:///var/gateway.db", f"sqlite:///{tmp_path}/gw.db"))
    port = _free_port()
    argv = [str(Path(sys.executable).parent / entry[0]), *entry[1:]]
    argv[argv.index(CONFIG_IN_IMAGE)] = str(config)
    argv[argv.index("8080")] = str(port)
    env = {"PATH": str(Path(sys.executable).parent), **dummy_environ(toml_of(config))}
    log = (tmp_path / "gateway.log").open("wb")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "gateway.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                    break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "gateway did not become ready"
                time.sleep(0.1)
        assert _healthcheck(health, port) == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, "SIGTERM is a clean stop"
        assert _healthcheck(health, port) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
