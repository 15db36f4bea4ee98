"""The command line's warning filter hides only the library warnings it names."""

import warnings

from mde_exp.quiet import quiet_library_warnings


def test_the_lightning_leafspec_deprecation_is_hidden_and_other_warnings_are_not():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_library_warnings()
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated", DeprecationWarning, stacklevel=1)
        warnings.warn("something a user should read", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something a user should read"]
