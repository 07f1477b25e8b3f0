"""One endpoint module per model family, composed by serving.service through the family registry, plus the
customer profile (`profile`), composed from them and the commerce domain.

Each module has plain functions (`score(...)`: the runtime and a typed request in, the response model out) and a
`router` of thin routes over them (auth, dependencies, refusals as JSON), so the profile, the campaign and web
pages call the same code the API does. An endpoint imports its family's `training/<family>/adapter.py` only, and
asks the runtime for the adapter by the family's typed `KEY`.
"""
