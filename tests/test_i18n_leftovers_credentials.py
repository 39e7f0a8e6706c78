"""`--credentials FILE` that is wrong is said in the command's language (vi and en); never with a password."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitescout.cli import main
from sitescout.inventory.errors import Coded
from sitescout.probes.credentials import load_credentials
from sitescout.probes.errors import CredentialsFileError

SECRET = "s3cr3t-Hướng-Đạo"


def _survey(tmp_path: Path, capsys: pytest.CaptureFixture[str], lang: str, text: str) -> str:
    path = tmp_path / "cameras.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SystemExit) as exit_:
        main(["--lang", lang, "survey", "--site", "Thôn Đồng Bùa", "--network", "127.0.0.1/32",
              "--credentials", str(path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert SECRET not in err
    return err


def test_the_detail_is_coded_without_the_password(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[[credentials]]\nusername = "admin"\npasword = "{SECRET}"\n', encoding="utf-8")
    with pytest.raises(CredentialsFileError) as failed:
        load_credentials(path)
    assert isinstance(failed.value.detail, Coded) and failed.value.detail.code == "entry_unknown_keys"
    assert failed.value.detail.params == {"entry": 1, "keys": "pasword"}
    assert SECRET not in str(failed.value)


@pytest.mark.parametrize("lang,text,words", [
    ("vi", '[[credentials]]\nusername = "admin"\n', "tài khoản thứ 1 (username 'admin'): thiếu 'password'"),
    ("en", '[[credentials]]\nusername = "admin"\n', "credentials entry 1 (username 'admin'): 'password' is missing"),
    ("vi", f'[[credentials]]\nusername = "admin"\npassword = 1234\n[[credentials]]\npassword = "{SECRET}"\n',
     "tài khoản thứ 1 (username 'admin'): 'password' phải là chuỗi, không phải int"),
    ("vi", f'[[credentials]]\npassword = "{SECRET}"\n', "tài khoản thứ 1: 'username' phải là chuỗi không rỗng"),
    ("en", f'[[credentials]]\npassword = "{SECRET}"\n', "credentials entry 1: 'username' must be a non-empty string"),
    ("vi", f'[cameras]\npassword = "{SECRET}"\n', "khóa cấp ngoài cùng không có: cameras;"),
])
def test_a_bad_credentials_file_in_both_languages(tmp_path: Path, capsys: pytest.CaptureFixture[str], lang: str,
                                                  text: str, words: str) -> None:
    err = _survey(tmp_path, capsys, lang, text)
    assert f"--credentials: {tmp_path / 'cameras.toml'}: {words}" in err, err
    assert ("lỗi:" in err) == (lang == "vi")
