"""The ``linear`` head: a closed-form logistic regression on the standardised mean of a view's frames."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vidclass.errors import ConfigError
from vidclass.inputs.features import VideoFeatures
from vidclass.inputs.views import ViewSpec, view_averaged
from vidclass.models.heads import create_head, head_from_config
from vidclass.training.config import Example, TrainConfig
from vidclass.training.loop import fit_head

SPEC = ViewSpec(frames=4, grid=4, inputs="appearance")


def _examples(count: int, classes: int, seed: int) -> list[Example]:
    """Noisy 6-d frame features whose first ``classes`` dimensions are shifted by the label."""
    rng = np.random.default_rng(seed)
    examples = []
    for i in range(count):
        label = i % classes
        features = rng.normal(size=(4, 6)).astype(np.float32)
        features[:, label] += 1.5
        examples.append(Example(VideoFeatures(features, np.arange(4), np.ones(4, bool), 10.0, 40, 4.0), label))
    return examples


@pytest.mark.parametrize("classes", [2, 3])
def test_linear_head_gives_the_probabilities_of_scikit_learns_logistic_regression(classes):
    train, test = _examples(60, classes, seed=0), _examples(30, classes, seed=1)
    head = create_head("linear", in_dim=6, num_classes=classes, c=0.1)
    fit = fit_head(head, train, [], SPEC, TrainConfig())
    assert fit.epochs_run == 1 and fit.best_val_loss is None

    means = lambda examples: np.stack([e.features.features.mean(axis=0) for e in examples])  # noqa: E731
    reference = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
    reference.fit(means(train), [e.label for e in train])
    ours = view_averaged(head, [e.features for e in test], SPEC)
    np.testing.assert_allclose(ours, reference.predict_proba(means(test)), atol=1e-5)
    assert (ours.argmax(axis=1) == [e.label for e in test]).mean() > 0.8


def test_linear_head_round_trips_through_its_config_and_weights():
    head = create_head("linear", in_dim=6, num_classes=2)
    fit_head(head, _examples(40, 2, seed=0), _examples(10, 2, seed=2), SPEC, TrainConfig())
    again = head_from_config(head.hparams())
    again.load_state_dict(head.state_dict())
    x, mask = torch.randn(3, 4, 6), torch.ones(3, 4, dtype=torch.bool)
    torch.testing.assert_close(again.eval()(x, mask), head(x, mask))
    assert head.hparams()["c"] == 0.01  # the default, chosen on fight_surv's grouped folds


def test_linear_head_refuses_a_training_split_without_every_class_and_gradient_options():
    head = create_head("linear", in_dim=6, num_classes=3)
    with pytest.raises(ConfigError, match="no video of class index 2"):
        fit_head(head, _examples(20, 2, seed=0), [], SPEC, TrainConfig())
    with pytest.raises(ConfigError, match="input_norm"):
        create_head("linear", in_dim=6, num_classes=2, input_norm=True)
    with pytest.raises(ConfigError, match="'c' must be a number > 0"):
        create_head("linear", in_dim=6, num_classes=2, c=0)


def test_a_trained_head_leaves_no_trainer_behind_it():
    """A fit's Lightning trainer (which holds its data loaders) is freed when the fit returns, even with Python's
    cycle collector off: a comparison fits hundreds of heads in one process."""
    import gc

    import lightning as L

    gc.collect()
    gc.disable()
    try:
        head = create_head("mean", in_dim=6, num_classes=2, dropout=0.0)
        fit = fit_head(head, _examples(16, 2, seed=0), _examples(8, 2, seed=1), SPEC,
                       TrainConfig(epochs=3, batch_size=8, accelerator="cpu"))
        alive = [o for o in gc.get_objects() if isinstance(o, L.Trainer)]
    finally:
        gc.enable()
    assert fit.epochs_run == 3 and alive == []
