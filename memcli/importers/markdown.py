"""Markdown files and Obsidian vaults → NoteFile records.

A short file becomes one note; a long one is split at its headings into sections (a heading with
no text of its own is carried into the next section). Tags come from the front matter
(``tags``/``tag``) and inline ``#tags``; ``[[wikilinks]]`` (``[[Note|alias]]``,
``[[Note#Heading]]``, ``[[Folder/Note]]``) in the text and in front-matter properties are
returned for the store to link.
``.obsidian/``, ``.trash/`` and every other hidden folder, and non-Markdown files, are skipped.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Iterator

from memcli.core.models import clean_text
from memcli.core.sections import split_long
from memcli.core.timeutil import iso, normalize
from memcli.importers.base import MB, Failed, check_exists, current_limits, fail

SOURCE = "markdown"
EXTENSIONS = (".md", ".markdown")
SPLIT_CHARS = 1500  # a body longer than this with headings is split into sections
LONG_SECTION = 4000  # a section (or a note without headings) longer than this is cut in parts

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^[ \t]{0,3}(```|~~~)")
_WIKILINK = re.compile(r"(!?)\[\[([^\[\]\n]+?)\]\]")
_TAG = re.compile(r"(?<![\w/&\[\]#(`])#([^\s#!\"$%&'()*+,.:;<=>?@\[\]^`{|}~\\]+)")
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_DATE_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")


@dataclass
class Section:
    text: str
    heading: str | None = None


@dataclass
class Link:
    section: int  # index of the section the link is in
    target: str  # the note title it points to
    heading: str | None = None
    alias: str | None = None


@dataclass
class NoteFile:
    relpath: str  # vault-relative, '/'-separated
    title: str
    sections: list[Section]
    split: bool  # sections (True) or one note (False)
    tags: list[str]
    links: list[Link]
    created_at: str | None
    digest: str  # sha256 of the raw bytes: a change means re-import
    properties: dict = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)  # front matter `aliases`: other link names
    warnings: list[str] = field(default_factory=list)  # what could not be read (bad YAML, date)


# ---- front matter -------------------------------------------------------------------------------
def split_front_matter(text: str) -> tuple[str | None, str]:
    if not text.startswith("---"):
        return None, text
    lines = text.split("\n")
    if lines[0].strip() != "---":
        return None, text
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            return "\n".join(lines[1:i]), "\n".join(lines[i + 1:])
    return None, text


def _lenient_yaml(fm: str) -> dict:
    """`key: value` and `  - item` lines, for front matter YAML refuses (templates' {{date}}, an
    unclosed `[a, b`): a flow list, closed or not, becomes its items, never tags like `[a`."""
    out: dict = {}
    key = None
    for line in fm.split("\n"):
        m = re.match(r"^([^\s:#][^:]*):\s*(.*)$", line)
        if m:
            key, value = m.group(1).strip(), m.group(2).strip()
            if value.startswith("["):
                out[key] = [v for v in (_unquote(x) for x in value.strip("[]").split(",")) if v]
                continue
            out[key] = _unquote(value) if value else []
            if out[key] == "":
                out[key] = []
        elif key and re.match(r"^\s+-\s*(.*)$", line):
            item = _unquote(re.match(r"^\s+-\s*(.*)$", line).group(1))
            if not isinstance(out.get(key), list):
                out[key] = [out[key]] if out.get(key) else []
            out[key].append(item)
    return out


def _unquote(v: str) -> str:
    v = v.strip()
    if v in ("[]", "{}", "~", "null"):
        return ""
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        return v[1:-1]
    return v


_LOADERS: dict = {}


def _loader():
    """YAML's safe loader without implicit timestamps: `date: 2024-02-31` stays a string (one bad
    date used to make the whole front matter fail, and its tags with it); dates are read by
    ``_created``, which warns about one it cannot read."""
    if not _LOADERS:
        import yaml

        base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        stamp = "tag:yaml.org,2002:timestamp"
        _LOADERS["loader"] = type("FrontMatterLoader", (base,), {"yaml_implicit_resolvers": {
            k: [(tag, rx) for tag, rx in v if tag != stamp]
            for k, v in base.yaml_implicit_resolvers.items()}})
    return _LOADERS["loader"]


def parse_front_matter(fm: str | None, warnings: list[str] | None = None) -> dict:
    """The front matter's properties; what could not be read is appended to ``warnings``."""
    if not fm or not fm.strip():
        return {}
    import yaml

    try:
        data = yaml.load(fm, Loader=_loader())
    except (yaml.YAMLError, TypeError, ValueError) as exc:  # TypeError: unhashable keys
        if warnings is not None and "{{" not in fm:  # a template's {{date}}: expected
            where = getattr(exc, "problem_mark", None)
            at = f" (line {where.line + 2})" if where is not None else ""
            warnings.append(f"front matter is not valid YAML{at}; read it line by line")
        return _lenient_yaml(fm)
    if not isinstance(data, dict):
        if warnings is not None and data is not None:
            warnings.append("front matter is not a list of `key: value` properties; ignored")
        return {}
    return data


def _flat(value, _depth: int = 0) -> list[str]:
    if value is None or _depth > 20:  # YAML anchors can build self-referencing lists
        return []
    if isinstance(value, (list, tuple, set)):
        return [s for v in value for s in _flat(v, _depth + 1)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _flat(v, _depth + 1)]
    if isinstance(value, (datetime, date)):
        return [value.isoformat()]
    return [str(value)]


def _render_properties(props: dict) -> str:
    """Front matter as readable lines, for notes that are only properties."""
    lines = []
    for k, v in props.items():
        vals = [_WIKILINK.sub(lambda m: _link_parts(m.group(2))[2] or _link_parts(m.group(2))[0],
                              s) for s in _flat(v)]
        vals = [s for s in vals if s.strip()]
        if vals:
            lines.append(f"{k}: {', '.join(vals)}")
    return "\n".join(lines)


# ---- links and tags -----------------------------------------------------------------------------
def _link_parts(inner: str) -> tuple[str, str | None, str | None]:
    """``Folder/Note#Heading|alias`` → ("Note", "Heading", "alias")."""
    target, _, alias = inner.partition("|")
    target, _, heading = target.partition("#")
    target = target.strip().replace("\\", "/").rsplit("/", 1)[-1]
    if target.lower().endswith(".md"):
        target = target[:-3]
    heading = heading.split("#")[-1].strip() or None if heading else None
    return target.strip(), heading, alias.strip() or None


def find_links(text: str) -> list[tuple[str, str | None, str | None]]:
    out = []
    for m in _WIKILINK.finditer(text):
        target, heading, alias = _link_parts(m.group(2))
        if not target:  # [[#Heading]] points into the same note
            continue
        ext = os.path.splitext(target)[1].lower()
        if ext and ext not in EXTENSIONS and " " not in ext and not ext[1:].isdigit():
            continue  # an embedded image, PDF, .base view…
        out.append((target, heading, alias))
    return out


def find_tags(text: str) -> list[str]:
    tags = []
    for m in _TAG.finditer(_INLINE_CODE.sub(" ", text)):
        tag = m.group(1).strip("/-")
        if tag and not tag.replace("/", "").replace("-", "").replace("_", "").isdigit():
            tags.append(tag)
    return tags


def _prose_lines(body: str) -> list[tuple[str, bool]]:
    """(line, inside a code fence) pairs."""
    out, fence = [], None
    for line in body.split("\n"):
        m = _FENCE.match(line)
        if m:
            if fence is None:
                fence = m.group(1)
            elif m.group(1) == fence:
                out.append((line, True))
                fence = None
                continue
        out.append((line, fence is not None))
    return out


# ---- splitting ----------------------------------------------------------------------------------
def split_sections(body: str) -> list[Section]:
    """Split at headings (not inside code fences). A heading with no text of its own is carried
    into the next section, which keeps the deeper heading ("## Ingredients" + "### Pastry")."""
    chunks: list[tuple[str | None, list[str]]] = [(None, [])]
    for line, in_code in _prose_lines(body):
        m = None if in_code else _HEADING.match(line)
        if m:
            chunks.append((m.group(2).strip(), [line]))
        else:
            chunks[-1][1].append(line)
    sections: list[Section] = []
    carry: list[str] = []
    for heading, lines in chunks:
        own = lines[1:] if heading is not None else lines
        if not any(ln.strip() for ln in own):
            if heading is not None:
                carry += lines
            continue
        sections.append(Section("\n".join(carry + lines).strip(), heading))
        carry = []
    if carry:
        sections.append(Section("\n".join(carry).strip(), chunks[-1][0]))
    return sections


def _split_long_sections(sections: list[Section]) -> list[Section]:
    """A section (or a heading-less note) longer than LONG_SECTION is cut in parts that cite
    their place, "Heading (part 2/5, lines 40-80)" (memcli.core.sections.split_long)."""
    out: list[Section] = []
    for sec in sections:
        parts = split_long(sec.text, split_chars=LONG_SECTION) if len(sec.text) > LONG_SECTION \
            else None
        if not parts:
            out.append(sec)
            continue
        for p in parts:
            where = p.heading if not sec.heading or p.heading.startswith(sec.heading) \
                else f"{sec.heading} ({p.heading})"
            out.append(Section(p.text, where))
    return out


def _created(props: dict, name: str, mtime: float, warnings: list[str] | None = None
             ) -> str | None:
    for key in ("created", "date", "created_at", "creation date"):
        for v in _flat(props.get(key)):
            t = normalize(v) if re.match(r"^\d{4}-\d{2}-\d{2}", v) else None
            if t:
                return t
            if warnings is not None and v.strip() and "{{" not in v:
                warnings.append(f"{key}: {v[:40]!r} is not a valid YYYY-MM-DD date; the "
                                "file's date is used")
    m = _DATE_NAME.search(name)
    if m:
        t = normalize(m.group(1))
        if t:
            return t
    return iso(datetime.fromtimestamp(mtime, tz=timezone.utc)) if mtime else None


def parse_file(path: Path, relpath: str) -> NoteFile | Failed | None:
    """One Markdown file → a NoteFile, a Failed (unreadable, binary) or None (nothing in it)."""
    try:
        st = path.stat()
        limit = current_limits().note_mb
        if st.st_size > limit * MB:
            return Failed(relpath, f"larger than the {limit} MB note limit ([limits] note_mb in "
                                   "config.toml); skipped")
        raw = path.read_bytes()
    except OSError as exc:
        return Failed(relpath, f"cannot read: {exc.strerror or exc}")
    if b"\x00" in raw[:8192]:
        return Failed(relpath, "a binary file, not Markdown")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return Failed(relpath, "not UTF-8 text")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    fm, body = split_front_matter(text)
    warnings: list[str] = []
    props = parse_front_matter(fm, warnings)
    body = body.strip()
    title = path.stem
    tags = [t.strip("#[]{}\"'") for key in ("tags", "tag") for s in _flat(props.get(key))
            for t in re.split(r"[,\s]+", s) if t.strip("#[]{}\"'")]
    prose = "\n".join(ln for ln, code in _prose_lines(body) if not code)
    tags += find_tags(prose)
    if len(body) > SPLIT_CHARS and any(_HEADING.match(ln) for ln, code in _prose_lines(body)
                                       if not code):
        sections, split = split_sections(body), True
    elif body:
        sections, split = [Section(body)], False
    else:
        rendered = _render_properties(props)
        if not rendered:
            return None
        sections, split = [Section(rendered)], False
    if any(len(sec.text) > LONG_SECTION for sec in sections):
        sections, split = _split_long_sections(sections), True
    links: list[Link] = []
    seen: set[tuple] = set()
    for i, sec in enumerate(sections):
        sec_prose = "\n".join(ln for ln, code in _prose_lines(sec.text) if not code)
        for target, heading, alias in find_links(sec_prose):
            if (i, target.lower()) not in seen and target.lower() != title.lower():
                seen.add((i, target.lower()))
                links.append(Link(i, target, heading, alias))
    for target, heading, alias in find_links("\n".join(_flat(props))):
        if (0, target.lower()) not in seen and target.lower() != title.lower():
            seen.add((0, target.lower()))
            links.append(Link(0, target, heading, alias))
    return NoteFile(relpath=relpath, title=title, sections=sections, split=split,
                    tags=list(dict.fromkeys(t.lower() for t in tags)), links=links,
                    created_at=_created(props, path.name, st.st_mtime, warnings),
                    digest=hashlib.sha256(raw).hexdigest()[:32], properties=props,
                    aliases=[a for key in ("aliases", "alias") for a in _flat(props.get(key))
                             if a.strip()], warnings=warnings)


def iter_files(root: Path) -> Iterator[tuple[Path, str]]:
    """(absolute path, vault-relative path) of the Markdown files under ``root``, sorted."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or not name.lower().endswith(EXTENSIONS):
                continue
            p = Path(dirpath) / name
            yield p, p.relative_to(root).as_posix()


def vault_relpath(path: Path) -> str:
    """A single file's path relative to its Obsidian vault (the nearest folder above it with an
    ``.obsidian/`` folder), so it gets the same key as in a whole-vault import; else its name."""
    path = path.resolve()
    for parent in path.parents:
        if (parent / ".obsidian").is_dir():
            return path.relative_to(parent).as_posix()
    return path.name


def parse(path: str | Path) -> Iterator[NoteFile | Failed]:
    """Every Markdown file of a vault folder, or one Markdown file."""
    path = Path(path)
    check_exists(path)
    if path.is_file():
        if not path.name.lower().endswith(EXTENSIONS):
            raise fail(path, "not a Markdown file (.md); give a .md file or a vault folder")
        rec = parse_file(path, clean_text(vault_relpath(path)))
        if isinstance(rec, Failed):
            raise fail(path, rec.reason)
        if rec is None:
            raise fail(path, "the file is empty")
        yield rec
        return
    if not path.is_dir():
        raise fail(path, "not a file or folder")
    any_file = False
    for p, rel in iter_files(path):
        any_file = True
        try:
            rec = parse_file(p, clean_text(rel))  # a file name may not be valid UTF-8
        except (RecursionError, TypeError, ValueError, AttributeError, KeyError) as exc:
            rec = Failed(rel, f"malformed file ({type(exc).__name__}: {exc})")  # skip just it
        if rec is not None:
            yield rec
    if not any_file:
        raise fail(path, "no Markdown (.md) files in this folder")
