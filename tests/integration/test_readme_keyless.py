"""The README's "Try it without keys", run as written: its `serve` command with the settings it gives, then its
script with the real SDK, against a stand-in for Ollama started here. Only the model server's URL (Ollama's
default) and the gateway's port are changed; a wrong provider or endpoint name, a wrong setting or a broken script
fails the test."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.integration.processes import clean_env, free_port, running, wait_until_up

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Try it without keys\n"
OLLAMA_URL = "http://127.0.0.1:11434/v1"  # what the README registers: Ollama's default address
GATEWAY_URL = "http://127.0.0.1:8080/openai"  # what the README's script calls: `serve`'s default address
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def keyless_section() -> str:
    text = README.read_text()
    assert SECTION in text, "README.md has no 'Try it without keys' section"
    start = text.index(SECTION) + len(SECTION)
    end = text.find("\n## ", start)
    return text[start : end if end != -1 else None]


def block(section: str, name: str) -> str:
    """The fenced block right after the marker ``<!-- keyless:{name} -->``."""
    found = re.findall(rf"^<!-- keyless:{name} -->\n```\w*\n(.*?)^```$", section, re.M | re.S)
    assert len(found) == 1, f"the keyless section needs one block marked <!-- keyless:{name} -->"
    text: str = found[0]
    return text


def serve_settings(section: str) -> dict[str, str]:
    """The variables the README's serve command sets, checked to be the first set-up command's `serve`."""
    words = shlex.split(block(section, "serve"))
    settings: dict[str, str] = {}
    while words and ASSIGNMENT.match(words[0]):
        name, _, value = words.pop(0).partition("=")
        settings[name] = value
    assert words == [".venv/bin/batchbridge", "serve"], words
    assert settings, "the serve command registers no endpoint"
    return settings


def test_the_readme_keyless_path_runs_end_to_end(fake_compat: tuple[Any, str], tmp_path: Path) -> None:
    fake, stand_in = fake_compat
    section = keyless_section()
    settings = serve_settings(section)
    assert any(OLLAMA_URL in value for value in settings.values()), f"no setting names {OLLAMA_URL}"
    settings = {name: value.replace(OLLAMA_URL, stand_in) for name, value in settings.items()}
    (model,) = [words[2] for words in [shlex.split(block(section, "model"))] if words[:2] == ["ollama", "pull"]]
    assert block(section, "install").split() == [".venv/bin/pip", "install", "openai"]
    assert block(section, "run").split() == [".venv/bin/python", "keyless.py"]
    script = block(section, "script")
    assert f'"model": {json.dumps(model)}' in script, f"the script does not ask for the model pulled, {model}"
    assert GATEWAY_URL in script

    port = free_port()
    console_script = Path(sys.executable).with_name("batchbridge")  # what pip installed as .venv/bin/batchbridge
    command = [str(console_script)] if console_script.exists() else [sys.executable, "-m", "batchbridge.cli"]
    log = tmp_path / "serve.log"
    # The banner's credential check reads no file of this machine's: AWS's files are pointed at nothing.
    env = clean_env(
        AWS_CONFIG_FILE=str(tmp_path / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-aws-credentials"),
        **settings,
    )
    with running([*command, "serve", "--port", str(port)], env, log) as process:
        gateway = f"http://127.0.0.1:{port}"
        wait_until_up(gateway + "/docs", process, log)
        path = tmp_path / "keyless.py"
        path.write_text(script.replace(GATEWAY_URL, gateway + "/openai"))
        run = subprocess.run(
            [sys.executable, path.name], cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60
        )
    banner = log.read_text()
    assert run.returncode == 0, f"the README's script failed:\n{run.stderr}\nserve's log:\n{banner}"
    assert f"API docs: {gateway}/docs" in banner
    for name in json.loads(settings["BATCHBRIDGE_COMPAT_ENDPOINTS"]):  # `serve` names the endpoints it was given
        assert f"openai-compatible: endpoint_name {name!r} at {stand_in}" in banner

    printed = run.stdout.splitlines()
    assert printed and re.search(r"\bcompleted\b", printed[0]), run.stdout
    answers = dict(re.findall(r"^([^:\s]+): (echo: .*)$", run.stdout, re.M))
    asked = sorted(fake.received)
    assert asked and sum(fake.received.values()) == len(asked)  # each request sent once
    assert sorted(answers.values()) == sorted(f"echo: {question}" for question in asked), run.stdout
    assert len(printed) == 1 + len(asked), f"more was printed than the answers (an error file?):\n{run.stdout}"
