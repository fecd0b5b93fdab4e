import numpy as np
import pytest

from radarface.facemodel import load_model
from radarface.plots.face import plot_face, plot_mode_grid, vertex_normals
from radarface.widgets.face import face_panel


@pytest.fixture(scope="module")
def model():
    return load_model("builtin", 4, 3)


def test_panel_update_redraws_with_new_values(model):
    panel = face_panel(model, n_sliders=2)
    first = panel.image.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    fig = panel.update(shape_0=2.0, yaw=15)
    assert panel.image.value != first
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="unknown control"):
        panel.update(shape_9=1.0)


def test_vertex_normals_of_a_plane_point_along_z():
    verts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=float)
    normals = vertex_normals(verts, np.array([[0, 1, 2], [1, 3, 2]]))
    np.testing.assert_allclose(normals, np.tile([0, 0, 1.0], (4, 1)))


def test_plot_helpers_return_their_axes(model):
    ax = plot_face(model.vertices(), model.triangles, values=np.linspace(0, 1, model.n_vertices))
    assert ax.get_xlabel() == "x (mm)"
    assert plot_mode_grid(model, "expression", n_modes=2).shape == (3, 2)
    with pytest.raises(ValueError, match="view must be"):
        plot_face(model.vertices(), model.triangles, view="top")


def test_panel_labels_are_whole_words_with_units_and_hover_text(model):
    panel = face_panel(model, n_sliders=2)
    labels = [c.description for c in panel.controls.values()]
    assert "expression 1 (σ)" in labels and "yaw (°)" in labels
    assert all(c.tooltip for c in panel.controls.values())


def test_panel_shows_a_picture_where_no_kernel_runs(model):
    import base64

    panel = face_panel(model, n_sliders=1)
    bundle = panel._repr_mimebundle_()
    assert base64.b64decode(bundle["image/png"]) == panel.image.value
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"].startswith("Slider panel")


def test_radar_panel_greys_out_snr_without_noise():
    from radarface.radar import RadarConfig
    from radarface.widgets.radar import render_panel

    small = load_model("builtin", 2, 2)
    panel = render_panel(small, RadarConfig(image_size=16, n_freq=16), n_expression=1, n_shape=0)
    labels = {c.description for c in panel.controls.values()}
    assert {"dynamic range (dB)", "aperture (mm)", "SNR (dB)"} <= labels
    panel.controls["noise"].value = False
    assert panel.controls["snr_db"].disabled
    panel.controls["noise"].value = True
    assert not panel.controls["snr_db"].disabled
