"""helpers.plots: loss curves and the character labels of a heatmap."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from helpers.plots import char_ticks, plot_losses  # noqa: E402


def test_char_ticks_labels_every_character_once_alternating_sides():
    labels = [chr(ord("a") + i) for i in range(7)]
    fig, ax = plt.subplots()
    ax.imshow([[0] * 7] * 7)
    char_ticks(ax, labels)
    fig.canvas.draw()
    bottom = [t.get_text() for t in ax.get_xticklabels()]
    left = [t.get_text() for t in ax.get_yticklabels()]
    top = [t.get_text() for t in ax.child_axes[0].get_xticklabels()]
    right = [t.get_text() for t in ax.child_axes[1].get_yticklabels()]
    assert bottom == left == ["a", "c", "e", "g"] and top == right == ["b", "d", "f"]
    assert list(ax.child_axes[0].get_xticks()) == [1, 3, 5]
    plt.close(fig)


def test_plot_losses_needs_val_steps_for_a_shorter_validation_curve():
    with pytest.raises(ValueError, match="val_steps"):
        plot_losses([3.0, 2.0, 1.0], [2.5])
    ax = plot_losses([3.0, 2.0, 1.0], [2.5, 1.5], val_steps=[0, 2], logy=True)
    assert ax.get_yscale() == "log" and len(ax.lines) == 2
    plt.close(ax.figure)
