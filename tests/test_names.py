"""Undefined-name detection: what a cell reads from the notebook without defining it."""
import pytest

from conftest import src
from nblambda.jupyter.names import (deploy_warnings, global_reads, undefined_names,
                                    undefined_names_message)

NOTEBOOK = {name: object() for name in (
    "model", "threshold", "helper", "df", "config", "table", "os", "json", "Counter",
    "event", "context", "item", "len", "print", "_private", "In", "Out", "exit", "quit",
    "get_ipython", "rows", "cache", "base")}


def test_names_read_in_the_handler_are_reported():
    code = src("""
        def handler(event, context):
            return model.predict(event) > threshold
    """)
    assert undefined_names(code, NOTEBOOK) == ["model", "threshold"]


@pytest.mark.parametrize("code, expected", [
    ("x = df\n", ["df"]),                                                  # module level
    ("def handler(e, c):\n    return [config for _ in e]\n", ["config"]),  # comprehension
    ("class C:\n    attr = table\n", ["table"]),                          # class body
    ("class C:\n    def m(self):\n        return rows\n", ["rows"]),      # method
    ("f = lambda: cache\n", ["cache"]),                                   # lambda
    ("def f():\n    def g():\n        return base\n    return g\n", ["base"]),  # nested
    ("def handler(e, c):\n    return helper(e)\n", ["helper"]),
])
def test_reads_in_every_scope_are_found(code, expected):
    assert undefined_names(code, NOTEBOOK) == expected


@pytest.mark.parametrize("code", [
    "import os\ndef handler(e, c):\n    return os.getcwd()\n",
    "import os.path as json\ndef handler(e, c):\n    return json\n",
    "from collections import Counter\ndef handler(e, c):\n    return Counter(e)\n",
    "model = 1\ndef handler(e, c):\n    return model\n",
    "def helper():\n    return 1\ndef handler(e, c):\n    return helper()\n",
    "class table:\n    pass\ndef handler(e, c):\n    return table()\n",
    "for item in range(3):\n    pass\ndef handler(e, c):\n    return item\n",
    "with open(__file__) as config:\n    pass\ndef handler(e, c):\n    return config\n",
    "def setup():\n    global cache\n    cache = {}\ndef handler(e, c):\n    return cache\n",
    "def handler(event, context):\n    rows = event\n    return rows, context\n",
    "def handler(e, c):\n    return len(e), print(e)\n",   # builtins, even if redefined
    "if (threshold := 3):\n    pass\ndef handler(e, c):\n    return threshold\n",
])
def test_names_the_cell_binds_are_not_reported(code):
    assert undefined_names(code, NOTEBOOK) == []


def test_private_and_ipython_names_are_ignored():
    code = "def handler(e, c):\n    return _private, In, Out, exit, quit, get_ipython\n"
    assert undefined_names(code, NOTEBOOK) == []
    assert {"_private", "In", "get_ipython"} <= global_reads(code)


def test_names_missing_from_the_notebook_too_are_not_reported():
    assert undefined_names("def handler(e, c):\n    return nowhere\n", NOTEBOOK) == []


def test_star_imports_may_define_anything():
    code = "from os.path import *\ndef handler(e, c):\n    return model(e)\n"
    assert undefined_names(code, NOTEBOOK) == []


def test_syntax_errors_yield_no_names_but_a_warning():
    code = "def handler(e, c)\n    return model\n"
    assert undefined_names(code, NOTEBOOK) == []
    [warning] = deploy_warnings("fn", code, NOTEBOOK)
    assert "syntax error" in warning and "line 1" in warning


def test_the_warning_names_the_variables():
    code = "def handler(e, c):\n    return model, threshold\n"
    [warning] = deploy_warnings("scorer", code, NOTEBOOK)
    assert "'scorer'" in warning and "model, threshold" in warning and "NameError" in warning
    assert "uses df from the notebook" in undefined_names_message("f", ["df"])
    assert deploy_warnings("fn", "import os\ndef handler(e, c):\n    return os\n", NOTEBOOK) == []
