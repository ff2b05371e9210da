"""
The command-line client of the image crawler: C{python -m client}.

It speaks only the public HTTP API (stdlib C{urllib}), and imports nothing
from C{api/}, C{worker/} or C{common/}, so that it runs on its own against
any deployment: C{make run}, the containers, or a remote API.
"""
