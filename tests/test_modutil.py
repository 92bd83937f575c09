"""Which modules a job's functions need shipped in the job home."""
import sys
import textwrap

from disco_core.worker.modutil import archive_name, find_modules


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
        found = dict(find_modules([userjob.mapper]))
        assert set(found) == {"userjob", "mypkg", "mypkg.helpers"}
        assert archive_name("mypkg.helpers", found["mypkg.helpers"]) == "mypkg/helpers.py"
        assert archive_name("mypkg", found["mypkg"]) == "mypkg/__init__.py"
        assert archive_name("userjob", found["userjob"]) == "userjob.py"
    finally:
        for name in ("userjob", "mypkg", "mypkg.helpers"):
            sys.modules.pop(name, None)


def test_library_and_main_functions_ship_nothing():
    import json
    assert find_modules([json.dumps]) == []
    main_lambda = eval("lambda x: x", {"__name__": "__main__"})  # pickled by value
    assert find_modules([main_lambda]) == []


def test_a_test_module_is_a_user_module():
    found = dict(find_modules([lambda x: x]))
    assert list(found) == [__name__]
