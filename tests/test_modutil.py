"""Which modules a job's functions need shipped in the job home."""
import sys
import textwrap

import pytest

from disco_core.worker.modutil import archive_name, job_modules


def test_user_modules_found_through_globals_and_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helpers.py").write_text("def double(x):\n    return 2 * x\n")
    (tmp_path / "userjob.py").write_text(textwrap.dedent("""
        import json
        from mypkg import helpers

        def mapper(line, params):
            return [(json.dumps(line), helpers.double(1))]
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        import userjob
        found = dict(job_modules([userjob.mapper]))
        assert set(found) == {"userjob", "mypkg", "mypkg.helpers"}
        assert archive_name("mypkg.helpers", found["mypkg.helpers"]) == "mypkg/helpers.py"
        assert archive_name("mypkg", found["mypkg"]) == "mypkg/__init__.py"
        assert archive_name("userjob", found["userjob"]) == "userjob.py"
    finally:
        for name in ("userjob", "mypkg", "mypkg.helpers"):
            sys.modules.pop(name, None)


def test_library_and_main_functions_ship_nothing():
    import json
    assert job_modules([json.dumps]) == []
    main_lambda = eval("lambda x: x", {"__name__": "__main__"})  # pickled by value
    assert job_modules([main_lambda]) == []


def test_a_test_module_is_a_user_module():
    found = dict(job_modules([lambda x: x]))
    assert list(found) == [__name__]


def _user_package(tmp_path, monkeypatch, name):
    pkg = tmp_path / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helpers.py").write_text("from . import deep\n\ndef double(x):\n"
                                    "    return deep.two() * x\n")
    (pkg / "deep.py").write_text("def two():\n    return 2\n")
    (tmp_path / (name + "_job.py")).write_text(textwrap.dedent("""
        import re
        from %s import helpers

        def mapper(line, params):
            return [(re.escape(line), helpers.double(1))]
        """ % name))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name + "_job"


def test_find_modules_gives_what_the_code_uses_as_module_attribute(tmp_path, monkeypatch):
    from disco.worker.modutil import ModUtilImportError, find_modules
    mod = _user_package(tmp_path, monkeypatch, "pkga")
    (tmp_path / "loose_helper.py").write_text("import pkga.helpers\n\ndef one():\n"
                                              "    return 1\n")
    try:
        job = __import__(mod)
        # re.escape and helpers.double: a system module by name, a user module to ship
        # with its package and the user modules it uses in turn
        assert find_modules([job.mapper]) == [
            ("pkga", str(tmp_path / "pkga" / "__init__.py")),
            ("pkga.deep", str(tmp_path / "pkga" / "deep.py")),
            ("pkga.helpers", str(tmp_path / "pkga" / "helpers.py")), "re"]
        assert find_modules([job.mapper], send_modules=False) == \
            ["pkga", "pkga.deep", "pkga.helpers", "re"]
        assert find_modules([job.mapper], send_modules=False, recurse=False) == \
            ["pkga.helpers", "re"]
        assert find_modules([job.mapper], send_modules=False, exclude=["re"]) == \
            ["pkga", "pkga.deep", "pkga.helpers"]

        # a module the function never imports is found by name, as the original did
        def uses_unimported():
            return loose_helper.one() + os.getpid() * 0  # noqa: F821

        assert find_modules([uses_unimported], send_modules=False, recurse=False) == \
            ["loose_helper", "os"]

        def uses_missing():
            return no_such_module_anywhere.value  # noqa: F821

        with pytest.raises(ModUtilImportError, match="no_such_module_anywhere"):
            find_modules([uses_missing])
    finally:
        for name in (mod, "pkga", "pkga.helpers", "pkga.deep", "loose_helper"):
            sys.modules.pop(name, None)


def test_locate_modules_and_parse_function(tmp_path, monkeypatch):
    from disco.worker.classic.modutil import (ModUtilImportError, locate_modules,
                                              parse_function)
    mod = _user_package(tmp_path, monkeypatch, "pkgb")
    try:
        located = locate_modules([mod, "json"])
        assert [name for name, _path in located] == ["pkgb", "pkgb.deep", "pkgb.helpers", mod]
        assert locate_modules([mod, "json"], recurse=False, include_sys=True) == \
            [(mod, str(tmp_path / (mod + ".py"))), "json"]
        job = sys.modules[mod]
        assert parse_function(job.mapper) == ["pkgb.helpers", "re"]
        with pytest.raises(ModUtilImportError) as err:
            locate_modules(["no_such_module_here"])
        assert "cannot import module 'no_such_module_here'" in str(err.value)
    finally:
        for name in (mod, "pkgb", "pkgb.helpers", "pkgb.deep"):
            sys.modules.pop(name, None)
