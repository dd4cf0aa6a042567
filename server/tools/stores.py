"""The writing tool of the experiment store: record_trial (browsing a store is load_summary / read_slice)."""

from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import BaseModel, ConfigDict, Field

from io_core.workspace import Workspace
from server.settings import Settings
from server.tools.files import WRITE

Scalar = str | int | float | bool | None


class ArrayInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shape: list[int]
    dtype: str


class TrialRecorded(BaseModel):
    """One trial appended to an experiment store task (committed: it survives a crash from now on)."""

    model_config = ConfigDict(extra="forbid")

    store: str
    subject: str
    task: str
    row: int = Field(description="the trial's row in trials.csv, also its datasets' name in each <array>.hdf5")
    n_trials: int = Field(description="trials the task holds now")
    columns: list[str] = Field(description="trials.csv columns (fixed once the task has its first trial)")
    arrays: dict[str, ArrayInfo] = Field(default_factory=dict)
    trials_path: str
    sha256: str = Field(description="SHA-256 of trials.csv after the append (verify_file checks it)")
    recorded: bool = Field(description="a provenance ledger record was written for this trial")
    recovered: dict[str, Any] | None = Field(
        default=None, description="what opening the task repaired first (an interrupted write, a torn record)")


def register(mcp: FastMCP, ws: Workspace, settings: Settings) -> None:
    if settings.read_only:
        return  # writing tools are not offered at all

    @mcp.tool(annotations=WRITE)
    def record_trial(
        store: Annotated[str, Field(description="Store folder (axopy layout); it, subject and task made if missing.")],
        subject: str,
        task: str,
        attrs: Annotated[dict[str, Scalar], Field(
            description="{column: value}; block/trial filled in; the first trial fixes the columns.")],
        arrays: Annotated[dict[str, Any] | None, Field(
            description="{name: nested numbers}; each to <name>.hdf5, dataset '<row>'.")] = None,
        dtype: Annotated[str | None, Field(description="NumPy dtype of every array.")] = None,
        columns: Annotated[list[str] | None, Field(
            description="A new task's columns (trials may leave some empty).")] = None,
    ) -> TrialRecorded:
        """Append one trial to an experiment store task (crash-safe, O(1)): arrays, then one fsynced trials.csv
        line; in the ledger. Read: key '<subject>/<task>/trials' or '.../<array>/<row>'."""
        from io_core.stores.experiment_record import record_trial as record

        return TrialRecorded.model_validate(
            record(ws, store, subject, task, attrs, arrays, dtype=dtype, columns=columns))
