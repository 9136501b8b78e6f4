import numpy as np
import pytest

from workflow.detect.priors import SEED_CONFIG, grid_anchors, layer_boxes


def test_counts_match_the_seed():
    priors = grid_anchors()
    assert priors.shape == (1917, 4)  # 7,668 location values / 4, as the seed counts them
    assert [len(layer_boxes(SEED_CONFIG, k)) for k in range(6)] == [3, 6, 6, 6, 6, 6]


def test_first_cell_of_the_first_layer():
    priors = grid_anchors()
    centre = 0.5 / 19
    np.testing.assert_allclose(
        priors[0], [centre - 0.05, centre - 0.05, centre + 0.05, centre + 0.05], rtol=1e-6
    )
    w, h = priors[1, 2] - priors[1, 0], priors[1, 3] - priors[1, 1]
    assert w / h == pytest.approx(2.0, rel=1e-5) and w * h == pytest.approx(0.2**2, rel=1e-5)


def test_last_layer_is_one_cell_centred_with_the_largest_boxes():
    priors = grid_anchors()[-6:]
    centres = (priors[:, :2] + priors[:, 2:]) / 2
    np.testing.assert_allclose(centres, 0.5, atol=1e-6)
    np.testing.assert_allclose(priors[0], [0.025, 0.025, 0.975, 0.975], atol=1e-6)  # scale 0.95
    extra = np.sqrt(0.95 * 1.0)
    np.testing.assert_allclose(priors[-1, 2] - priors[-1, 0], extra, rtol=1e-6)


def test_scales_grow_linearly_between_min_and_max():
    widths = [layer_boxes(SEED_CONFIG, k)[0][0] for k in range(1, 6)]  # aspect ratio 1
    np.testing.assert_allclose(widths, [0.35, 0.5, 0.65, 0.8, 0.95], rtol=1e-6)
