"""Benching phones reserved from DeviceFarmer/STF: reserve, adb connect, measure, give back.

The STF server is a local stand-in speaking STF's documented REST API (``tests/stf_server.py``);
the phones behind it are emulated devices reached with ``adb connect``, as STF's providers are.
"""

from __future__ import annotations

import pytest

from host.cli import main
from host.devices.selection import stf
from host.devices.transport.adb import disconnect_device, wheel_adb
from host.devices.transport.device import list_devices
from host.emulator import manager
from host.store import ResultsStore
from tests.adb_fixtures import private_adb_server
from tests.stf_server import TOKEN, Farm, FarmPhone, stf_server

FAST = [
    "--min-runs",
    "10",
    "--min-seconds",
    "0.05",
    "--warmup-seconds",
    "0.01",
    "--modes",
    "none,float16",
    "--backends",
    "cpu1",
    "--limit",
    "20",
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """An adb server and two emulated phones, none connected yet: STF hands them out (a third
    device in the farm is on a provider that is gone)."""
    root = tmp_path_factory.mktemp("stf")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUANTBENCH_DATA_DIR", str(root / "data"))
        patch.setenv("QUANTBENCH_CACHE_DIR", str(root / "cache"))
        with private_adb_server(wheel_adb()) as server:
            phones = [manager.start(server.address, 0, root / f"phone{i}", profile="shell-python") for i in range(2)]
            for phone in phones:
                disconnect_device(server.address, phone.serial)
            yield server.address, phones, root
            for phone in phones:
                manager.stop_state(server.address, phone)


@pytest.fixture()
def farm(lab):
    _, phones, _ = lab
    return Farm(
        {
            "FREE-1": FarmPhone("FREE-1", phones[0].serial),
            "TAKEN-2": FarmPhone("TAKEN-2", phones[1].serial, owner="someone@else.org"),
            "GONE-3": FarmPhone("GONE-3", "127.0.0.1:9", fields={"model": "Gone", "sdk": "30", "abi": "arm64-v8a"}),
        }
    )


def _bench(lab, url: str, *extra: str) -> int:
    address, _, root = lab
    return main(
        [
            "bench",
            "--stf",
            url,
            "--adb-server",
            f"{address.host}:{address.port}",
            "--db",
            str(root / "r.sqlite"),
            *FAST,
            *extra,
        ]
    )


def test_a_bench_on_the_devices_a_filter_picks_gives_them_back(lab, farm, monkeypatch, capsys):
    monkeypatch.setenv("STF_TOKEN", TOKEN)
    with stf_server(farm) as url:
        assert _bench(lab, url, "--stf-filter", "sdk>=34,abi=x86_64") == 0
    out = capsys.readouterr().out
    assert "reserved FREE-1" in out and "gave FREE-1 back to STF" in out
    assert ("POST", "/api/v1/user/devices") in farm.calls
    assert ("DELETE", "/api/v1/user/devices/FREE-1/remoteConnect") in farm.calls
    assert ("DELETE", "/api/v1/user/devices/FREE-1") in farm.calls and farm.phones["FREE-1"].owner is None
    assert farm.phones["TAKEN-2"].owner == "someone@else.org", "another user's phone is never touched"
    address, phones, root = lab
    assert phones[0].serial not in {e.serial for e in list_devices(address)}, "adb disconnect after the run"
    store = ResultsStore(root / "r.sqlite", read_only=True)
    run = store.load_run("latest")
    store.close()
    assert len(run.cells) == 2 and all(c.ok for c in run.cells) and run.devices[0].adb_serial == phones[0].serial


def test_a_wrong_token_a_taken_device_and_a_vanished_provider_each_say_what_happened(lab, farm, monkeypatch, capsys):
    with stf_server(farm) as url:
        monkeypatch.setenv("STF_TOKEN", "not-the-token")
        assert _bench(lab, url, "--device", "FREE-1") == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "refused the token in $STF_TOKEN (401: Requires Authentication)" in err[0]
        monkeypatch.setenv("STF_TOKEN", TOKEN)
        assert _bench(lab, url, "--device", "TAKEN-2") == 1
        err = capsys.readouterr().err
        assert "TAKEN-2 could not be reserved: it is in use by someone else" in err and "Device is being used" in err
        assert _bench(lab, url, "--device", "GONE-3") == 1
        err = capsys.readouterr().err
        assert "STF gave 127.0.0.1:9 for GONE-3, but adb cannot connect there: its provider may be gone" in err
        assert farm.phones["GONE-3"].owner is None, "the reservation was given back"
        assert _bench(lab, url, "--stf-filter", "model~pixel") == 2
        assert "no free STF device matches 'model~pixel'" in capsys.readouterr().err
    monkeypatch.delenv("STF_TOKEN")
    assert _bench(lab, "http://127.0.0.1:9", "--device", "FREE-1") == 2
    assert "--stf needs an access token in $STF_TOKEN" in capsys.readouterr().err


def test_ctrl_c_gives_every_reservation_back(lab, farm):
    address, phones, _ = lab
    with stf_server(farm) as url:
        client = stf.StfClient(url, TOKEN)
        with (
            pytest.raises(KeyboardInterrupt),
            stf.reserved(address, client, ("FREE-1",), None, 600, lambda _: None) as devices,
        ):
            assert devices[0].serial == phones[0].serial and farm.phones["FREE-1"].owner
            raise KeyboardInterrupt
    assert farm.phones["FREE-1"].owner is None
    assert phones[0].serial not in {e.serial for e in list_devices(address)}
