"""The `beauty` command group. Each subcommand parses options, calls one API function, prints."""

from __future__ import annotations

import errno
import os
import sqlite3
import sys
from typing import Any

import click

from beauty import __version__
from beauty import score as scoring
from beauty.crowd import crowd_group
from beauty.demo import demo_command
from beauty.doctor import doctor_command
from beauty.gold import gold_group
from beauty.hits import hits_group
from beauty.images import images_group
from beauty.infra_cmd import infra_group
from beauty.init import init_command
from beauty.label import label_group
from beauty.plan import plan_command
from beauty.rank import rank_command
from beauty.report import report_command
from beauty.train import evaluate_command, train_command
from beauty.votes import votes_group
from beauty.weights import weights_group
from beauty.workers import workers_group
from infra.errors import BeautyError
from infra.ledger import damaged, is_damage
from infra.text import display_name
from infra.workspace import LEDGER_NAME

PRIVATE_UMASK = 0o077


class BeautyGroup(click.Group):
    """Reports user errors (and AWS failures) in one line on stderr with exit code 1; click
    uses 2 for usage errors."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BeautyError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except sqlite3.DatabaseError as exc:
            # Damage found as pages are read (a large ledger is not checked whole on open).
            if not is_damage(exc):
                raise
            click.echo(f"error: {damaged(LEDGER_NAME, str(exc))}", err=True)
            ctx.exit(1)
        except OSError as exc:
            # The file system said no (a name too long, a full disk, no permission): the
            # user's to fix. Writers are atomic, so nothing is left half-written.
            if exc.errno not in FILE_SYSTEM_ERRORS:
                raise
            where = f" {display_name(str(exc.filename))}" if exc.filename else ""
            click.echo(
                f"error: cannot write or read{where} ({exc.strerror}): {_hint(exc)}", err=True
            )
            ctx.exit(1)
        except Exception as exc:
            # AWS failures that no part translated (credentials, permissions, network) are the
            # user's to fix too; botocore is only imported here once one has happened.
            if not type(exc).__module__.startswith("botocore"):
                raise
            from infra.aws import user_error

            click.echo(f"error: {user_error(exc)}", err=True)
            ctx.exit(1)


FILE_SYSTEM_ERRORS = {
    errno.ENAMETOOLONG: "use a shorter folder or file name",
    errno.ENOSPC: "free some disk space and run it again",
    errno.EDQUOT: "free some disk space and run it again",
    errno.EACCES: "check the permissions of the file and its folder",
    errno.EPERM: "check the permissions of the file and its folder",
    errno.EROFS: "the file system is read-only: choose another folder",
}


def _hint(exc: OSError) -> str:
    return FILE_SYSTEM_ERRORS.get(exc.errno or 0, "check the path")


@click.group(cls=BeautyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--workspace",
    "-w",
    type=click.Path(file_okay=False),
    envvar="BEAUTY_WORKSPACE",
    help="Workspace folder (default: the current folder or a parent holding beauty.toml).",
)
@click.version_option(__version__, prog_name="beauty")
def cli(workspace: str | None) -> None:
    """Beauty Crowd: crowd comparisons -> beauty scores -> a model that scores a whole gallery."""
    # What a command writes (ledger, tables, reports, runs) is its owner's alone: 0600 / 0700.
    previous = os.umask(PRIVATE_UMASK)
    click.get_current_context().call_on_close(lambda: os.umask(previous))


cli.add_command(init_command)
cli.add_command(images_group)
cli.add_command(gold_group)
cli.add_command(hits_group)
cli.add_command(demo_command)
cli.add_command(doctor_command)
cli.add_command(label_group)
cli.add_command(crowd_group)
cli.add_command(votes_group)
cli.add_command(rank_command)
cli.add_command(plan_command)
workers_group.add_command(report_command)
cli.add_command(workers_group)
cli.add_command(infra_group)
cli.add_command(weights_group)
cli.add_command(train_command)
cli.add_command(evaluate_command)
cli.add_command(scoring.score_command)
cli.add_command(scoring.curate_command)
cli.add_command(scoring.similar_command)
cli.add_command(scoring.personalize_command)
cli.add_command(scoring.export_command)


def main() -> None:
    # TensorFlow's C++ start-up chatter would bury the progress lines of training and scoring.
    # Its oneDNN notice ignores the log level and comes twice; it goes only with oneDNN's
    # custom CPU kernels (TF_ENABLE_ONEDNN_OPTS=1 brings them back). Set before TensorFlow loads.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    cli(prog_name="beauty", args=sys.argv[1:])
