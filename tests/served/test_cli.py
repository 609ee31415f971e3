"""The `labthings` command in a subprocess: its options, and every way a start fails.

A failed start is one line on stderr (a traceback only with --debug), exit status 2 for
a target or command line that is wrong and 1 for a failure to serve.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from served import SUPPORT, run_labthings

import labthings

TARGET = f"{SUPPORT / 'lab_for_tests.py'}:make_labthing"
NEEDED = "serve a LabThing instance, or a function that returns one"
THING_HINT = " (a Thing is served by adding it to a LabThing with add_thing())"

NOT_LABTHINGS = '''
from flask import Flask
from labthings import Thing

class Stage(Thing):
    """A stage."""

number = 3
app = Flask("not_labthings")
stage = Stage()

def make_text():
    return "text"
'''

CAMERA_RETURNING_BYTES = '''
from labthings import LabThing, Thing, action

class Camera(Thing):
    """Takes pictures."""

    @action
    def take(self) -> bytes:
        """Take a picture."""
        return b""

labthing = LabThing(title="Camera")
labthing.add_thing("camera", Camera())
'''

LAMP_NOT_PLUGGED_IN = '''
from labthings import LabThing, Thing

class Lamp(Thing):
    """A lamp that cannot be opened."""

    def __enter__(self):
        raise OSError("no lamp on /dev/ttyLAMP")

labthing = LabThing(title="Lamp")
labthing.add_thing("lamp", Lamp())
'''

FACTORY_WITHOUT_ITS_PORT = """
def make_labthing(port="/dev/ttyNONE"):
    raise OSError(f"cannot open {port}")
"""


def write(folder: Path, name: str, content: str) -> Path:
    path = folder / name
    path.write_text(content, encoding="utf-8")
    return path


def test_version_prints_the_package_version() -> None:
    result = run_labthings("--version")
    assert result.returncode == 0
    assert result.stdout == f"labthings {labthings.__version__}\n"


def test_help_documents_the_log_options() -> None:
    result = run_labthings("serve", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "--log-level {debug,info,warning,error}" in text
    assert "(default: info)" in text
    assert "--debug the same as --log-level debug" in text


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_file.py:labthing", "no such file"),
        ("no_such_module_xyz:labthing", "cannot import"),
        (f"{SUPPORT / 'lab_for_tests.py'}:missing", "no attribute"),
        (f"{SUPPORT / 'lab_for_tests.py'}:Calculator", "not a LabThing"),
    ],
)
def test_bad_targets_exit_2_with_a_message(target: str, message: str) -> None:
    result = run_labthings("serve", target)
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("number", "an int, not a LabThing"),
        ("app", "a Flask app, not a LabThing"),
        ("make_text", "a function returning a str, not a LabThing"),
        ("stage", f"a Stage, not a LabThing{THING_HINT}"),
        ("Stage", f"the class Stage, not a LabThing{THING_HINT}"),
    ],
)
def test_a_target_that_is_not_a_labthing_says_what_it_is(
    tmp_path: Path, name: str, found: str
) -> None:
    target = f"{write(tmp_path, 'not_labthings.py', NOT_LABTHINGS)}:{name}"
    result = run_labthings("serve", target)
    assert result.returncode == 2
    assert result.stderr == f"labthings: {target} is {found}; {NEEDED}\n"


def test_a_thing_that_cannot_be_described_is_one_line_naming_the_action(tmp_path: Path) -> None:
    target = f"{write(tmp_path, 'camera.py', CAMERA_RETURNING_BYTES)}:labthing"
    result = run_labthings("serve", target)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(
        f"labthings: cannot serve {target}: action 'Camera.take', return value: "
    )
    assert "annotate the return -> Blob" in line

    debugged = run_labthings("serve", target, "--debug")
    assert debugged.returncode == 2
    assert "Traceback" in debugged.stderr
    assert debugged.stderr.splitlines()[-1] == line


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("import no_such_module_for_labthings\n", "ModuleNotFoundError: No module named"),
        ("values = (1,\n", "SyntaxError: "),
    ],
)
def test_a_target_file_that_cannot_be_imported_is_one_line(
    tmp_path: Path, content: str, error: str
) -> None:
    target = str(write(tmp_path, "broken_lab.py", content))
    result = run_labthings("serve", target)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"labthings: cannot serve {target}:labthing: {error}")

    debugged = run_labthings("serve", target, "--debug")
    assert "Traceback" in debugged.stderr and "broken_lab.py" in debugged.stderr
    assert debugged.stderr.splitlines()[-1] == line


def test_a_factory_that_fails_is_one_line_with_exit_1(tmp_path: Path) -> None:
    target = f"{write(tmp_path, 'factory.py', FACTORY_WITHOUT_ITS_PORT)}:make_labthing"
    result = run_labthings("serve", target, "--option", "port=/dev/ttyX")
    assert result.returncode == 1
    assert result.stderr == "labthings: could not start: OSError: cannot open /dev/ttyX\n"
    assert "Traceback" in run_labthings("serve", target, "--debug").stderr


def test_a_thing_that_fails_to_open_is_reported_without_a_traceback(tmp_path: Path) -> None:
    target = str(write(tmp_path, "lamp.py", LAMP_NOT_PLUGGED_IN))
    result = run_labthings("serve", target, "--port", "0")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines == [
        "labthings: could not start: thing 'lamp' failed to open: OSError: no lamp on /dev/ttyLAMP"
    ]

    debugged = run_labthings("serve", target, "--port", "0", "--debug")
    assert debugged.returncode == 1
    assert "Traceback" in debugged.stderr
    assert debugged.stderr.splitlines()[-1] == lines[-1]


def test_a_port_in_use_is_one_line_that_suggests_another(tmp_path: Path) -> None:
    record = tmp_path / "record.txt"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_labthings(
            "serve", TARGET, "--port", str(port), env={"LABTHINGS_TEST_RECORD": str(record)}
        )
    assert result.returncode == 1
    assert result.stderr == (
        f"labthings: port {port} on 127.0.0.1 is already in use; "
        "stop the other server or choose another with --port\n"
    )
    assert not record.exists()  # no Thing was opened


def test_an_address_of_another_computer_is_one_line() -> None:
    # TEST-NET-1; --no-auth, else a server on an address beyond this PC needs a token first.
    result = run_labthings("serve", TARGET, "--host", "192.0.2.1", "--port", "0", "--no-auth")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("labthings: cannot listen on 192.0.2.1:0: ")
