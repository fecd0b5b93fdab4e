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
