"""User x item confidence matrices built from watch interactions.

A row is one viewing of a video: ``(user, item, watched_s, completion, timestamp)``. Rows for
the same pair add up (rewatches are a stronger signal), and the summed strength is turned into
an ALS confidence by a configurable scheme:

- ``"bm25"``: implicit's BM25 weighting, which damps very active users and very popular items;
- ``"log"``: ``1 + alpha * log1p(strength)``, the scaling of Hu, Koren & Volinsky (2008).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

Scheme = Literal["bm25", "log"]
Row = tuple[str, str, float, float, float]
COLUMNS = ["user", "item", "watched_s", "completion", "timestamp"]


@dataclass
class InteractionMatrix:
    """Confidence matrix (users x items) with the id <-> index maps that go with it."""

    matrix: sp.csr_matrix
    """Confidence per (user, item), float32."""
    times: sp.csr_matrix
    """Last interaction time (epoch seconds) per (user, item); same sparsity as ``matrix``."""
    user_ids: list[str]
    item_ids: list[str]
    signal: sp.csr_matrix | None = None
    """The summed ``strength`` per (user, item) before weighting; same sparsity."""
    completion: sp.csr_matrix | None = None
    """The furthest completion (0-1) per (user, item); same sparsity, zeros stored."""
    user_index: dict[str, int] = field(init=False)
    item_index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.user_index = {u: i for i, u in enumerate(self.user_ids)}
        self.item_index = {it: i for i, it in enumerate(self.item_ids)}

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.user_ids), len(self.item_ids))


def to_frame(rows: Iterable[Row] | pd.DataFrame) -> pd.DataFrame:
    """Interaction rows as a frame with the canonical columns and string ids."""
    df = (
        rows[COLUMNS].copy()
        if isinstance(rows, pd.DataFrame)
        else pd.DataFrame(list(rows), columns=COLUMNS)
    )
    for column in ("user", "item"):
        if pd.api.types.infer_dtype(df[column], skipna=False) != "string":
            df[column] = df[column].astype(str)
    return df


DAY_S = 86_400.0


def decay(age_s: np.ndarray, half_life_days: float) -> np.ndarray:
    """The weight of an interaction ``age_s`` seconds old: halved every ``half_life_days``."""
    return np.power(0.5, np.maximum(age_s, 0.0) / (half_life_days * DAY_S))


def strength(watched_s: np.ndarray, completion: np.ndarray) -> np.ndarray:
    """Raw signal of one viewing: completion, boosted by how long the viewer actually stayed.

    Completion alone rates a finished 20 s clip like a finished film; the log of watched
    minutes tells the two apart without letting long videos dominate.
    """
    comp = np.clip(completion.astype(np.float64), 0.0, 1.0)
    return comp * (1.0 + np.log1p(np.maximum(watched_s.astype(np.float64), 0.0) / 60.0))


def build_matrix(
    rows: Iterable[Row] | pd.DataFrame,
    scheme: Scheme = "bm25",
    *,
    items: Sequence[str] | None = None,
    users: Sequence[str] | None = None,
    alpha: float = 10.0,
    k1: float = 100.0,
    b: float = 0.8,
) -> InteractionMatrix:
    """Build the confidence matrix.

    ``items``/``users`` fix the index order and universe (ids seen only in ``rows`` are appended),
    so a catalogue video nobody watched yet still has a column the content model can score.
    """
    df = to_frame(rows)
    user_ids = _universe(users, df["user"])
    item_ids = _universe(items, df["item"])
    # One integer per (user, item) cell, so summing rewatches is a grouping of integers.
    cell = pd.Index(user_ids).get_indexer(df["user"]).astype(np.int64) * len(item_ids)
    cell += pd.Index(item_ids).get_indexer(df["item"])
    signal = pd.DataFrame(
        {
            "s": strength(df["watched_s"].to_numpy(), df["completion"].to_numpy()),
            "t": df["timestamp"].to_numpy(np.float64),
            "c": np.clip(df["completion"].to_numpy(np.float64), 0.0, 1.0),
        },
        index=cell,
    )
    pairs = signal.groupby(level=0, sort=True).agg(s=("s", "sum"), t=("t", "max"), c=("c", "max"))
    pairs = pairs[pairs["s"] > 0]
    r, c = np.divmod(pairs.index.to_numpy(np.int64), len(item_ids))
    shape = (len(user_ids), len(item_ids))
    raw = sp.csr_matrix((pairs["s"].to_numpy(), (r, c)), shape=shape, dtype=np.float64)
    times = sp.csr_matrix((pairs["t"].to_numpy(np.float64), (r, c)), shape=shape)
    # Kept where it is 0 too (an explicit entry): every matrix has the same entries.
    furthest = sp.csr_matrix((pairs["c"].to_numpy(np.float64) + 1.0, (r, c)), shape=shape)
    furthest.data -= 1.0
    raw.sort_indices()
    times.sort_indices()
    furthest.sort_indices()
    if scheme == "bm25":
        from implicit.nearest_neighbours import bm25_weight

        conf = sp.csr_matrix(bm25_weight(raw, K1=k1, B=b))
        conf.sort_indices()
    elif scheme == "log":
        conf = raw.copy()
        conf.data = 1.0 + alpha * np.log1p(conf.data)
    else:
        raise ValueError(f"unknown weighting scheme {scheme!r}")
    return InteractionMatrix(conf.astype(np.float32), times, user_ids, item_ids, raw, furthest)


def _universe(fixed: Sequence[str] | None, seen: pd.Series) -> list[str]:
    ids: list[str] = []
    known: set[str] = set()
    for x in [*(str(f) for f in (fixed or ())), *pd.unique(seen)]:
        if x not in known:
            known.add(x)
            ids.append(x)
    return ids
