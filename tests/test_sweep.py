"""Sweep expansion matches Hydra's basic sweeper: config params, command-line values winning."""

from mde_exp import sweep


def test_cartesian_product_of_sweep_overrides():
    jobs = sweep.expand(["a=1,2", "b=x,y,z", "c=3"])
    assert len(jobs) == 6
    assert ["a=1", "b=x", "c=3"] in [sorted(j) for j in jobs]


def test_command_line_replaces_config_params_for_the_same_key():
    jobs = sweep.expand(["dropout=0.1"], ["dropout=0.0,0.2,0.5", "norm=none,batch"])
    assert sorted(tuple(sorted(j)) for j in jobs) == [
        ("dropout=0.1", "norm=batch"),
        ("dropout=0.1", "norm=none"),
    ]
