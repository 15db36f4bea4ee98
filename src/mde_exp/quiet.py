"""Library warnings that tell a user of mde_exp nothing they can act on, filtered at the command line's
entry points (`python -m mde_exp`, `python -m mde_exp.reproduce`); tests and library use see them all."""

import warnings

# (message regex, why it is filtered)
FILTERED = (
    (
        r".*isinstance\(treespec, LeafSpec\)",
        "Lightning 2.6's own use of a torch API that torch 2.13 deprecates; printed once per fit",
    ),
)


def quiet_library_warnings() -> None:
    """Ignore the warnings in FILTERED (everything else still shows)."""
    for message, _why in FILTERED:
        warnings.filterwarnings("ignore", message=message)
