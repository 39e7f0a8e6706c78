"""Camera credentials: encrypted at rest, never in API records, readable only with the operator's key."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from sitescout.inventory import store
from sitescout.inventory.models import Commune, Device, Region, Site
from sitescout.inventory.secrets import (
    SecretKeyError,
    generate_key,
    get_device_credential,
    load_key,
    set_device_credential,
)

PASSWORD = "Sup3r-s3cret-camera-pw"


def _device(session) -> int:
    region = Region(name="R")
    site = Site(name="S", commune=Commune(name="C", region=region))
    site.devices.append(Device(name="cam", kind="camera", ip="127.0.0.5"))
    session.add(region)
    session.flush()
    return site.devices[0].id


def test_credential_round_trip_and_never_in_api(database, tmp_path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(generate_key() + "\n")
    key = load_key(key_file)
    with database.session() as s:
        dev = _device(s)
        set_device_credential(s, dev, "admin", PASSWORD, key=key)
    with database.session() as s:
        raw = s.execute(text("SELECT credential_encrypted FROM devices")).scalar_one()
        assert PASSWORD.encode() not in bytes(raw) and b"admin" not in bytes(raw)
        summary = store.list_devices(s)[0]
        assert summary.has_credential is True
        assert PASSWORD not in repr(summary.to_dict()) and PASSWORD not in repr(store.get_site(s, summary.site_id))
        cred = get_device_credential(s, dev, key=key)
        assert cred is not None and (cred.username, cred.password) == ("admin", PASSWORD)
        assert PASSWORD not in repr(cred)
        with pytest.raises(SecretKeyError, match="another key"):
            get_device_credential(s, dev, key=generate_key().encode())


def test_key_from_environment_and_errors(tmp_path) -> None:
    key = generate_key()
    assert load_key(environ={"SITESCOUT_SECRET_KEY": key}) == key.encode()
    path = tmp_path / "k"
    path.write_text(key)
    assert load_key(environ={"SITESCOUT_SECRET_KEY_FILE": str(path)}) == key.encode()
    with pytest.raises(SecretKeyError, match="set SITESCOUT_SECRET_KEY"):
        load_key(environ={})
    with pytest.raises(SecretKeyError, match="not a Fernet key"):
        load_key(environ={"SITESCOUT_SECRET_KEY": "short"})
    with pytest.raises(SecretKeyError, match="cannot read"):
        load_key(tmp_path / "missing")
