"""`geomap users ...`: accounts (password + TOTP)."""

from __future__ import annotations

import sys

import click

from ..errors import NotFound
from . import _actor, _store, main


@main.group()
def users() -> None:
    """Accounts. Every account signs in with a password and a second factor (TOTP)."""


def _accounts(ctx):
    from ..store.accounts import AccountStore

    return AccountStore(_store(ctx))


def _user_or_fail(ctx, username: str):
    user = _accounts(ctx).by_name(username)
    if user is None:
        raise NotFound(f"no user named {username!r}", field="username")
    return user


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("password", hide_input=True, confirmation_prompt=True)


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "researcher", "analyst", "viewer"]),
              required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def users_add(ctx, username, role, password_stdin):
    """Add an account; it sets up its second factor at first sign-in."""
    from .. import accounts as acc
    from ..policy import Role

    name = acc.new_username(username, _accounts(ctx).exists)
    pw_hash = acc.hash_password(_read_password(password_stdin))
    user = _accounts(ctx).add(name, Role(role), pw_hash, actor=_actor())
    click.echo(f"added {user.username} ({user.role}); the second factor is set up at first sign-in")


@users.command("list")
@click.pass_context
def users_list(ctx):
    for u in _accounts(ctx).all():
        mfa = "mfa" if u.totp_secret else "mfa-pending"
        click.echo(f"{u.username}\t{u.role}\t{'active' if u.active else 'disabled'}\t{mfa}\t"
                   f"{len(u.recovery_hashes)} recovery codes left")


@users.command("disable")
@click.argument("username")
@click.pass_context
def users_disable(ctx, username):
    """Disable an account and end its sessions at once."""
    user = _user_or_fail(ctx, username)
    _accounts(ctx).set_active(user.id, False, actor=_actor())  # refuses the last enabled admin
    click.echo(f"disabled {username}; its sessions are ended")


@users.command("enable")
@click.argument("username")
@click.pass_context
def users_enable(ctx, username):
    user = _user_or_fail(ctx, username)
    _accounts(ctx).set_active(user.id, True, actor=_actor())
    click.echo(f"enabled {username}")


@users.command("reset-mfa")
@click.argument("username")
@click.pass_context
def users_reset_mfa(ctx, username):
    """Clear the second factor (lost phone): the user enrols again at next sign-in."""
    user = _user_or_fail(ctx, username)
    _accounts(ctx).reset_mfa(user.id, actor=_actor())
    click.echo(f"{username}: second factor cleared, sessions ended; they enrol again at sign-in")


@users.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True)
@click.pass_context
def users_reset_password(ctx, username, password_stdin):
    """Set a new password and end the user's sessions. The second factor stays required."""
    from .. import accounts as acc

    user = _user_or_fail(ctx, username)
    _accounts(ctx).reset_password(user.id, acc.hash_password(_read_password(password_stdin)),
                                  actor=_actor())
    click.echo(f"{username}: password changed, sessions ended; the second factor is still "
               "required")


@users.command("reset-link")
@click.argument("username")
@click.pass_context
def users_reset_link(ctx, username):
    """Make a one-time link (24 h) for the user to set a new password; prints its path (put
    the server's address in front). The old password stops working and sessions end."""
    from .. import accounts as acc

    user = _user_or_fail(ctx, username)
    token = _accounts(ctx).issue_password_link(user.id, actor=_actor())
    click.echo(f"{username}: password cleared, sessions ended. One-time link (valid "
               f"{acc.RESET_TTL_S // 3600} h), give it over a channel you trust:")
    click.echo(acc.reset_link_path(token))
