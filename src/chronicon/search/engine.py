"""The search engine: vector retrieval in the chosen space, full-text matches on labels, reciprocal-rank fusion."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chronicon.analyzers.base import Analyzer
from chronicon.analyzers.spaces import RankedHit, SpaceEncoder, TextEmbedder, TextList, VectorSpace
from chronicon.analyzers.stacks import StackKind
from chronicon.catalog.pinned import pinned_read
from chronicon.catalog.store import Catalog, display_path
from chronicon.catalog.vectors import VectorTable
from chronicon.config import core_section
from chronicon.errors import ChroniconError, ModelUnavailableError
from chronicon.search.browse import iso_mtime, page_ids
from chronicon.search.cutoff import SAMPLE, Calibration, CalibrationCache, weak_flags
from chronicon.search.extensions import SortKey, sort_rows
from chronicon.search.filters import FilterError, Filters
from chronicon.search.query import QueryError, parse_query, positive_text
from chronicon.search.stacks import describe, members, membership

log = logging.getLogger(__name__)

# Columns a result carries (besides its vector score and explanation).
RESULT_COLUMNS = [
    "id", "path", "path_raw", "kind", "format", "width", "height", "duration", "taken_at", "camera_make",
    "camera_model", "thumbnail", "labels", "label_scores", "missing", "segments", "segment_labels", "transcript",
    "caption", "segment_captions",
]  # fmt: skip


# A prefilter allowing at most this many assets keeps their result rows in memory too (see `_result_rows`).
SMALL_PREFILTER = 5_000

DATE_SORT = SortKey("date", "taken_at", "newest first (capture time, else the file's time)")
RELEVANCE = "relevance"  # the default order: `--sort relevance` asks for it by name


class NoVectorsError(ChroniconError):
    """The catalog has no vectors to search (nothing scanned yet, or no ML pass could run)."""


@dataclass
class SearchHit:
    """One result: the asset, how well it matched and why."""

    asset_id: str
    path: str
    kind: str
    score: float | None  # cosine similarity in the search space (None: found by text match only)
    rank: int = 0
    fused: float = 0.0  # reciprocal-rank-fusion score (the ordering key in hybrid searches)
    why: list[str] = field(default_factory=list)
    t_start: float | None = None  # for a hit inside a video: the span of the shot (or sentence) that matched
    t_end: float | None = None
    segment: int = 0  # 0 = the photo / the video as a whole; 1.. = the video segment that matched
    row: dict[str, Any] = field(default_factory=dict)
    t: float | None = None  # the moment to show: the best-matching frame of the shot, else t_start
    weak: bool = False  # below the relevance cutoff: hidden unless all results are asked for
    evidence: list[tuple[str, float | None]] = field(default_factory=list)  # (text list, its score) that found it
    stack: dict[str, Any] | None = None  # the stack it stands for (RAW + JPEG, burst, Live Photo): search.stacks

    def to_json(self) -> dict[str, Any]:
        row = self.row
        return {
            "rank": self.rank,
            "path": self.path,
            "id": self.asset_id,
            "kind": self.kind,
            "score": None if self.score is None else round(self.score, 4),
            "fused": round(self.fused, 6),
            "why": self.why,
            "t": self.t if self.t is not None else self.t_start,
            "t_start": self.t_start,
            "t_end": self.t_end,
            "segment": self.segment,
            "weak": self.weak,
            "segment_thumbnail": _segment_thumbnail(row, self.segment),
            "taken_at": row.get("taken_at"),
            "camera": " ".join(x for x in (row.get("camera_make"), row.get("camera_model")) if x) or None,
            "labels": row.get("labels") or [],
            "thumbnail": row.get("thumbnail"),
            "width": row.get("width"),
            "height": row.get("height"),
            "duration": row.get("duration"),
            "stack": self.stack,
        }


class SearchResults(list[SearchHit]):
    """The hits of one search, best first (a list), and the space that was searched (`kind`, e.g. "clip", and the
    catalog's `space` name), so callers need not ask the engine again. `hidden` counts the weak matches the
    relevance cutoff left out of the best `limit` (`show_all=True` shows them, marked `weak`); `cutoff` says
    what the cutoff was (None: it did not apply, e.g. a search by image)."""

    def __init__(
        self,
        hits: list[SearchHit] | None = None,
        *,
        kind: str | None = None,
        space: str | None = None,
        hidden: int = 0,
        cutoff: dict[str, Any] | None = None,
    ):
        super().__init__(hits or [])
        self.kind = kind
        self.space = space
        self.hidden = hidden
        self.cutoff = cutoff


class SearchEngine:
    """Answers searches over one catalog; build once and reuse (models load on the first query)."""

    def __init__(
        self,
        catalog: Catalog,
        analyzers: list[Analyzer],
        config: Mapping[str, Any],
        *,
        spaces: Sequence[VectorSpace] = (),
        text_lists: Sequence[TextList] = (),
        encoders: list[SpaceEncoder] | None = None,
        stacks: Sequence[StackKind] = (),
    ) -> None:
        self.catalog = catalog
        self.stack_kinds = list(stacks)  # what the enabled passes group (`chronicon_register_stacks`), by priority
        self.config = core_section("search", config)
        self.passes = {a.name: a for a in analyzers}
        self.spaces = list(spaces)  # what plugins contribute (`chronicon_register_spaces`), best first
        self.text_lists = list(text_lists)
        self.extra_encoders = list(encoders or [])  # ready-made encoders (tests, embedding callers), tried first
        self._encoders: dict[str, SpaceEncoder] = {}
        self._calibrations = CalibrationCache()
        # filters' SQL -> (assets table version, the ids it allows, their `_rowid`s when few), the latest used last
        self._prefilters: OrderedDict[str, tuple[int, frozenset[str], list[int] | None]] = OrderedDict()
        self._prefilters_lock = threading.Lock()  # (the web app searches from several threads)
        # (filters' SQL, columns) -> (assets table version, the result rows of every asset a small filter allows)
        self._prefilter_rows: OrderedDict[tuple[str, tuple[str, ...]], tuple[int, dict[str, dict[str, Any]]]] = (
            OrderedDict()
        )

    # -- spaces ------------------------------------------------------------------------------------------
    def kinds(self) -> list[str]:
        """The spaces `--space` accepts besides `auto`, best first (those of disabled passes too)."""
        return list(dict.fromkeys([e.kind for e in self.extra_encoders] + [s.kind for s in self.spaces]))

    def _candidates(self, choice: str) -> list[SpaceEncoder]:
        """Query encoders of the contributed spaces whose pass is enabled, best first."""
        out: list[SpaceEncoder] = [e for e in self.extra_encoders if choice in ("auto", e.kind)]
        for contribution in self.spaces:
            owner = self.passes.get(contribution.owner)
            if owner is None or choice not in ("auto", contribution.kind):
                continue
            try:
                encoder = contribution.encoder(owner)
            except ModelUnavailableError as exc:
                log.debug("space %s left out: %s", contribution.kind, exc)
                continue
            if encoder is not None:
                out.append(encoder)
        return out

    def available(self) -> list[tuple[str, str, str]]:
        """(kind, space, help) of the spaces that can be searched now (vectors stored, pass enabled), best first:
        what the web app's space selector offers."""
        stored = set(self.catalog.vector_spaces())
        helps = {s.kind: s.help for s in self.spaces}
        out: list[tuple[str, str, str]] = []
        for candidate in self._candidates("auto"):
            if candidate.space in stored and all(k != candidate.kind for k, _, _ in out):
                out.append((candidate.kind, candidate.space, helps.get(candidate.kind, "")))
        return out

    def encoder(self, requested: str | None = None) -> SpaceEncoder:
        """The space to search: a contributed kind (`clip`, `conse`, ...) or auto (the best one that has vectors in
        the catalog and a usable model)."""
        choice = requested or self.config.str("space")
        if choice in self._encoders:
            return self._encoders[choice]
        if choice != "auto" and choice not in self.kinds():
            raise QueryError(f"unknown search space {choice!r}: use auto, {', '.join(self.kinds())}")
        stored = set(self.catalog.vector_spaces())
        reasons: list[str] = []
        for candidate in self._candidates(choice):
            if candidate.space not in stored:
                reasons.append(f"{candidate.kind}: no vectors in the catalog for {candidate.space}")
                continue
            problem = candidate.unavailable()
            if problem:
                reasons.append(f"{candidate.kind}: {problem}")
                continue
            self._encoders[choice] = candidate
            return candidate
        detail = "; ".join(reasons) or "the pass that embeds photos is disabled"
        raise NoVectorsError(f"nothing to search in the {choice} space ({detail}); run `chronicon scan` first")

    # -- searching ---------------------------------------------------------------------------------------
    @pinned_read
    def search(
        self,
        query: str | None = None,
        *,
        image: str | os.PathLike[str] | None = None,
        filters: Filters | None = None,
        limit: int = 20,
        min_score: float | None = None,
        space: str | None = None,
        hybrid: bool | None = None,
        sort: SortKey | None = None,
        show_all: bool = False,
        expand_stacks: bool = False,
    ) -> SearchResults:
        """Text and/or image query -> the best `limit` assets, best first (or in `sort`'s order).

        Weak matches of a text query (below the relevance cutoff, `chronicon.search.cutoff`) are left out and
        counted in `hidden`; `show_all` keeps them, marked `weak`. A stack (a RAW + JPEG pair, a burst, a Live
        Photo) is one result, its cover, credited with the best match of any member (`hit.stack` says which);
        `expand_stacks` lists every member on its own."""
        if not query and image is None:
            raise QueryError("give a text query, an image, or both")
        if query and not _is_text(query):
            raise QueryError("the query is not valid text (it holds bytes that are not UTF-8)")
        if min_score is not None and not -1.0 <= min_score <= 1.0:  # (NaN fails this too)
            raise QueryError(f"min_score must be a number from -1 to 1, not {min_score}")
        filters = filters or Filters()
        encoder = self.encoder(space)
        parts: list[NDArray[np.float32]] = []
        terms = parse_query(query) if query else []
        if terms:
            parts.append(encoder.encode_terms(terms))
        exclude: set[str] = set()
        if image is not None:
            vector, own_id = self._image_vector(encoder, os.fspath(image))
            parts.append(vector)
            if own_id:
                exclude.add(own_id)
        vector = parts[0] if len(parts) == 1 else _unit(np.sum(parts, axis=0))
        use_text = bool(terms) and (self.config.bool("hybrid") if hybrid is None else hybrid)
        # (an explicit min_score is the caller's own floor: the calibrated cutoff steps aside)
        cutoff = bool(terms) and image is None and min_score is None and self.config.bool("cutoff")
        hits, info = self._retrieve(encoder, vector, terms_text=positive_text(terms) if use_text else "",
                                    filters=filters, limit=limit, min_score=min_score, exclude=exclude,
                                    cutoff=cutoff, collapse=not expand_stacks)  # fmt: skip
        hidden = sum(1 for h in hits[:limit] if h.weak)
        shown = (hits if show_all else [h for h in hits if not h.weak])[:limit]
        for rank, hit in enumerate(shown, 1):
            hit.rank = rank
        ordered = self._sorted(shown, sort) if sort is not None else shown
        return SearchResults(ordered, kind=encoder.kind, space=encoder.space, hidden=hidden, cutoff=info)

    @pinned_read
    def browse(self, filters: Filters | None = None, *, limit: int = 100, offset: int = 0,
               sort: SortKey | None = None, expand_stacks: bool = False) -> list[SearchHit]:  # fmt: skip
        """Assets that pass the filters, without a query: newest first, or in `sort`'s order; a stack once, by its
        cover (unless `expand_stacks`)."""
        filters = filters or Filters()
        sort = None if sort == DATE_SORT else sort  # (newest first is browse's own order)
        allowed = filters.allowed_ids(self.catalog)  # plugin id filters; the SQL ones apply in the scan below
        order = sort.column if sort is not None else "taken_at"
        have = set(self.catalog.schema.names)
        if order not in have:
            raise FilterError(f"cannot sort by {order!r}: no such column (is its plugin's pass enabled?)")
        kinds = [] if expand_stacks else self._stacks(filters)
        self._check_filters(filters)
        try:
            columns = RESULT_COLUMNS + [k.column for k in kinds]
            page, read = page_ids(self.catalog, filters.where(), order=order, sort=sort, kinds=kinds, allowed=allowed,
                                  offset=offset, limit=limit, columns=columns)  # fmt: skip
        except (ValueError, RuntimeError, OSError) as exc:  # e.g. a plugin filter on a column its pass never wrote
            raise FilterError(f"these filters cannot be applied to this catalog ({filters.to_json()}): {exc}") from exc
        rows = read or self.catalog.rows_by_id(page, columns=columns)
        hits = [SearchHit(i, _path(rows[i]), str(rows[i].get("kind")), None, row=rows[i]) for i in page if i in rows]
        for rank, hit in enumerate(hits, offset + 1):
            hit.rank = rank
        self._describe_stacks(hits, kinds)
        return hits

    # -- stacks ------------------------------------------------------------------------------------------
    def _stacks(self, filters: Filters | None = None) -> list[StackKind]:
        """The stack kinds whose column this catalog has; with `filters.motion_parts`, not those whose members are
        parts of their cover (the motion of a Live Photo is then a video of its own)."""
        have = set(self.catalog.schema.names)
        keep_parts = filters is not None and filters.motion_parts
        return [k for k in self.stack_kinds if k.column in have and not (keep_parts and k.parts)]

    def _collapse(
        self, hits: list[SearchHit], filters: Filters, allowed: Set[str] | None, exclude: set[str], columns: list[str]
    ) -> list[SearchHit]:
        """Each stack once: a member's hit becomes its cover's (when the cover may be shown: present, passing the
        filters, not the query's own file), placed where its best member ranked; a member whose cover may not be
        shown stays itself, unless it is a part of its cover (a Live Photo's motion), which is then left out."""
        kinds = self._stacks(filters)
        if not kinds:
            return hits
        found = {h.asset_id: membership(h.row, kinds) for h in hits}
        wanted = {m.cover for i, m in found.items() if m is not None and m.cover != i}
        wanted -= set(found)
        covers = {h.asset_id: h.row for h in hits}
        covers.update(self.catalog.rows_by_id(wanted, columns=columns) if wanted else {})
        out: list[SearchHit] = []
        seen: set[str] = set()
        for hit in hits:
            place = found[hit.asset_id]
            key = hit.asset_id
            if place is not None and place.cover != hit.asset_id:
                cover_row = covers.get(place.cover)
                shown = (allowed is None or place.cover in allowed) and place.cover not in exclude
                if cover_row is not None and not cover_row.get("missing") and shown:
                    key = place.cover
                    if key not in seen:
                        self._credit(hit, place.cover, cover_row, place.kind.label)
                elif place.kind.parts and cover_row is not None and not cover_row.get("missing"):
                    continue  # the motion of a still the filters leave out: not a video of its own
            if key in seen:
                continue
            seen.add(key)
            out.append(hit)
        self._describe_stacks(out, kinds)
        return out

    @staticmethod
    def _credit(hit: SearchHit, cover: str, row: dict[str, Any], label: str) -> None:
        """Turn a member's hit into its cover's: the cover is shown, the member said to be what matched."""
        via = hit.path
        if str(row.get("kind")) != hit.kind:  # a moment of a Live Photo's motion is not a moment of the still
            hit.t = hit.t_start = hit.t_end = None
            hit.segment = 0
        hit.asset_id, hit.path, hit.kind, hit.row = cover, _path(row), str(row.get("kind")), row
        hit.why.insert(0, f"matched its {label} member {os.path.basename(via)}")
        hit.stack = {"via": via}

    def _describe_stacks(self, hits: list[SearchHit], kinds: list[StackKind]) -> None:
        """Fill `hit.stack` (kind, cover, size, members) for the hits that stand for a stack."""
        if not kinds or not hits:
            return
        places = [(h, membership(h.row, kinds)) for h in hits]
        by_kind: dict[str, set[str]] = {}
        for _, place in places:
            if place is not None:
                by_kind.setdefault(place.kind.name, set()).add(place.cover)
        listed = {k.name: members(self.catalog, k, by_kind[k.name]) for k in kinds if k.name in by_kind}
        for hit, place in places:
            if place is None:
                continue
            ids = listed.get(place.kind.name, {}).get(place.cover, [])
            if len(ids) < 2:
                hit.stack = None  # a stack of one (its other members are gone): nothing to say
                continue
            via = (hit.stack or {}).get("via")
            hit.stack = describe(place.kind, place.cover, ids, via)

    def _sorted(self, hits: list[SearchHit], sort: SortKey) -> list[SearchHit]:
        """Results re-ordered by a plugin's sort column (those without a value last), ranks renumbered."""
        if sort.column not in self.catalog.schema.names:
            raise FilterError(f"cannot sort by {sort.name!r}: no {sort.column} column (is its pass enabled?)")
        values = self.catalog.rows_by_id([h.asset_id for h in hits], columns=["id", sort.column, "mtime_ns"])
        keys = {i: v.get(sort.column) for i, v in values.items()}
        if sort == DATE_SORT:  # capture time, else the file's time (as the date filters and browse do)
            keys = {i: v.get(sort.column) or iso_mtime(v.get("mtime_ns")) or None for i, v in values.items()}
        ordered = sort_rows(hits, sort, lambda h: keys.get(h.asset_id))
        for rank, hit in enumerate(ordered, 1):
            hit.rank = rank
            value = keys.get(hit.asset_id)
            if sort != DATE_SORT:
                hit.row[sort.column] = value
            shown = f"{value:.3f}" if isinstance(value, float) else ("none" if value is None else str(value))
            hit.why.insert(0, f"sorted by {sort.name}: {shown}")
        return ordered

    def similar(self, path: str | os.PathLike[str], **kwargs: Any) -> SearchResults:
        """Assets that look like this file (which itself is left out of the results)."""
        return self.search(None, image=path, **kwargs)

    def _image_vector(self, encoder: SpaceEncoder, path: str) -> tuple[NDArray[np.float32], str | None]:
        """The stored vector when the file is in the catalog (same bytes), else one computed now."""
        real = os.path.abspath(os.path.expanduser(path))
        row = self.catalog.row_by_path(real)
        if row is not None and _unchanged(row, real):
            table = self.catalog.open_vector_table(encoder.space)
            stored = table.vectors_for([row["id"]]).get(row["id"]) if table is not None else None
            if stored:
                best = min(stored, key=lambda r: r.segment)
                return np.asarray(best.vector, dtype=np.float32), str(row["id"])
        return encoder.encode_image(real), (str(row["id"]) if row is not None else None)

    def _allowed(self, filters: Filters) -> frozenset[str] | None:
        """The asset ids the filters allow (None: all); SQL filters and plugin id filters together. The SQL part is
        kept for the `prefilter_cache` latest filters until the assets table changes."""
        if filters.is_empty():
            return None
        keep = self.config.int("prefilter_cache")
        where = filters.where()
        version = self.catalog.table_version() if keep else -1
        with self._prefilters_lock:
            found = self._prefilters.get(where)
        if found is None or found[0] != version:
            table = self._filtered(["id"], filters, row_ids=bool(keep))
            ids = table.column("id").to_pylist()
            small = bool(keep) and len(ids) <= SMALL_PREFILTER  # (its result rows are then read by row id)
            found = (version, frozenset(ids), table.column("_rowid").to_pylist() if small else None)
        if keep:
            self._remember(self._prefilters, where, found, keep)
        from_plugins = filters.allowed_ids(self.catalog)
        return found[1] if from_plugins is None else found[1] & from_plugins

    def _result_rows(
        self, ids: set[str], columns: list[str], filters: Filters, allowed: Set[str] | None, keep: int
    ) -> dict[str, dict[str, Any]]:
        """The result columns of these assets: for a small prefilter kept (`prefilter_cache`), the rows of every
        asset it allows, read in one go and held until the assets table changes; else read by id."""
        if not keep or allowed is None or len(allowed) > SMALL_PREFILTER:
            return self.catalog.rows_by_id(ids, columns=columns)
        have = set(self.catalog.schema.names)
        wanted = [c for c in columns if c in have]
        key = (filters.where(), tuple(wanted))
        version = self.catalog.table_version()
        with self._prefilters_lock:
            found = self._prefilter_rows.get(key)
        if found is None or found[0] != version:
            with self._prefilters_lock:
                allowed_here = self._prefilters.get(key[0])
            if allowed_here is not None and allowed_here[0] == version and allowed_here[2] is not None:
                table = self.catalog.rows_at(allowed_here[2], wanted)  # the rows the filter found, no second scan
            else:
                table = self._filtered(wanted, filters)
            found = (version, {str(r["id"]): r for r in table.to_pylist()})
            self._remember(self._prefilter_rows, key, found, keep)
        # (copies: the hits change their rows, e.g. a sort column's value, a stack's cover)
        return {i: dict(found[1][i]) for i in ids if i in found[1]}

    def _remember(self, kept: OrderedDict[Any, Any], key: Any, value: Any, most: int) -> None:
        """Keep `value` as the latest used of at most `most` entries (the oldest dropped)."""
        with self._prefilters_lock:
            kept[key] = value
            kept.move_to_end(key)
            while len(kept) > most:
                kept.popitem(last=False)

    def _filtered(self, columns: list[str], filters: Filters, *, row_ids: bool = False) -> Any:
        """The assets table's rows that pass the filters' SQL, as Arrow (with `_rowid`: `row_ids`); a filter that
        cannot apply -> FilterError."""
        self._check_filters(filters)
        try:
            if row_ids:
                return self.catalog.to_arrow_with_row_ids(columns, where=filters.where())
            return self.catalog.to_arrow(columns, where=filters.where())
        except (ValueError, RuntimeError, OSError) as exc:  # e.g. a plugin filter on a column its pass never wrote
            raise FilterError(f"these filters cannot be applied to this catalog ({filters.to_json()}): {exc}") from exc

    def _check_filters(self, filters: Filters) -> None:
        """A FilterError for a filter whose column this catalog lacks (its pass is disabled)."""
        have = set(self.catalog.schema.names)
        for wanted, column, why in (
            (filters.has_speech, "transcript_text", "--has-speech needs transcripts: enable the transcribe pass"),
            (filters.labels, "labels", "--label needs labels: enable the tags pass"),
            (filters.min_counts, "object_counts", "--min-count needs detections: enable the tags pass"),
            (filters.text, "ocr_text", "--text needs the text read in pictures: enable the ocr pass"),
        ):
            if wanted and column not in have:
                raise FilterError(f"{why} and scan")

    def _retrieve(
        self,
        encoder: SpaceEncoder,
        vector: NDArray[np.float32],
        *,
        terms_text: str,
        filters: Filters,
        limit: int,
        min_score: float | None,
        exclude: set[str],
        cutoff: bool = False,
        collapse: bool = True,
    ) -> tuple[list[SearchHit], dict[str, Any] | None]:
        """Every fused result found (at least `limit` when there are that many), best first, the weak ones marked
        when `cutoff`; and what the cutoff was."""
        table = self.catalog.open_vector_table(encoder.space)
        if table is None:
            raise NoVectorsError(f"no vectors in the catalog for {encoder.space}; run `chronicon scan` first")
        allowed = self._allowed(filters)
        if allowed is not None:
            allowed = allowed - exclude if exclude else allowed
            if not allowed:
                return [], None
        fetch = max(limit * 2, limit + len(exclude) + 10)
        threshold = self.config.int("ann_threshold")
        keep = self.config.int("prefilter_cache")
        # What was said, what the captioner wrote, ...: more ranked lists in their text spaces, when present.
        vector_lists = [
            (text_list, table_, query, embedder)
            for text_list, table_, embedder in (self._vector_lists(encoder) if terms_text else [])
            if (query := self._embed_query(embedder, terms_text)) is not None
        ]
        full_text = [t for t in self.text_lists if t.column is not None] if terms_text else []
        stack_columns = [k.column for k in self._stacks(filters)] if collapse else []
        columns = list(dict.fromkeys(RESULT_COLUMNS + [c for t in self.text_lists for c in t.columns] + stack_columns))
        while True:
            hits = table.search(vector, fetch, asset_ids=allowed, min_score=min_score, per_asset=True,
                                threshold=threshold, keep_subsets=keep)  # fmt: skip
            # A video's moment: the frame (of any of its shots) that matches the query best, whichever of its
            # rows ranked it (a shot's pooled vector, or the whole video's).
            moments = table.best_moments(vector, [h.asset_id for h in hits])
            by_frame = self.config.str("video_score") == "best_frame"
            ranked_main = []
            for h in hits:
                m = moments.get(h.asset_id)
                where = (m.segment, m.t_start, m.t_end, m.t) if m is not None else (h.segment, h.t_start, h.t_end, None)
                score = max(float(h.score), m.score) if by_frame and m is not None else float(h.score)
                ranked_main.append(_Ranked(h.asset_id, score, *where))
            if by_frame:
                ranked_main.sort(key=lambda r: -(r.score or 0.0))
            sources: list[tuple[TextList | None, list[_Ranked]]] = [(None, ranked_main)]
            for text_list, text_table, query, _ in vector_lists:
                floor = text_list.min_score
                found = text_table.search(
                    query,
                    fetch,
                    asset_ids=allowed,
                    per_asset=True,
                    threshold=threshold,
                    keep_subsets=keep,
                    # below: not a match
                    min_score=self.config.float("speech_min_score") if floor is None else floor,
                )
                sources.append((text_list, [_Ranked(h.asset_id, float(h.score), h.segment, h.t_start, h.t_end)
                                            for h in found]))  # fmt: skip
            for text_list in full_text:
                ids = self._text_matches(terms_text, filters, fetch, str(text_list.column))
                sources.append((text_list, [_Ranked(i, None, 0, None, None) for i in ids]))
            candidates = {r.asset_id for _, ranked in sources for r in ranked} - exclude
            if allowed is not None:
                candidates &= allowed
            rows = self._result_rows(candidates, columns, filters, allowed, keep)
            live = {i for i, r in rows.items() if not r.get("missing")}
            words = [w.lower() for w in terms_text.split() if len(w) > 1]
            results = self._fuse(encoder, vector, sources, rows, live, table, min_score, words)
            if collapse:
                results = self._collapse(results, filters, allowed, exclude, columns)
            exhausted = all(len(ranked) < fetch for _, ranked in sources)
            if len(results) >= limit or exhausted or fetch >= 10_000:
                break
            fetch *= 4
        info = self._mark_weak(encoder, table, results, vector_lists, terms_text, filters) if cutoff else None
        for rank, hit in enumerate(results, 1):
            hit.rank = rank
        return results, info

    def _mark_weak(
        self,
        encoder: SpaceEncoder,
        table: VectorTable,
        results: list[SearchHit],
        vector_lists: list[tuple[TextList, VectorTable, NDArray[np.float32], TextEmbedder]],
        terms_text: str,
        filters: Filters,
    ) -> dict[str, Any] | None:
        """Mark the hits below the relevance cutoff `weak`; what the cutoff was (None: no calibration here)."""
        z = self.config.float("cutoff_z")
        gap = self.config.optional_float("cutoff_gap")
        main = self._calibration(table, encoder.encode_texts)
        if main is None:
            return None
        floors: dict[str, float] = {}
        for text_list, text_table, _, embedder in vector_lists:  # (each list calibrated in its own space)
            found = self._calibration(text_table, embedder.embed)
            if found is not None:
                floors[text_list.name] = found.floor(z)
        # Full-text lists: a hit whose text holds every query word is a match whatever its vector says.
        every_word: set[str] = set()
        if terms_text:
            for text_list in self.text_lists:
                if text_list.column is not None:
                    every_word.update(self._text_matches(terms_text, filters, 10_000, text_list.column, every=True))
        strong = [
            hit.asset_id in every_word
            or any(score is not None and score >= floors.get(name, 2.0) for name, score in hit.evidence)
            for hit in results
        ]
        for hit, weak in zip(results, weak_flags([h.score for h in results], strong, main, z=z, gap=gap),
                             strict=True):  # fmt: skip
            hit.weak = weak
        info: dict[str, Any] = {"z": z, "gap": gap, "floor": round(main.floor(z), 4), **main.as_dict()}
        if floors:
            info["list_floors"] = {k: round(v, 4) for k, v in floors.items()}
        return info

    def _calibration(self, table: VectorTable, encode: Any) -> Calibration | None:
        return self._calibrations.get(table.space, table.table_version(), encode, lambda: table.sample(SAMPLE))

    def _vector_lists(self, encoder: SpaceEncoder) -> list[tuple[TextList, VectorTable, TextEmbedder]]:
        """(text list, vector table, text embedder) of the contributed vector lists whose pass is enabled and
        wrote vectors (not the space already searched as the main one)."""
        out: list[tuple[TextList, VectorTable, TextEmbedder]] = []
        for text_list in self.text_lists:
            owner = self.passes.get(text_list.owner) if text_list.owner else None
            if text_list.embedder is None or owner is None:
                continue
            try:
                found = text_list.embedder(owner)
            except ModelUnavailableError as exc:
                log.debug("the %s list is left out of the search: %s", text_list.name, exc)
                continue
            if found is None or found[0] == encoder.space:
                continue
            table = self.catalog.open_vector_table(found[0])
            if table is not None:
                out.append((text_list, table, found[1]))
        return out

    def _embed_query(self, embedder: TextEmbedder, text: str) -> NDArray[np.float32] | None:
        try:
            vector: NDArray[np.float32] = embedder.embed([text])[0]
        except ModelUnavailableError as exc:
            log.debug("a text list is left out of the search: %s", exc)
            return None
        return vector

    def _fuse(
        self,
        encoder: SpaceEncoder,
        vector: NDArray[np.float32],
        sources: list[tuple[TextList | None, list[_Ranked]]],
        rows: dict[str, dict[str, Any]],
        live: set[str],
        table: VectorTable,
        min_score: float | None,
        words: list[str],
    ) -> list[SearchHit]:
        """Reciprocal-rank fusion of the ranked lists (None: the main space's); each result says which lists found
        it and why."""
        rrf_k = self.config.float("rrf_k")
        by_id: dict[str, SearchHit] = {}
        best_time: dict[str, float] = {}  # the similarity of the list entry that set the hit's time
        for text_list, ranked in sources:
            rank = 0
            for entry in ranked:
                if entry.asset_id not in live:
                    continue
                rank += 1
                row = rows[entry.asset_id]
                hit = by_id.get(entry.asset_id)
                if hit is None:
                    hit = SearchHit(entry.asset_id, _path(row), str(row.get("kind")), None, row=row)
                    by_id[entry.asset_id] = hit
                hit.fused += 1.0 / (rrf_k + rank)
                if text_list is None:
                    hit.score = entry.score
                    hit.why.append(f"{encoder.kind} similarity {entry.score:.3f} (#{rank})")
                else:
                    hit.why.append(text_list.describe(RankedHit(row, entry.segment, entry.score, rank, words)))
                    hit.evidence.append((text_list.name, entry.score))
                # A moment inside a video: from the list entry that matched best.
                strength = entry.score if entry.score is not None else -1.0
                if entry.t_start is not None and strength > best_time.get(entry.asset_id, -2.0):
                    best_time[entry.asset_id] = strength
                    hit.t_start, hit.t_end, hit.segment = entry.t_start, entry.t_end, entry.segment
                    hit.t = entry.t if entry.t is not None else entry.t_start
                    if text_list is not None and not text_list.moments:
                        hit.segment = 0  # e.g. a transcript sentence, not a visual segment
        missing_scores = [i for i, h in by_id.items() if h.score is None]
        if missing_scores:
            # Found by text only: their vector score too, so every result shows one and --min-score applies.
            stored = table.vectors_for(missing_scores)
            for asset_id in missing_scores:
                vectors = stored.get(asset_id) or []
                if vectors:
                    by_id[asset_id].score = max(float(np.dot(r.vector, vector)) for r in vectors)
        results = [r for r in by_id.values() if min_score is None or (r.score is not None and r.score >= min_score)]
        for result in results:
            looks = encoder.explain(vector, result.row, result.segment)
            if looks:
                result.why.append("looks like: " + ", ".join(looks))
        results.sort(key=lambda r: (-r.fused, -(r.score or 0.0)))
        return results

    def _text_matches(self, text: str, filters: Filters, limit: int, column: str, *, every: bool = False) -> list[str]:
        """Asset ids whose text column (labels, transcript) matches the words (`every`: all of them, stop words
        aside), best first."""
        if column not in self.catalog.schema.names or not _has_fts(self.catalog.assets, column):
            return []
        try:
            if every:
                from lancedb.query import FullTextOperator, MatchQuery

                match = MatchQuery(text, column, operator=FullTextOperator.AND)  # type: ignore[call-arg]
                query = self.catalog.assets.search(match, query_type="fts")
            else:
                query = self.catalog.assets.search(text, query_type="fts", fts_columns=column)
            table = query.where(filters.where(), prefilter=True).select(["id", "_score"]).limit(limit).to_arrow()
        except Exception as exc:  # full-text is a booster: a failure must not fail the search
            log.debug("full-text search on %s failed: %s", column, exc)
            return []
        return [str(i) for i in table.column("id").to_pylist()]


@dataclass
class _Ranked:
    """One entry of a ranked list before fusion."""

    asset_id: str
    score: float | None
    segment: int
    t_start: float | None
    t_end: float | None
    t: float | None = None  # the best-matching frame's time (best_moments), when the segments kept frame times


def _unchanged(row: dict[str, Any], path: str) -> bool:
    """Whether the file is still what the catalog row describes (so its stored vectors are its vectors)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return st.st_size == row.get("size") and st.st_mtime_ns == row.get("mtime_ns")


def _segment_thumbnail(row: dict[str, Any], segment: int) -> str | None:
    if segment <= 0 or not row.get("segments"):
        return None
    try:
        return next((s.get("thumbnail") for s in json.loads(row["segments"]) if s.get("index") == segment), None)
    except (ValueError, AttributeError, TypeError):
        return None


def _has_fts(table: Any, column: str) -> bool:
    try:
        return any(column in idx.columns and "FTS" in str(idx.index_type) for idx in table.list_indices())
    except Exception:
        return False


def _path(row: dict[str, Any]) -> str:
    return display_path(str(row.get("path")))


def _unit(vector: NDArray[np.float32]) -> NDArray[np.float32]:
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm else vector


__all__ = ["DATE_SORT", "RELEVANCE", "NoVectorsError", "SearchEngine", "SearchHit", "SearchResults"]


def _is_text(value: str) -> bool:
    """Whether a string is valid Unicode text (command-line bytes that are not UTF-8 arrive as surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
