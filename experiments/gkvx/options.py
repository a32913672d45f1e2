"""Run options that turn into node options (no redis, no root: the unit
tests import this)."""
import argparse


def with_lifeguard(a, mode):
    """A copy of the run arguments with Lifeguard on or off on every node;
    with an explicit --out the two runs of 'both' go to OUT-lifeguard-on/off."""
    b = argparse.Namespace(**vars(a))
    b.lifeguard = mode
    b.node_opt = list(a.node_opt) + ([] if mode == "on" else ["--lifeguard=no"])
    if a.out is not None and getattr(a, "lifeguard", "on") == "both":
        b.out = f"{a.out}-lifeguard-{mode}"
    return b
