"""The Python API as a reader meets it: one table of options, explicit signatures and
docstrings, a light import, and messages that name options as Python spells them."""

import dataclasses
import inspect
import re
import subprocess
import sys

import pytest
from conftest import ROOT, SAMPLE

import vidanon
from vidanon.options import CLI, FILE_OPTIONS, OPTIONS, PYTHON, OptionError, Options, ask, spell, spoken

API = ["anonymize", "anonymize_clip", "Anonymize", "ClipTracks", "Detections", "OptionError", "VidanonError"]
PUBLIC_FILE = [o for o in FILE_OPTIONS if o.public]


def test_import_is_light_and_dir_lists_the_api():
    # the command line's first imports load no numpy either (architecture.md: Ctrl-C handled from the start)
    code = ("import sys, vidanon, vidanon.cli; print(sorted(set(dir(vidanon)) & set(sys.argv[1:]))); "
            "print([m for m in ('tensorflow', 'moviepy', 'numpy') if m in sys.modules])")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code, *API], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    listed, heavy = proc.stdout.splitlines()
    assert listed == str(sorted(API)) and heavy == "[]"


def test_help_lists_the_api():
    import pydoc

    pytest.importorskip("moviepy")
    text = pydoc.render_doc(vidanon, renderer=pydoc.plaintext)
    for name in API:
        assert f"\n    {name}" in text or f"class {name}" in text, name
    assert set(API) <= set(vidanon.__all__)


def test_options_dataclass_is_the_table():
    assert [(f.name, f.default) for f in dataclasses.fields(Options)] == [(o.name, o.default) for o in FILE_OPTIONS]
    assert len({o.name for o in OPTIONS}) == len(OPTIONS)
    flags = [f for o in OPTIONS for f in (*o.flags, *(s[0] for s in o.switches))]
    assert len(set(flags)) == len(flags)


def test_anonymize_has_a_keyword_signature_and_documents_every_option():
    params = inspect.signature(vidanon.anonymize).parameters
    assert list(params)[:2] == ["input", "output"]
    keywords = {n: p for n, p in params.items() if p.kind is p.KEYWORD_ONLY}
    assert list(keywords) == [o.name for o in PUBLIC_FILE] and len(params) == 2 + len(keywords)
    for o in PUBLIC_FILE:
        assert keywords[o.name].default == o.default, o.name
        assert f"{o.name} : " in vidanon.anonymize.__doc__, o.name
    assert "detector score above which a face is hidden" in vidanon.anonymize.__doc__
    assert not re.search(r"--\w", vidanon.anonymize.__doc__)  # options named as Python spells them
    with pytest.raises(TypeError):
        vidanon.anonymize(SAMPLE, "o.mp4", "pixelate")  # keyword only


def test_options_are_spelled_for_the_caller():
    assert [ask("overwrite", True), ask("odd_size", "444"), ask("track", False), ask("metadata", "keep")] == [
        "--overwrite", "--odd-size 444", "--no-track", "--keep-metadata"]  # fmt: skip
    with spoken(PYTHON):
        assert [ask("overwrite", True), ask("odd_size", "444"), ask("track", False), ask("threshold", "0.5")] == [
            "overwrite=True", "odd_size='444'", "track=False", "threshold=0.5"]  # fmt: skip
    assert spell("pass {mkdir=True}", PYTHON) == "pass mkdir=True" and spell("pass {mkdir=True}", CLI) == "pass --mkdir"


def test_api_errors_name_keywords_not_flags(tmp_path, monkeypatch):
    monkeypatch.delenv("VIDANON_PLATES_MODEL", raising=False)
    with pytest.raises(OptionError) as info:
        vidanon.anonymize(tmp_path / "missing.mp4", tmp_path / "o.mp4", target="plates")
    assert "pass plates_model='PATH.onnx'" in str(info.value) and "--plates-model" not in str(info.value)


@pytest.mark.parametrize("kwargs, needle", [
    ({"progress": "no"}, "progress must be True or False, not 'no'"),
    ({"overwrite": 1}, "overwrite must be True or False, not 1"),
    ({"codec": 264}, "codec must be a string"),
    ({"save_tracks": 3}, "save_tracks must be a path"),
    ({"frame_range": (0, 5)}, "unknown option 'frame_range'"),  # set by vidanon.batch, not a keyword of the API
])  # fmt: skip
def test_api_checks_types_before_any_work(tmp_path, kwargs, needle):
    with pytest.raises(OptionError, match=needle):
        vidanon.anonymize(tmp_path / "missing.mp4", tmp_path / "o.mp4", **kwargs)


def test_api_summary_holds_the_effect_option_warnings(tmp_path):
    """The command line's warning of a weaker setting reaches a Python caller, in the summary."""
    summary = vidanon.anonymize(SAMPLE, tmp_path / "o.mp4", effect="pixelate", strength=12, progress=False)
    assert summary.warnings[0] == ("strength=12 is weaker than the default (8 cells across a face for pixelate): "
                                   "faces may stay recognisable")


def test_api_existing_output_says_overwrite_true(tmp_path):
    out = tmp_path / "exists.mp4"
    out.write_bytes(b"precious")
    with pytest.raises(vidanon.VidanonError, match="overwrite=True"):
        vidanon.anonymize(SAMPLE, out, progress=False)


def test_api_folder_as_output_is_named_a_folder(tmp_path):
    # the extension check came first and called an existing folder "an unknown container extension"
    (tmp_path / "outd").mkdir()
    for out in (tmp_path / "outd", f"{tmp_path / 'outd'}/"):
        with pytest.raises(vidanon.VidanonError, match="is a directory; give a file name such as"):
            vidanon.anonymize(SAMPLE, out)
