"""Every example in a docstring (``>>>``) gives the output it shows: the known answers the API documents."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil

import pytest

import bflc


def _modules_with_examples() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(bflc.__path__, "bflc."):
        spec = importlib.util.find_spec(info.name)
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            with open(spec.origin, encoding="utf-8") as source:
                if ">>> " in source.read():
                    names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules_with_examples())
def test_the_docstring_examples_of_a_module_hold(name):
    failed, attempted = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert attempted > 0 and failed == 0
