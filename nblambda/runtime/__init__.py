"""The code that runs inside a sandbox: stdlib only, any python3 >= 3.9.

It is loaded under the name ``nblambda_runtime`` by ``__main__.py`` (never as ``nblambda.runtime``
inside a sandbox), so the sandbox imports nothing of the host package and its dependencies.
"""
