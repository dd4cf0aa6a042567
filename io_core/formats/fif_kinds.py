"""FIF files that are not raw recordings, each read by MNE's own reader for its kind.

A ``.fif`` may hold a raw recording, evoked responses (``-ave``), epochs (``-epo``), a
coordinate transform (``-trans``), BEM surfaces or a BEM solution (``-bem``, ``-bem-sol``),
digitizer points (``-fiducials``, ``-dig``), a covariance (``-cov``), a forward or inverse
solution (``-fwd``, ``-inv``), source spaces (``-src``), an ICA decomposition (``-ica``),
projections (``-proj``) or a measurement info alone. ``detect`` walks the tag headers
(``fif_tags.walk``: loops and damage refused before MNE runs), names the kind from the block
tree, and returns a ``FifKind`` whose ``summarize`` / ``load`` / ``open_array`` go through
the MNE reader for that kind. A file whose structure is damaged (cut short, blocks left
open) is CORRUPT_FILE even where MNE's reader would return part of it; a FIF of a kind not
listed is summarized as its block tree.

Summaries: evoked and epochs are ``RecordingSummary`` (epochs: the events are the
annotations); the others ``ValueSummary`` with ``type`` = the kind and a bounded ``preview``.
``load`` returns MNE's object (a list of ``Evoked``, ``EpochsFIF`` without preload,
``Transform``, ``Covariance``, ``Forward``, ``InverseOperator``, ``SourceSpaces``, ...);
with a ``key`` it returns the array ``read_slice`` reads: evoked ``(channels, times)`` of
the condition ``key`` names (index or comment; without a key ``(conditions, channels,
times)``), epochs ``(epochs, channels, times)`` read lazily (``key``: an event name), the
covariance matrix, the forward gain matrix, the 4x4 transform.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mne
import numpy as np

from io_core.errors import CorruptFileError, KeyNotFoundError, TooLargeError, UnsupportedOperationError
from io_core.formats import fif_tags
from io_core.formats.fif_views import EpochsView, epochs_summary, evoked_summary, info_summary
from io_core.limits import human
from io_core.options import ReadOptions
from io_core.summary import array_summary, clip_text
from schemas import ChildInfo, TreeSummary, ValueSummary

LOG = "critical"  # MNE logs to stdout (some readers log errors): nothing reaches it
WHOLE_SUMMARY_BYTES = 64 * 1024 * 1024  # a larger BEM solution is summarized from its surfaces (matrix not read)
NAMES_SHOWN = 20  # channel names listed in a preview
MAX_ITEMS = 50  # surfaces, points, source spaces, projections listed in a preview
NAME_CHARS = 64
_POINT_KINDS = {1: "cardinal", 2: "hpi", 3: "eeg", 4: "extra", 5: "head"}
_CARDINALS = {1: "lpa", 2: "nasion", 3: "rpa", 4: "inion"}
_METHODS = {1: "MEG", 2: "EEG", 3: "MEG+EEG"}
_ORIENTATIONS = {0: "unknown", 1: "fixed", 2: "free"}
_COV_KINDS = {1: "noise", 2: "source", 3: "fmri prior", 4: "signal", 5: "depth prior", 6: "orient prior"}


def _g(x: Any) -> float:
    """A float to 7 significant digits (summaries are compact)."""
    return float(f"{float(x):.7g}")


def _int(x: Any) -> int:
    """MNE keeps some codes as one-element arrays."""
    return int(np.asarray(x).reshape(-1)[0])


def _frame(code: Any) -> str:
    from mne.transforms import _frame_to_str

    return _frame_to_str.get(_int(code), str(_int(code)))


def _names(names: list[str], n: int = NAMES_SHOWN) -> list[str]:
    return [clip_text(str(c), NAME_CHARS)[0] for c in names[:n]]


# -- the kinds ----------------------------------------------------------------------------------

def _read_epochs(path: Path) -> Any:
    from io_core.formats.eeg_refs import pin_split_parts

    pin_split_parts(path)  # later parts pinned and reachable before MNE opens them by name
    return mne.read_epochs(path, preload=False, proj=False, verbose=LOG)


def _read_bem_solution(path: Path) -> Any:
    """MNE's solution; when its reader refuses one MNE wrote (e.g. one outer-skin layer), the surfaces."""
    try:
        return mne.read_bem_solution(path, verbose=LOG)
    except RuntimeError as exc:  # its model checks, not damage (the structure was checked)
        surfaces = mne.read_bem_surfaces(path, verbose=LOG)
        return _Refused(surfaces, f"mne.read_bem_solution refused it ({str(exc)[:120]}); surfaces read instead")


class _Refused(list):
    """What the fallback reader returned, and why the first reader was not used."""

    def __init__(self, items: list, why: str, shape: list[int] | None = None) -> None:
        super().__init__(items)
        self.why, self.shape = why, shape


def _bem_surfaces_only(path: Path, tree: Any, size: int) -> _Refused:
    """A large BEM solution's surfaces (MNE's surface reader) and its matrix shape from the tag, not its values."""
    from mne._fiff.constants import FIFF
    from mne._fiff.tree import dir_tree_find

    shape = None
    for node in dir_tree_find(tree, FIFF.FIFFB_BEM):
        for tag in node["directory"] or []:
            if int(tag.kind) == fif_tags.BEM_POT_SOLUTION and tag.size >= 8:
                with fif_tags._open(path) as fid:  # a dense matrix ends with its dims, then ndim
                    fid.seek(tag.pos + 16 + tag.size - 4)
                    ndim = int.from_bytes(fid.read(4), "big", signed=True)
                    if 0 < ndim <= 3:
                        fid.seek(tag.pos + 16 + tag.size - 4 * (ndim + 1))
                        shape = [int.from_bytes(fid.read(4), "big", signed=True) for _ in range(ndim)][::-1]
    surfaces = mne.read_bem_surfaces(path, verbose=LOG)
    return _Refused(surfaces, f"the solution matrix was not read for a summary (the file is {human(size)}); "
                              "load reads it", shape)


def _surface(s: Any) -> dict[str, Any]:
    from mne.bem import _sm_surf_name

    rr = np.asarray(s["rr"], dtype=float)
    return {"id": int(s["id"]), "name": str(_sm_surf_name.get(int(s["id"]), "unknown")).strip(),
            "n_vertices": int(s["np"]), "n_triangles": int(s["ntri"]),
            "sigma": _g(s["sigma"]) if s.get("sigma") is not None else None, "coord_frame": _frame(s["coord_frame"]),
            "extent_m": [[_g(v) for v in rr.min(0)], [_g(v) for v in rr.max(0)]] if len(rr) else None}


def _bem_preview(obj: Any) -> tuple[dict[str, Any], int, bool]:
    surfaces = obj if isinstance(obj, list) else obj["surfs"]
    listed = {"surfaces": [_surface(s) for s in surfaces[:MAX_ITEMS]]}
    if isinstance(obj, _Refused):
        listed = {**({"solution_shape": obj.shape} if obj.shape else {}), **listed, "note": obj.why}
    elif not isinstance(obj, list):
        method = {2: "linear collocation", 1: "constant collocation"}.get(int(obj["bem_method"]), str(obj["bem_method"]))
        listed = {"method": method, "solver": obj.get("solver", "mne"), "solution_shape": list(obj["solution"].shape),
                  **listed}
    return listed, len(surfaces), len(surfaces) > MAX_ITEMS


def _transform_preview(t: Any) -> tuple[dict[str, Any], int, bool]:
    m = np.asarray(t["trans"], dtype=float)
    angle = math.degrees(math.acos(max(-1.0, min(1.0, (np.trace(m[:3, :3]) - 1) / 2))))
    return {"from": _frame(t["from"]), "to": _frame(t["to"]), "matrix": [[_g(v) for v in row] for row in m],
            "translation_mm": [_g(v * 1000) for v in m[:3, 3]], "rotation_deg": _g(angle)}, 4, False


def _fiducials_preview(value: Any) -> tuple[dict[str, Any], int, bool]:
    points, frame = value
    kinds = Counter(_POINT_KINDS.get(int(p["kind"]), str(int(p["kind"]))) for p in points)
    shown = []
    for p in points[:MAX_ITEMS]:
        kind = _POINT_KINDS.get(int(p["kind"]), str(int(p["kind"])))
        ident = _CARDINALS.get(int(p["ident"]), int(p["ident"])) if kind == "cardinal" else int(p["ident"])
        shown.append({"kind": kind, "ident": ident, "r_m": [_g(v) for v in p["r"]]})
    return {"coord_frame": _frame(frame), "counts": dict(kinds), "points": shown}, len(points), len(points) > MAX_ITEMS


def _cov_preview(cov: Any) -> tuple[dict[str, Any], int, bool]:
    data = np.asarray(cov["data"], dtype=float)
    var = data if cov["diag"] else np.diag(data)
    preview = {"kind": _COV_KINDS.get(int(cov["kind"]), str(int(cov["kind"]))), "n_channels": int(cov["dim"]),
               "n_samples": int(cov["nfree"]), "diagonal": bool(cov["diag"]),
               "variance_range": [_g(var.min()), _g(var.max())] if var.size else None,
               "n_projections": len(cov["projs"] or []), "bads": _names(list(cov["bads"] or [])),
               "channels": _names(list(cov["names"]))}
    if cov.get("method") is not None:
        preview.update(method=str(cov["method"]), loglik=_g(cov["loglik"]) if cov.get("loglik") is not None else None)
    return preview, int(cov["dim"]), int(cov["dim"]) > NAMES_SHOWN or len(cov["bads"] or []) > NAMES_SHOWN


def _spaces(src: Any) -> list[dict[str, Any]]:
    out = []
    for s in list(src)[:MAX_ITEMS]:
        item = {"type": s["type"], "n_points": int(s["np"]), "n_used": int(s["nuse"]), "coord_frame": _frame(s["coord_frame"])}
        if s["type"] == "surf":
            item["hemisphere"] = {101: "lh", 102: "rh"}.get(int(s["id"]), str(int(s["id"])))
        if s.get("seg_name"):
            item["segment"] = clip_text(str(s["seg_name"]), NAME_CHARS)[0]
        if s.get("shape") is not None:
            item["shape"] = [int(v) for v in s["shape"]]
        out.append(item)
    return out


def _src_preview(src: Any) -> tuple[dict[str, Any], int, bool]:
    subject = getattr(src, "_subject", None)
    return {"subject": subject, "n_sources": int(sum(s["nuse"] for s in src)), "spaces": _spaces(src)}, len(src), len(src) > MAX_ITEMS


def _solution_preview(sol: Any, inverse: bool) -> tuple[dict[str, Any], int, bool]:
    info = sol["info"]
    preview = {"n_channels": int(sol["nchan"]), "n_sources": int(sol["nsource"]),
               "source_orientation": _ORIENTATIONS.get(int(sol["source_ori"]), str(int(sol["source_ori"]))),
               "coord_frame": _frame(sol["coord_frame"]),
               "channel_types": dict(Counter(info.get_channel_types())) if info is not None else None,
               "channels": _names(list(info["ch_names"])) if info is not None else None}
    if inverse:
        noise = sol["noise_cov"]
        preview.update(methods=_METHODS.get(int(sol["methods"]), str(int(sol["methods"]))),
                       nave=int(sol["nave"]) if sol.get("nave") is not None else None,
                       noise_cov={"kind": _COV_KINDS.get(int(noise["kind"]), str(int(noise["kind"]))),
                                  "n_channels": int(noise["dim"]), "n_samples": int(noise["nfree"])},
                       depth_prior=sol["depth_prior"] is not None, orient_prior=sol["orient_prior"] is not None,
                       n_eigen=len(sol["sing"]), n_projections=len(sol["projs"] or []))
    else:
        preview.update(surface_oriented=bool(sol["surf_ori"]), gain_shape=list(sol["sol"]["data"].shape))
    preview["source_spaces"] = _spaces(sol["src"])
    return preview, int(sol["nsource"]), int(sol["nchan"]) > NAMES_SHOWN or len(sol["src"]) > MAX_ITEMS


def _ica_preview(ica: Any) -> tuple[dict[str, Any], int, bool]:
    n = int(ica.n_components_) if getattr(ica, "n_components_", None) is not None else None
    return {"method": str(ica.method), "n_components": n, "n_channels": len(ica.ch_names or []),
            "channels": _names(list(ica.ch_names or [])), "exclude": [int(i) for i in ica.exclude][:MAX_ITEMS],
            "n_samples_fitted": int(ica.n_samples_) if getattr(ica, "n_samples_", None) else None}, n or 0, \
        len(ica.ch_names or []) > NAMES_SHOWN or len(ica.exclude) > MAX_ITEMS


def _proj_preview(projs: Any) -> tuple[dict[str, Any], int, bool]:
    return {"projections": [{"desc": clip_text(str(p["desc"]), NAME_CHARS)[0], "active": bool(p["active"]),
                             "n_vectors": int(p["data"]["nrow"]), "n_channels": int(p["data"]["ncol"])}
                            for p in projs[:MAX_ITEMS]]}, len(projs), len(projs) > MAX_ITEMS


@dataclass(frozen=True)
class Spec:
    reader: str  # the MNE function, named in summaries
    read: Callable[[Path], Any]
    preview: Callable[[Any], tuple[dict[str, Any], int, bool]] | None = None  # ValueSummary kinds
    array: Callable[[Any, str | None], Any] | None = None  # what key / read_slice reach


def _no_key(what: str, value: Callable[[Any], Any]) -> Callable[[Any, str | None], Any]:
    def pick(obj: Any, key: str | None) -> Any:
        if key not in (None, ""):
            raise KeyNotFoundError(f"a {what} has no parts to pick with key {clip_text(str(key), 40)[0]!r}",
                                   hint="Leave key empty: the whole matrix is the array.")
        return value(obj)

    return pick


def _evoked_array(evokeds: list, key: str | None) -> Any:
    if key in (None, ""):
        shapes = {e.data.shape for e in evokeds}
        if len(shapes) != 1:
            raise KeyNotFoundError("the conditions differ in shape: pick one with key (its index or comment)",
                                   hint=f"Conditions: {_conditions(evokeds)}.")
        return np.stack([e.data for e in evokeds])
    return _pick_condition(evokeds, key).data


def _conditions(evokeds: list) -> list[str]:
    return [clip_text(str(e.comment), NAME_CHARS)[0] for e in evokeds[:20]]


def _pick_condition(evokeds: list, key: str) -> Any:
    text = str(key).strip()
    matches = [e for e in evokeds if str(e.comment) == text]
    if len(matches) == 1:
        return matches[0]
    if text.lstrip("-").isdigit() and -len(evokeds) <= int(text) < len(evokeds):
        return evokeds[int(text)]
    raise KeyNotFoundError(f"no condition {clip_text(text, 40)[0]!r}",
                           hint=f"key is a condition's index (0..{len(evokeds) - 1}) or comment: {_conditions(evokeds)}.")


def _epochs_array(epochs: Any, key: str | None) -> EpochsView:
    if key in (None, ""):
        return EpochsView(epochs)
    try:
        return EpochsView(epochs[str(key)])
    except KeyError:
        raise KeyNotFoundError(f"no event {clip_text(str(key), 40)[0]!r} in these epochs",
                               hint=f"Events: {_names(list(epochs.event_id))} ('a/b' tags and "
                                    "comma lists work as in MNE's epochs[...]).") from None


KINDS: dict[str, Spec] = {
    "evoked": Spec("mne.read_evokeds", lambda p: mne.read_evokeds(p, proj=False, verbose=LOG), array=_evoked_array),
    "epochs": Spec("mne.read_epochs", _read_epochs, array=_epochs_array),
    "info": Spec("mne.io.read_info", lambda p: mne.io.read_info(p, verbose=LOG)),
    "transform": Spec("mne.read_trans", lambda p: mne.read_trans(p, verbose=LOG), _transform_preview,
                      _no_key("transform", lambda t: np.asarray(t["trans"]))),
    "bem_surfaces": Spec("mne.read_bem_surfaces", lambda p: mne.read_bem_surfaces(p, verbose=LOG), _bem_preview),
    "bem_solution": Spec("mne.read_bem_solution", _read_bem_solution, _bem_preview),
    "fiducials": Spec("mne.io.read_fiducials", lambda p: mne.io.read_fiducials(p, verbose=LOG), _fiducials_preview),
    "covariance": Spec("mne.read_cov", lambda p: mne.read_cov(p, verbose=LOG), _cov_preview,
                       _no_key("covariance", lambda c: np.asarray(c["data"]))),
    "forward": Spec("mne.read_forward_solution", lambda p: mne.read_forward_solution(p, verbose=LOG),
                    lambda f: _solution_preview(f, inverse=False),
                    _no_key("forward solution", lambda f: np.asarray(f["sol"]["data"]))),
    "inverse": Spec("mne.minimum_norm.read_inverse_operator",
                    lambda p: mne.minimum_norm.read_inverse_operator(p, verbose=LOG),
                    lambda i: _solution_preview(i, inverse=True)),
    "source_spaces": Spec("mne.read_source_spaces", lambda p: mne.read_source_spaces(p, verbose=LOG), _src_preview),
    "ica": Spec("mne.preprocessing.read_ica", lambda p: mne.preprocessing.read_ica(p, verbose=LOG), _ica_preview),
    "projections": Spec("mne.read_proj", lambda p: mne.read_proj(p, verbose=LOG), _proj_preview),
}


# -- detection and dispatch ---------------------------------------------------------------------

@dataclass(frozen=True)
class FifKind:
    """One FIF file's kind, with the capabilities of that kind."""

    name: str
    tree: Any = None

    @property
    def spec(self) -> Spec | None:
        return KINDS.get(self.name)

    def read(self, path: Path, opts: ReadOptions, *, summary: bool = False) -> Any:
        """MNE's object; a kind MNE reads whole is refused past ``max_member_bytes`` (epochs read lazily)."""
        size = Path(path).stat().st_size
        with mne.utils.use_log_level(LOG):
            if summary and self.name == "bem_solution" and size > WHOLE_SUMMARY_BYTES:
                return _bem_surfaces_only(path, self.tree, size)
            if self.name != "epochs" and size > opts.limits.max_member_bytes:
                raise TooLargeError(
                    f"MNE reads a FIF {self.name.replace('_', ' ')} whole and this file is {human(size)}, past the "
                    f"limit of {human(opts.limits.max_member_bytes)}",
                    hint="Read it with MNE directly, or raise Limits.max_member_bytes (io_core.limits) "
                         "when using io_core as a library.")
            return self.spec.read(path)

    def summarize(self, path: Path, opts: ReadOptions) -> Any:
        if self.spec is None:
            return _blocks_summary(self.tree, opts)
        obj = self.read(path, opts, summary=opts.key in (None, ""))
        with mne.utils.use_log_level(LOG):
            if opts.key not in (None, ""):
                array = self._array(obj, opts.key)
                return array_summary(array, opts, chunks=getattr(array, "chunks", None),
                                     note=f"{self.name} data, key={clip_text(str(opts.key), 40)[0]!r}")
            if self.name == "evoked":
                return evoked_summary(obj, opts)
            if self.name == "epochs":
                return epochs_summary(obj, opts)
            if self.name == "info":
                return info_summary(obj, opts)
            preview, length, cut = self.spec.preview(obj)
        preview = {"read_by": self.spec.reader, **preview}
        return ValueSummary(type=self.name, length=length, keys=None, preview=preview, truncated=cut)

    def _array(self, obj: Any, key: str | None) -> Any:
        if self.spec is None or self.spec.array is None:
            raise UnsupportedOperationError(
                f"a FIF {self.name.replace('_', ' ')} file has no array to read",
                hint="Use load_summary to see what it holds; load returns MNE's object.")
        return self.spec.array(obj, key)

    def open_array(self, path: Path, opts: ReadOptions) -> Any:
        if self.spec is None or self.spec.array is None:
            self._array(None, None)  # the refusal, before reading the file
        return self._array(self.read(path, opts), opts.key)

    def load(self, path: Path, opts: ReadOptions) -> Any:
        if self.spec is None:
            raise UnsupportedOperationError(f"MNE has no reader for this FIF file's blocks ({_block_names(self.tree)})",
                                            hint="load_summary lists its blocks.")
        obj = self.read(path, opts)
        if opts.key in (None, ""):
            return list(obj) if isinstance(obj, _Refused) else obj  # a BEM solution MNE refused: its surfaces
        array = self._array(obj, opts.key)
        nbytes = int(np.prod(array.shape)) * 8
        if nbytes > opts.limits.max_member_bytes:
            raise TooLargeError(f"key {clip_text(str(opts.key), 40)[0]!r} holds {human(nbytes)}; loading it whole "
                                f"is refused past {human(opts.limits.max_member_bytes)}",
                                hint="Use read_slice with a selection, or load without a key (reads lazily).")
        with mne.utils.use_log_level(LOG):
            return np.asarray(array)


def detect(path: Path) -> FifKind:
    """The kind of the FIF file at ``path``, read from its tags; damaged structure is CORRUPT_FILE."""
    walk = fif_tags.walk(path)
    tree, directory = fif_tags.open_tree(path)
    name = fif_tags.kind_of(tree, directory)
    shown = clip_text(Path(path).name, NAME_CHARS)[0]
    if name == "empty":
        raise CorruptFileError(f"{shown!r} is a FIF file that holds no data (no block, no transform)")
    if walk.problem:  # MNE would read on and answer from part of the file
        raise CorruptFileError(f"{shown!r} is truncated or damaged: {walk.problem}")
    return FifKind(name, tree)


def _block_name(block: int) -> str:
    from mne._fiff.constants import FIFF

    for attr, value in vars(FIFF).items():
        if attr.startswith("FIFFB_") and isinstance(value, int) and int(value) == block:
            return attr.removeprefix("FIFFB_").lower()
    return str(block)


def _block_names(tree: Any) -> str:
    return ", ".join(_block_name(int(n["block"])) for n in tree["children"][:10])


def _blocks_summary(tree: Any, opts: ReadOptions) -> TreeSummary:
    """A FIF of a kind MNE has no reader for here: its top-level blocks."""
    children = tree["children"]
    shown = [ChildInfo(name=_block_name(int(n["block"])), kind="group", n_children=len(n["children"]))
             for n in children[: opts.preview_items]]
    counts = {_block_name(b): n for b, n in fif_tags.blocks(tree).items() if b}
    return TreeSummary(path="/", n_children=len(children), children=shown, truncated=len(children) > len(shown),
                       attrs={"fif_kind": "other", "blocks": dict(list(counts.items())[:MAX_ITEMS])})
