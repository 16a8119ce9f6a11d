"""Walking the roots: every regular file with its stat, symlinks followed safely, problems reported."""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import stat as stat_mod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from chronicon.media.sniff import MEDIA_EXTENSIONS
from chronicon.media.xmp import sidecar_names
from chronicon.scan.globs import PathFilter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoundFile:
    """A regular file under a root, as stat() (following symlinks) saw it."""

    path: str
    root: str
    size: int
    mtime_ns: int
    dev: int
    ino: int
    # Its sidecars next to it (`photo.jpg.xmp`, `photo.xmp`): (path, size, mtime_ns), most specific first.
    sidecars: tuple[tuple[str, int, int], ...] = ()

    @property
    def ext(self) -> str:
        return os.path.splitext(self.path)[1].lower()

    def sidecar_signature(self) -> str | None:
        """ "name:size:mtime_ns" of each sidecar, one per line (None: no sidecar); what the catalog keeps."""
        if not self.sidecars:
            return None
        return "\n".join(f"{os.path.basename(p)}:{size}:{mtime}" for p, size, mtime in self.sidecars)


@dataclass
class WalkProblem:
    """A path that could not be looked at; counted as a failed file when it looks like media."""

    path: str
    reason: str


@dataclass
class Walker:
    """Walks several roots once, yielding files; records problems and the roots it could not enter."""

    roots: Sequence[str]
    path_filter: PathFilter = field(default_factory=PathFilter)
    follow_symlinks: bool = True
    skip_dirs: frozenset[str] = frozenset()  # real paths never entered (the catalog folder)
    skip_extensions: frozenset[str] = frozenset()
    # Extensions of sidecar files (".xmp"): found next to each file and reported with it (never yielded).
    sidecar_extensions: tuple[str, ...] = ()
    on_file: Callable[[int], None] | None = None
    problems: list[WalkProblem] = field(default_factory=list)
    missing_roots: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[FoundFile]:
        seen_files: set[tuple[int, int]] = set()
        count = 0
        for root in self.roots:
            try:
                st = os.stat(root)
            except OSError as exc:
                self.missing_roots.append(root)
                self.problems.append(WalkProblem(root, f"root cannot be read: {_reason(exc)}"))
                continue
            if not stat_mod.S_ISDIR(st.st_mode):
                self.missing_roots.append(root)
                self.problems.append(WalkProblem(root, "root is not a folder"))
                continue
            visited_dirs = {(st.st_dev, st.st_ino)}
            for found in self._walk_dir(root, root, "", visited_dirs):
                key = (found.dev, found.ino)
                if key in seen_files:  # a hard link or a symlink to a file already found under the roots
                    log.debug("%s is the same file as one found before; indexed once", found.path)
                    continue
                seen_files.add(key)
                count += 1
                if self.on_file is not None:
                    self.on_file(count)
                yield found

    def _walk_dir(self, root: str, folder: str, rel: str, visited: set[tuple[int, int]]) -> Iterator[FoundFile]:
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            self.problems.append(WalkProblem(folder, f"folder cannot be listed: {_reason(exc)}"))
            return
        sidecars = self._sidecar_entries(entries)
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            rel_path = f"{rel}/{name}" if rel else name
            try:
                is_link = entry.is_symlink()
                if is_link and not self.follow_symlinks:
                    continue
                st = entry.stat(follow_symlinks=True)
            except OSError as exc:
                self._file_problem(entry.path, exc, is_link=True)
                continue
            if stat_mod.S_ISDIR(st.st_mode):
                if self.path_filter.prunes_dir(rel_path):
                    continue
                key = (st.st_dev, st.st_ino)
                if key in visited:
                    self.notes.append(
                        f"{entry.path}: folder already walked (symlink loop or second link); not followed"
                    )
                    continue
                if self.skip_dirs and os.path.realpath(entry.path) in self.skip_dirs:
                    continue
                visited.add(key)
                yield from self._walk_dir(root, entry.path, rel_path, visited)
            elif stat_mod.S_ISREG(st.st_mode):
                if os.path.splitext(name)[1].lower() in self.skip_extensions:
                    continue
                if not self.path_filter.keeps_file(rel_path):
                    continue
                found = FoundFile(entry.path, root, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino)
                if sidecars:
                    found = self._with_sidecars(found, name, sidecars)
                yield found

    def _sidecar_entries(self, entries: Sequence[os.DirEntry[str]]) -> dict[str, os.DirEntry[str]]:
        """The folder's possible sidecars by lower-case name (their stat is looked up only when a file has one)."""
        if not self.sidecar_extensions:
            return {}
        wanted = self.sidecar_extensions
        return {e.name.lower(): e for e in entries
                if not e.name.startswith(".") and os.path.splitext(e.name)[1].lower() in wanted}  # fmt: skip

    def _with_sidecars(self, found: FoundFile, name: str, sidecars: dict[str, os.DirEntry[str]]) -> FoundFile:
        present: list[tuple[str, int, int]] = []
        for candidate in sidecar_names(name, self.sidecar_extensions):
            entry = sidecars.get(candidate)
            if entry is None:
                continue
            try:
                st = entry.stat(follow_symlinks=True)  # (cached: the walk stats every entry anyway)
            except OSError:
                continue
            if stat_mod.S_ISREG(st.st_mode):
                present.append((entry.path, st.st_size, st.st_mtime_ns))
        return dataclasses.replace(found, sidecars=tuple(present)) if present else found

    def _file_problem(self, path: str, exc: OSError, *, is_link: bool) -> None:
        reason = _reason(exc)
        if exc.errno == errno.ELOOP:
            reason = "symlink loop"
        elif exc.errno == errno.ENOENT and is_link:
            try:
                reason = f"broken symlink (points to {os.readlink(path)!r}, which does not exist)"
            except OSError:
                reason = "broken symlink"
        target = ""
        if is_link:
            try:
                target = os.readlink(path)
            except OSError:
                target = ""
        looks_like_media = any(os.path.splitext(p)[1].lower() in MEDIA_EXTENSIONS for p in (path, target) if p)
        if looks_like_media:
            self.problems.append(WalkProblem(path, reason))
        else:
            log.debug("skipping %s: %s", path, reason)


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EACCES or isinstance(exc, PermissionError):
        return "permission denied"
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    return exc.strerror or str(exc)
