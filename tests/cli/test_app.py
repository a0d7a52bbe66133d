"""The root command: every verb listed, each verb's module imported only when it runs."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from mamcli.cli import app
from mamcli.cli.app import VERBS

PROBE = """
import sys
from mamcli.cli import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
print(",".join(sorted(m for m in sys.modules if m.startswith("mamcli.cli.") and
      m.rsplit(".", 1)[1] in {VERBS})))
"""


def test_root_help_lists_every_verb_with_its_summary() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in VERBS:
        assert f" {name} " in result.output
    assert "Make prompt files" in result.output and "Compare predicted alpha" in result.output


def test_a_verb_loads_only_its_own_module() -> None:
    probe = PROBE.replace("{VERBS}", repr(set(VERBS.values())))
    done = subprocess.run(
        [sys.executable, "-c", probe, "weights", "list", "--json"], capture_output=True, text=True
    )
    assert done.stdout.strip().splitlines()[-1] == "mamcli.cli.weights", done.stderr


def test_group_verbs_keep_their_sub_verbs() -> None:
    result = CliRunner().invoke(app, ["prompts", "--help"])
    assert result.exit_code == 0 and "from-alpha" in result.output
    result = CliRunner().invoke(app, ["nosuchverb"])
    assert result.exit_code == 2 and "nosuchverb" in result.output
