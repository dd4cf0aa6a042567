"""FIF files that are not raw recordings: each kind made by MNE itself, read back by MNE's reader for it.

Before, every FIF that was not a raw recording (a head->MRI transform, BEM surfaces, fiducials,
evoked, epochs, covariance, forward/inverse, source spaces) was CORRUPT_FILE ("Could not find
measurement data"). Now the kind is read from the block tree and summarized, loaded and sliced
through MNE; files cut short or damaged stay CORRUPT_FILE.
"""

from __future__ import annotations

import shutil
import struct
import time

import mne
import numpy as np
import pytest

from io_core import IOCoreError, Workspace
from io_core import limits as io_limits
from io_core.formats import fif_tags

LOG = "critical"
SFREQ = 100.0
CHANNELS = ["Fz", "Cz", "Pz", "Oz", "C3", "C4"]


def _code(fn, *args, **kwargs) -> IOCoreError:
    with pytest.raises(IOCoreError) as info:
        fn(*args, **kwargs)
    return info.value


def _raw(n_times: int = 1000) -> mne.io.RawArray:
    rng = np.random.default_rng(0)
    data = rng.standard_normal((7, n_times)) * 1e-5
    data[6] = 0
    data[6, 100::100] = 1
    data[6, 150::100] = 2
    info = mne.create_info([*CHANNELS, "STI"], SFREQ, ["eeg"] * 6 + ["stim"])
    raw = mne.io.RawArray(data, info, verbose=LOG)
    raw.set_montage(mne.channels.make_standard_montage("standard_1020"), on_missing="ignore", verbose=LOG)
    return raw


def _surface(surface_id: int, radius: float) -> dict:
    ico = mne.surface._get_ico_surface(2)
    return {"rr": ico["rr"] * radius, "tris": ico["tris"], "id": surface_id, "sigma": 0.3, "coord_frame": 5,
            "np": len(ico["rr"]), "ntri": len(ico["tris"])}


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict:
    """One file of each kind, written by MNE, with the objects it was made from."""
    folder = tmp_path_factory.mktemp("fif")
    with mne.utils.use_log_level(LOG):
        raw = _raw()
        raw.save(folder / "rec_raw.fif")
        events = mne.find_events(raw, "STI")
        epochs = mne.Epochs(raw, events, {"a": 1, "b": 2}, tmin=-0.1, tmax=0.3, preload=True, baseline=None)
        epochs.save(folder / "x-epo.fif")
        evokeds = [epochs["a"].average(), epochs["b"].average()]
        mne.write_evokeds(folder / "x-ave.fif", evokeds)
        cov = mne.compute_raw_covariance(raw, picks="eeg")
        mne.write_cov(folder / "x-cov.fif", cov)
        trans = mne.transforms.Transform("head", "mri", mne.transforms.translation(0.001, 0.002, 0.04))
        mne.write_trans(folder / "x-trans.fif", trans)
        points = [{"kind": 1, "ident": i + 1, "r": np.array([0.01 * i, 0.02, 0.03]), "coord_frame": 5}
                  for i in range(3)]
        mne.io.write_fiducials(folder / "x-fiducials.fif", points, coord_frame=5)
        mne.write_bem_surfaces(folder / "x-bem.fif", [_surface(4, 0.09)])
        mne.write_bem_solution(folder / "x-bem-sol.fif", mne.make_bem_solution([_surface(1, 0.08)]))
        sphere = mne.make_sphere_model("auto", "auto", raw.info)
        src = mne.setup_volume_source_space(pos=30.0, sphere=sphere, exclude=20.0)
        src.save(folder / "x-src.fif")
        fwd = mne.make_forward_solution(raw.info, trans, src, sphere, meg=False, eeg=True)
        mne.write_forward_solution(folder / "x-fwd.fif", fwd)
        raw.set_eeg_reference(projection=True)
        inv = mne.minimum_norm.make_inverse_operator(raw.info, fwd, cov, loose=1.0, depth=None)
        mne.minimum_norm.write_inverse_operator(folder / "x-inv.fif", inv)
        mne.write_proj(folder / "x-proj.fif", raw.info["projs"])
        mne.io.write_info(folder / "x-info.fif", raw.info)
        ica = mne.preprocessing.ICA(n_components=3, method="infomax", max_iter=50, random_state=0)
        ica.fit(raw.copy().pick("eeg"))
        ica.exclude = [1]
        ica.save(folder / "x-ica.fif")
        mne.write_trans(folder / "g-trans.fif.gz", trans)
    return {"folder": folder, "raw": raw, "epochs": epochs, "evokeds": evokeds, "cov": cov, "trans": trans,
            "fwd": fwd, "inv": inv, "src": src}


@pytest.fixture
def ws(made) -> Workspace:
    return Workspace([made["folder"]])


# -- every kind summarizes, as its kind ----------------------------------------------------------

def test_kind_detected_from_the_block_tree(made):
    expected = {"rec_raw.fif": "raw", "x-epo.fif": "epochs", "x-ave.fif": "evoked", "x-cov.fif": "covariance",
                "x-trans.fif": "transform", "x-fiducials.fif": "fiducials", "x-bem.fif": "bem_surfaces",
                "x-bem-sol.fif": "bem_solution", "x-src.fif": "source_spaces", "x-fwd.fif": "forward",
                "x-inv.fif": "inverse", "x-proj.fif": "projections", "x-info.fif": "info", "x-ica.fif": "ica",
                "g-trans.fif.gz": "transform"}
    for name, kind in expected.items():
        path = made["folder"] / name
        assert fif_tags.walk(path).problem is None, name
        assert fif_tags.kind_of(*fif_tags.open_tree(path)) == kind, name


def test_transform(ws):
    s = ws.summarize("x-trans.fif").summary
    assert (s.kind, s.type) == ("value", "transform")
    assert s.preview["from"] == "head" and s.preview["to"] == "mri"
    assert s.preview["translation_mm"] == [1.0, 2.0, 40.0]
    assert s.preview["matrix"][2][3] == 0.04 and s.preview["rotation_deg"] == 0.0
    assert isinstance(ws.load("x-trans.fif"), mne.transforms.Transform)
    assert ws.read_slice("x-trans.fif", selection="2, :").slice.values == pytest.approx([0.0, 0.0, 1.0, 0.04])


def test_bem_surfaces_and_solution(ws):
    s = ws.summarize("x-bem.fif").summary
    assert (s.type, s.length) == ("bem_surfaces", 1)
    surf = s.preview["surfaces"][0]
    assert (surf["id"], surf["name"], surf["n_vertices"], surf["n_triangles"], surf["sigma"]) == (
        4, "outer skin", 162, 320, 0.3)
    assert surf["extent_m"][1][0] == pytest.approx(0.09)
    s = ws.summarize("x-bem-sol.fif").summary
    assert s.type == "bem_solution" and s.preview["read_by"] == "mne.read_bem_solution"
    assert s.preview["solution_shape"] == [162, 162] and s.preview["surfaces"][0]["name"] == "brain"
    assert isinstance(ws.load("x-bem-sol.fif"), mne.bem.ConductorModel)


def test_large_bem_solution_summarized_without_its_matrix(ws, monkeypatch):
    from io_core.formats import fif_kinds

    monkeypatch.setattr(fif_kinds, "WHOLE_SUMMARY_BYTES", 1000)  # as if the file were larger than 64 MiB
    s = ws.summarize("x-bem-sol.fif").summary
    assert s.preview["solution_shape"] == [162, 162] and "not read" in s.preview["note"]
    assert s.preview["surfaces"][0]["n_vertices"] == 162


def test_kinds_read_whole_refused_past_the_member_limit(ws):
    old = io_limits.set_current(io_limits.DEFAULT.with_overrides(max_member_bytes=10_000))
    try:
        assert _code(ws.summarize, "x-fwd.fif").code == "TOO_LARGE"
        assert _code(ws.read_slice, "x-inv.fif").code == "UNSUPPORTED_OPERATION"  # refused before reading
        assert ws.summarize("x-trans.fif").summary.type == "transform"  # small files still read
    finally:
        io_limits.set_current(old)


def test_bem_solution_mne_cannot_reload_still_summarizes(tmp_path):
    # MNE writes a one-layer solution of the outer skin, but read_bem_solution wants the inner skull
    with mne.utils.use_log_level(LOG):
        mne.write_bem_solution(tmp_path / "skin-bem-sol.fif", mne.make_bem_solution([_surface(4, 0.09)]))
    s = Workspace([tmp_path]).summarize("skin-bem-sol.fif").summary
    assert s.type == "bem_solution" and "read_bem_solution refused" in s.preview["note"]
    assert s.preview["surfaces"][0]["name"] == "outer skin"


def test_fiducials(ws):
    s = ws.summarize("x-fiducials.fif").summary
    assert (s.type, s.length) == ("fiducials", 3)
    assert s.preview["coord_frame"] == "mri" and s.preview["counts"] == {"cardinal": 3}
    assert [p["ident"] for p in s.preview["points"]] == ["lpa", "nasion", "rpa"]
    assert s.preview["points"][1]["r_m"] == [0.01, 0.02, 0.03]


def test_long_point_lists_are_cut_and_say_so(tmp_path):
    points = [{"kind": 3, "ident": i + 1, "r": np.array([0.001 * i, 0.0, 0.05]), "coord_frame": 4} for i in range(60)]
    mne.io.write_fiducials(tmp_path / "many-dig.fif", points, coord_frame=4, verbose=LOG)
    s = Workspace([tmp_path]).summarize("many-dig.fif").summary
    assert (s.length, s.truncated, s.preview["counts"], s.preview["coord_frame"]) == (60, True, {"eeg": 60}, "head")
    assert len(s.preview["points"]) == 50


def test_covariance(ws, made):
    s = ws.summarize("x-cov.fif").summary
    assert s.type == "covariance"
    p = s.preview
    assert (p["kind"], p["n_channels"], p["n_samples"], p["diagonal"]) == ("noise", 6, made["cov"]["nfree"], False)
    assert p["channels"] == CHANNELS and s.truncated is False
    part = ws.read_slice("x-cov.fif", selection="0:2, 0:2").slice
    np.testing.assert_allclose(part.values, made["cov"]["data"][:2, :2], rtol=1e-6)
    assert isinstance(ws.load("x-cov.fif"), mne.Covariance)


def test_forward_inverse_source_spaces(ws, made):
    n_sources = made["fwd"]["nsource"]
    s = ws.summarize("x-fwd.fif").summary
    p = s.preview
    assert s.type == "forward"
    assert (p["n_channels"], p["n_sources"], p["source_orientation"], p["coord_frame"]) == (6, n_sources, "free", "head")
    assert p["gain_shape"] == [6, 3 * n_sources] and p["channel_types"] == {"eeg": 6}
    part = ws.read_slice("x-fwd.fif", selection="0:2, 0:5").slice
    np.testing.assert_allclose(part.values, made["fwd"]["sol"]["data"][:2, :5], rtol=1e-6)

    s = ws.summarize("x-inv.fif").summary
    p = s.preview
    assert s.type == "inverse"
    assert (p["n_channels"], p["n_sources"], p["methods"], p["source_orientation"]) == (6, n_sources, "EEG", "free")
    assert p["noise_cov"]["n_channels"] == 6 and p["n_projections"] == 1
    assert isinstance(_handler_load(made, "x-inv.fif"), mne.minimum_norm.InverseOperator)
    assert isinstance(_handler_load(made, "x-fwd.fif"), mne.Forward)
    assert _code(ws.read_slice, "x-inv.fif").code == "UNSUPPORTED_OPERATION"

    s = ws.summarize("x-src.fif").summary
    assert s.type == "source_spaces" and s.preview["n_sources"] == n_sources
    assert s.preview["spaces"][0]["type"] == "discrete" and s.preview["spaces"][0]["n_used"] == n_sources
    assert isinstance(ws.load("x-src.fif"), mne.SourceSpaces)


def _handler_load(made, name: str):
    from io_core.formats.eeg import FIF
    from io_core.options import ReadOptions

    return FIF.load(made["folder"] / name, ReadOptions())


def test_forward_and_inverse_load_through_the_workspace(ws):
    assert isinstance(ws.load("x-fwd.fif"), mne.Forward)
    assert isinstance(ws.load("x-inv.fif"), mne.minimum_norm.InverseOperator)


def test_ica(ws):
    s = ws.summarize("x-ica.fif").summary
    p = s.preview
    assert (s.type, p["method"], p["n_components"], p["n_channels"], p["exclude"]) == ("ica", "infomax", 3, 6, [1])
    assert isinstance(ws.load("x-ica.fif"), mne.preprocessing.ICA)


def test_gzipped_kinds(ws, made, tmp_path):
    import gzip

    s = ws.summarize("g-trans.fif.gz").summary
    assert s.type == "transform" and s.preview["translation_mm"] == [1.0, 2.0, 40.0]
    whole = gzip.decompress((made["folder"] / "g-trans.fif.gz").read_bytes())
    (tmp_path / "cut-trans.fif.gz").write_bytes(gzip.compress(whole[:150]))
    assert _code(Workspace([tmp_path]).summarize, "cut-trans.fif.gz").code == "CORRUPT_FILE"


def test_projections_and_info(ws):
    s = ws.summarize("x-proj.fif").summary
    assert s.type == "projections" and s.preview["projections"][0]["n_channels"] == 6
    s = ws.summarize("x-info.fif").summary
    assert (s.kind, s.reader, s.n_channels, s.n_times, s.sfreq) == ("recording", "Info", 7, 0, SFREQ)


def test_evoked(ws, made):
    s = ws.summarize("x-ave.fif").summary
    assert (s.kind, s.reader, s.n_channels, s.n_times, s.sfreq) == ("recording", "Evoked", 6, 41, SFREQ)
    assert s.first_time_s == pytest.approx(-0.1) and [c.name for c in s.channels] == CHANNELS
    assert "2 condition(s)" in s.note and "'b': average of" in s.note
    evokeds = made["evokeds"]
    part = ws.read_slice("x-ave.fif", key="b", selection="0:2, 0:5").slice
    np.testing.assert_allclose(part.values, evokeds[1].data[:2, :5], rtol=1e-6)
    assert ws.read_slice("x-ave.fif", selection="1, 0, 0:3").slice.source_shape == [2, 6, 41]
    np.testing.assert_allclose(ws.load("x-ave.fif", key="0"), evokeds[0].data, rtol=1e-6)
    assert [type(e) for e in ws.load("x-ave.fif")] == [mne.Evoked, mne.Evoked]
    err = _code(ws.load, "x-ave.fif", key="c")
    assert err.code == "KEY_NOT_FOUND" and "'a'" in err.hint


def test_epochs_lazy(ws, made):
    epochs = made["epochs"]
    s = ws.summarize("x-epo.fif").summary
    assert (s.reader, s.n_channels, s.n_times) == ("EpochsFIF", 7, 41)
    assert s.n_annotations == len(epochs) and s.annotation_counts == {"a": len(epochs["a"]), "b": len(epochs["b"])}
    assert s.annotations[0].onset == epochs.events[0, 0] / SFREQ and s.annotations[0].description == "a"
    loaded = ws.load("x-epo.fif")
    assert isinstance(loaded, mne.BaseEpochs) and not loaded.preload
    part = ws.read_slice("x-epo.fif", selection="-1, 1:3, 10:14").slice
    np.testing.assert_allclose(part.values, epochs.get_data()[-1, 1:3, 10:14], rtol=1e-6)
    np.testing.assert_allclose(ws.load("x-epo.fif", key="b"), epochs["b"].get_data(), rtol=1e-6)
    s = ws.summarize("x-epo.fif", key="a").summary
    assert s.kind == "array" and s.shape == [len(epochs["a"]), 7, 41]
    assert _code(ws.read_slice, "x-epo.fif", key="nope").code == "KEY_NOT_FOUND"


def test_epochs_load_refused_past_the_limit(ws):
    old = io_limits.set_current(io_limits.DEFAULT.with_overrides(max_member_bytes=10_000))
    try:
        err = _code(ws.load, "x-epo.fif", key="a")
    finally:
        io_limits.set_current(old)
    assert err.code == "TOO_LARGE"


def test_split_epochs_follow_pinned_parts(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    with mne.utils.use_log_level(LOG):
        raw = mne.io.RawArray(np.random.default_rng(1).standard_normal((20, 30000)) * 1e-5,
                              mne.create_info(20, 1000.0, "eeg"))
        epochs = mne.make_fixed_length_epochs(raw, duration=1.0, preload=True)
        epochs.save(root / "big-epo.fif", split_size="2MB")
    parts = sorted(p.name for p in root.iterdir())
    assert len(parts) >= 3
    ws = Workspace([root])
    assert ws.summarize("big-epo.fif").summary.n_annotations == 30
    np.testing.assert_allclose(ws.read_slice("big-epo.fif", selection="29, 0, 0:3").slice.values,
                               epochs.get_data()[29, 0, :3], rtol=1e-6)
    outside = tmp_path / "outside"
    outside.mkdir()
    last = root / parts[-1]
    shutil.move(last, outside / last.name)
    last.symlink_to(outside / last.name)
    assert _code(ws.summarize, "big-epo.fif").code == "PATH_OUTSIDE_ROOT"


# -- damaged files stay CORRUPT_FILE -------------------------------------------------------------

@pytest.mark.parametrize("name", ["x-trans.fif", "x-bem.fif", "x-fiducials.fif", "x-cov.fif", "x-epo.fif",
                                  "x-ave.fif", "x-fwd.fif", "x-inv.fif", "x-src.fif", "x-bem-sol.fif"])
def test_cut_short_is_corrupt(made, tmp_path, name):
    whole = (made["folder"] / name).read_bytes()
    ws = Workspace([tmp_path])
    for fraction in (0.3, 0.6, 0.9, 0.98):  # MNE's readers return part of several of these
        (tmp_path / name).write_bytes(whole[: int(len(whole) * fraction)])
        assert _code(ws.summarize, name).code == "CORRUPT_FILE", fraction
        assert _code(ws.load, name).code == "CORRUPT_FILE", fraction


def test_garbage_after_a_fif_header_is_corrupt(made, tmp_path):
    header = (made["folder"] / "x-trans.fif").read_bytes()[:36]  # the file id tag
    rng = np.random.default_rng(5)
    ws = Workspace([tmp_path])
    for i in range(5):
        (tmp_path / f"g{i}.fif").write_bytes(header + rng.integers(0, 256, 300 + 50 * i, dtype=np.uint8).tobytes())
        assert _code(ws.summarize, f"g{i}.fif").code == "CORRUPT_FILE"
    (tmp_path / "empty.fif").write_bytes((made["folder"] / "x-trans.fif").read_bytes()[:36 + 20])
    assert _code(ws.summarize, "empty.fif").code == "CORRUPT_FILE"


def test_tag_loop_is_refused_quickly(made, tmp_path):
    data = bytearray((made["folder"] / "x-cov.fif").read_bytes())
    pos, at = 0, []
    while pos + 16 <= len(data):  # make the last tag point back at the first block's start
        kind, _t, size, _n = struct.unpack(">iIii", data[pos:pos + 16])
        at.append((pos, kind))
        pos += 16 + size
    first_block = next(p for p, k in at if k == fif_tags.BLOCK_START)
    data[at[-1][0] + 12:at[-1][0] + 16] = struct.pack(">i", first_block)
    (tmp_path / "loop-cov.fif").write_bytes(bytes(data))
    start = time.perf_counter()
    err = _code(Workspace([tmp_path]).summarize, "loop-cov.fif")
    assert err.code == "CORRUPT_FILE" and "loop" in err.message
    assert time.perf_counter() - start < 2.0


def test_unknown_kind_lists_its_blocks(tmp_path):
    from mne._fiff.constants import FIFF
    from mne._fiff.write import end_block, start_and_end_file, start_block, write_int

    with start_and_end_file(tmp_path / "m.fif") as fid:
        start_block(fid, FIFF.FIFFB_MNE_MORPH_MAP)
        write_int(fid, FIFF.FIFF_MNE_COORD_FRAME, 5)
        end_block(fid, FIFF.FIFFB_MNE_MORPH_MAP)
    s = Workspace([tmp_path]).summarize("m.fif").summary
    assert s.kind == "tree" and s.children[0].name == "mne_morph_map" and s.attrs["fif_kind"] == "other"


def test_nothing_is_printed(ws, made, capfd):
    for path in sorted(made["folder"].iterdir()):
        ws.summarize(path.name)
    ws.read_slice("x-epo.fif", selection="0:3, 0, 0:5")
    ws.load("x-epo.fif", key="a")
    out, _ = capfd.readouterr()
    assert out == ""


# -- through the MCP server ----------------------------------------------------------------------

async def test_fif_kinds_through_the_mcp_tools(made, tmp_path):
    from fastmcp import Client

    from schemas import SliceResult, SummaryResult
    from server.app import create_app
    from server.settings import Settings

    for name in ("x-trans.fif", "x-bem.fif", "x-ave.fif"):
        shutil.copy(made["folder"] / name, tmp_path / name)
    async with Client(create_app(Settings(roots=[tmp_path]))) as client:
        s = SummaryResult.model_validate(
            (await client.call_tool("load_summary", {"path": "x-trans.fif"})).structured_content).summary
        assert s.type == "transform" and s.preview["translation_mm"] == [1.0, 2.0, 40.0]
        s = SummaryResult.model_validate(
            (await client.call_tool("load_summary", {"path": "x-bem.fif"})).structured_content).summary
        assert s.preview["surfaces"][0]["n_triangles"] == 320
        part = SliceResult.model_validate((await client.call_tool(
            "read_slice", {"path": "x-ave.fif", "key": "a", "selection": "0, 0:4"})).structured_content).slice
        np.testing.assert_allclose(part.values, made["evokeds"][0].data[0, :4], rtol=1e-6)
        (tmp_path / "cut-trans.fif").write_bytes((tmp_path / "x-trans.fif").read_bytes()[:100])
        result = await client.call_tool("load_summary", {"path": "cut-trans.fif"}, raise_on_error=False)
        assert result.is_error and "CORRUPT_FILE" in result.content[0].text
