"""The diversity map's layout: one panel when every domain is a single source (a second panel
coloured by source would repeat the first), two when a domain mixes sources."""

import struct

import numpy as np

from codemix.mixing.diversity.map import DOMAIN_COLOURS, draw_map


def _png_width(path) -> int:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">I", data[16:20])[0]  # the IHDR chunk's width


def _rows(groups: dict[tuple[str, str], int], seed: int = 0):
    rng = np.random.default_rng(seed)
    x, sources, domains = [], [], []
    for i, ((source, domain), n) in enumerate(groups.items()):
        x.append(rng.normal(i * 2.0, 1.0, (n, 8)))
        sources += [source] * n
        domains += [domain] * n
    return np.vstack(x), sources, domains


def test_one_source_per_domain_draws_one_panel_and_two_sources_draw_two(tmp_path):
    bench = {"humaneval": np.random.default_rng(1).normal(0, 1, (20, 8))}
    x, src, dom = _rows({("pyfuncs", "code"): 120, ("texttasks", "general"): 60})
    one = draw_map(tmp_path / "one.png", x, src, dom, bench, "one source each", "test", seed=0)
    x, src, dom = _rows({("pyfuncs", "code"): 120, ("oss", "code"): 80, ("texttasks", "general"): 60})
    two = draw_map(tmp_path / "two.png", x, src, dom, bench, "two code sources", "test", seed=0)
    # 7.8 in per panel at 110 dpi
    assert _png_width(one) == round(7.8 * 110) and _png_width(two) == round(2 * 7.8 * 110)


def test_domain_colours_are_saturated():
    import colorsys

    from matplotlib.colors import to_rgb

    for name, colour in DOMAIN_COLOURS.items():
        _, lightness, saturation = colorsys.rgb_to_hls(*to_rgb(colour))
        # The old general colour (#f4a582) had lightness 0.80: pale under alpha 0.5.
        assert saturation > 0.6 and lightness < 0.55, name
