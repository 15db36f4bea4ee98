"""Reconstruction by PCA and autoencoders, code-space interpolation, and the one-number-code curve
(mde_exp.reconstruction, book section 3.5); the Autoencoder's checkpoint round trip; the scaled tanh curve."""

import functools

import lightning as L
import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from mde_exp import reconstruction as R
from mde_exp.data.toy_sets import tanh_curve
from mde_exp.models.autoencoder import Autoencoder


@pytest.fixture
def cloud() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)) + rng.normal(size=6)


def test_pca_error_is_the_discarded_variance(cloud):
    """On its training data, PCA with k components leaves the variance of the discarded directions:
    MSE per coordinate = sum_{i > k} lambda_i (n - 1) / n / d (lambda: sample covariance eigenvalues)."""
    n, d = cloud.shape
    eigenvalues = np.sort(np.linalg.eigvalsh(np.cov(cloud.T)))[::-1]
    for k in (1, 3, 5):
        codes, recon = R.pca_codes_and_reconstructions(R.pca_fit(cloud, k), cloud)
        assert codes.shape == (n, k)
        assert R.mse(cloud, recon) == pytest.approx(eigenvalues[k:].sum() * (n - 1) / n / d, rel=1e-9)
    # all components: nothing is lost
    assert R.mse(cloud, R.pca_codes_and_reconstructions(R.pca_fit(cloud, d), cloud)[1]) < 1e-20


def test_pca_reconstruction_is_an_orthogonal_projection(cloud):
    pca = R.pca_fit(cloud, 2)
    _, recon = R.pca_codes_and_reconstructions(pca, cloud)
    residual = cloud - recon
    assert np.abs(residual @ pca.components_.T).max() < 1e-9  # orthogonal to the principal directions
    _, again = R.pca_codes_and_reconstructions(pca, recon)
    assert np.allclose(again, recon)  # idempotent


def test_mse_checks_shapes():
    assert R.mse(np.zeros((2, 3)), np.ones((2, 3))) == 1.0
    with pytest.raises(ValueError, match="shapes differ"):
        R.mse(np.zeros((2, 3)), np.zeros((3, 2)))


def _autoencoder(output: str = "sigmoid", seed: int = 0) -> Autoencoder:
    torch.manual_seed(seed)
    return Autoencoder(6, [4, 2], ["tanh", "identity"], [4], ["tanh"], output_activation=output).eval()


def test_interpolations(cloud):
    model = _autoencoder()
    a, b = cloud[:5].astype(np.float32), cloud[5:10].astype(np.float32)
    assert np.allclose(R.code_interpolation(model, a, b, 1.0), R.reconstruct(model, a), atol=1e-6)
    assert np.allclose(R.code_interpolation(model, a, b, 0.0), R.reconstruct(model, b), atol=1e-6)
    middle = R.decode(model, (R.encode(model, a) + R.encode(model, b)) / 2)
    assert np.allclose(R.code_interpolation(model, a, b, 0.5), middle, atol=1e-6)
    assert np.allclose(R.input_interpolation(a, b, 0.25), 0.25 * a + 0.75 * b)
    with pytest.raises(ValueError, match="weight"):
        R.code_interpolation(model, a, b, 1.5)
    with pytest.raises(ValueError, match="weight"):
        R.input_interpolation(a, b, -0.1)


def test_knn_accuracy_and_nearest_distance():
    codes = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    labels = np.array([0, 0, 1, 1])
    assert R.knn_accuracy(codes, labels, codes + 0.01, labels, neighbours=1) == 1.0
    assert R.knn_accuracy(codes, labels, codes[::-1], labels, neighbours=1) == 0.0
    rng = np.random.default_rng(1)
    x, refs = rng.normal(size=(7, 4)), rng.normal(size=(20, 4))
    assert np.allclose(R.nearest_distance(x, refs), cdist(x, refs).min(axis=1))
    assert R.nearest_distance(refs[3], refs)[0] == pytest.approx(0.0, abs=1e-6)


def test_a_one_unit_code_through_one_layer_traces_a_monotone_curve():
    """x_hat = tanh(W h + c): each coordinate is monotone in the scalar code h, whatever the weights;
    with a hidden layer in the decoder it need not be."""
    for seed in range(10):
        torch.manual_seed(seed)
        shallow = Autoencoder(2, [1], ["tanh"], output_activation="tanh").eval()
        torch.nn.init.normal_(shallow.decoder[0].weight, std=3.0)
        curve = R.decoded_curve(shallow, -1.0, 1.0)
        assert curve.shape == (201, 2)
        assert all(R.is_monotone(curve[:, k]) for k in range(2))
    deep = Autoencoder(2, [1], ["tanh"], [2], ["tanh"], output_activation="identity").eval()
    with torch.no_grad():  # x_hat_1 = tanh(3 h) - tanh(3 h - 3): rises, then falls
        deep.decoder[0].weight.copy_(torch.tensor([[3.0], [3.0]]))
        deep.decoder[0].bias.copy_(torch.tensor([0.0, -3.0]))
        deep.decoder[2].weight.copy_(torch.tensor([[1.0, -2.0], [1.0, 1.0]]))
    curve = R.decoded_curve(deep, -1.0, 2.0)
    assert not R.is_monotone(curve[:, 0]) and R.is_monotone(curve[:, 1])
    assert R.is_monotone([3, 2, 2, 1]) and not R.is_monotone([1, 2, 1])


def test_autoencoder_checkpoint_rebuilds_its_activations(tmp_path):
    """load_from_checkpoint must rebuild the same network: the activations are hyperparameters (an
    identity output once came back as the default sigmoid, and a deep encoder failed to load)."""
    x = torch.rand(16, 6)
    model = _autoencoder(output="identity").train()
    model.optimizer_factory = functools.partial(torch.optim.SGD, lr=0.0)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=16)
    trainer = L.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.fit(model, loader, loader)
    path = tmp_path / "ae.ckpt"
    trainer.save_checkpoint(path)
    loaded = Autoencoder.load_from_checkpoint(path, map_location="cpu").eval()
    assert isinstance(loaded.decoder[-1], torch.nn.Identity)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model.eval()(x))
        assert (model(x) < 0).any()  # an identity output, not a sigmoid


def test_scaled_tanh_curve_is_the_curve_divided_by_its_largest_values():
    raw, scaled = tanh_curve(300, noise=0.05, seed=2), tanh_curve(300, noise=0.05, seed=2, scaled=True)
    assert np.allclose(np.abs(scaled).max(axis=0), 1.0)
    assert np.allclose(scaled * np.abs(raw).max(axis=0), raw)
