"""tshark's object naming, reproduced to tie carved files to flows."""

from __future__ import annotations

from pathlib import Path

from pcaptotal_parser.carving import (
    CarvedFile,
    collect,
    massage,
    path_basename,
    renumber_unnamed,
    split_written_name,
)


def test_massage_escapes_reserved_characters() -> None:
    assert massage("/") == "%2f"
    assert massage("?fields=hosting") == "%3ffields=hosting"
    assert massage("Re: x.eml") == "Re%3a x.eml"
    assert massage("../../etc/passwd") == "..%2f..%2fetc%2fpasswd"
    assert len(massage("a" * 1000)) == 255


def test_basename_like_glib() -> None:
    assert path_basename("/") == "/"
    assert path_basename("/a/b.zip") == "b.zip"
    assert path_basename("/dir/") == "dir"
    assert path_basename("") == "."
    assert path_basename("/?q=1") == "?q=1"


def test_dedup_suffix() -> None:
    assert split_written_name("a(1).crl") == "a.crl"
    assert split_written_name("%2f(12)") == "%2f"
    assert split_written_name("plain.txt") == "plain.txt"


def test_collect_skips_links_and_directories(tmp_path: Path) -> None:
    (tmp_path / "http").mkdir()
    (tmp_path / "http" / "a.txt").write_bytes(b"hello")
    (tmp_path / "http" / "sub").mkdir()
    (tmp_path / "http" / "link").symlink_to("/etc/hostname")
    (files,) = [collect(tmp_path)]
    assert [(f.name, f.size, f.mime_type) for f in files] == [("a.txt", 5, "text/plain")]
    assert files[0].sha256 == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


def _carved(protocol: str, name: str) -> CarvedFile:
    return CarvedFile(protocol, Path(name), name, name, name, 1, "", "", "", "")


def test_unnamed_objects_of_a_part_get_the_whole_files_frame_numbers() -> None:
    # tshark calls an object without a file name object<frame>; in a part of a split capture
    # that frame is the part's: part frame 2 is frame 7 of the file tshark would read whole
    files = [_carved("imf", "object2"), _carved("http", "object3"), _carved("http", "a.zip")]
    renumber_unnamed(files, [5, 7, 9], named={("http", "object3")})
    assert [f.name for f in files] == ["object7", "object3", "a.zip"]  # a URI's name stays
    assert files[0].base_name == "object7"
