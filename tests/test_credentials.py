"""Tests for loading camera credential sets from TOML."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitescout.probes.credentials import Credential, CredentialsFileError, load_credentials

SECRET = "s3cr3t-Pa55"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "creds.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_loads_entries_in_order(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f'[[credentials]]\nusername = "admin"\npassword = "{SECRET}"\n\n'
        '[[credentials]]\nusername = "Thôn Đồng Bùa"\npassword = ""\n',
    )
    creds = load_credentials(path)
    assert creds == [Credential("admin", SECRET), Credential("Thôn Đồng Bùa", "")]


def test_repr_and_str_hide_password() -> None:
    cred = Credential("admin", SECRET)
    assert SECRET not in repr(cred)
    assert SECRET not in str(cred)
    assert SECRET not in repr([cred])
    assert "admin" in repr(cred)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no [[credentials]] entries"),
        ('credentials = "x"\n', "'credentials' must be an array of tables"),
        ('[other]\nx = 1\n', "unknown top-level key(s) other"),
        (f'[[credentials]]\npassword = "{SECRET}"\n', "credentials entry 1: 'username' must be a non-empty string"),
        ('[[credentials]]\nusername = "a"\npassword="b"\n[[credentials]]\nusername = "admin"\n',
         "credentials entry 2 (username 'admin'): 'password' is missing"),
        ('[[credentials]]\nusername = "admin"\npassword = 12345678\n',
         "credentials entry 1 (username 'admin'): 'password' must be a string, not int"),
        (f'[[credentials]]\nusername = "admin"\npassword = "{SECRET}"\npasword = "{SECRET}"\n',
         "credentials entry 1: unknown key(s) pasword"),
        (f'[[credentials]]\nusername = "admin"\npassword = "{SECRET}\n', "not valid TOML"),
    ],
)
def test_bad_input_names_file_and_entry_never_password(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(CredentialsFileError) as info:
        load_credentials(path)
    text_of_error = str(info.value)
    assert str(path) in text_of_error
    assert message in text_of_error
    assert SECRET not in text_of_error
    assert "12345678" not in text_of_error
    assert info.value.__cause__ is None  # a chained TOML error could quote the line


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CredentialsFileError, match="cannot read"):
        load_credentials(tmp_path / "absent.toml")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "creds.toml"
    path.write_bytes(b'[[credentials]]\nusername = "\xff"\n')
    with pytest.raises(CredentialsFileError, match="not UTF-8"):
        load_credentials(path)
