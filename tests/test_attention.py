"""Every attention method checked against an independent computation on tiny networks."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage
from skimage.filters import frangi as skimage_frangi
from torch import nn

from pvsflow.attention.catalogue import PAPER_METHODS
from pvsflow.attention.methods import (
    FRANGI_SIGMAS,
    METHODS,
    class_activation,
    frangi,
    grad_cam,
    guided_backprop,
    guided_relus,
    inpaint,
    input_gradient,
    intensity,
    iterative_saliency,
    vesselness,
)
from pvsflow.nets.models import Base, GPUnet, Wildcat, build_model, max_pool, spatial_mean


@pytest.fixture
def base_2d():
    torch.manual_seed(3)
    model = Base(2, count_scale=5.0).double().eval()
    with torch.no_grad():
        model.fc.bias.fill_(0.1)
    return model


@pytest.fixture
def image_2d():
    torch.manual_seed(4)
    return torch.rand(2, 1, 9, 7, dtype=torch.float64)


def test_the_papers_seven_methods_with_grad_methods_sharing_one_base_network():
    assert set(PAPER_METHODS) == {
        "gp_unet",
        "gp_unet_no_residual",
        "gated_attention",
        "grad_cam",
        "grad",
        "guided_backprop",
        "intensity",
    }
    assert set(METHODS) == set(PAPER_METHODS) | {"frangi", "wildcat", "iterative_saliency"}
    assert {m.name for m in METHODS.values() if m.architecture == "base"} == {
        "grad_cam",
        "grad",
        "guided_backprop",
        "intensity",
        "frangi",
        "iterative_saliency",
    }


def test_grad_matches_finite_differences(base_2d, image_2d):
    maps, output = input_gradient(base_2d, image_2d)
    assert torch.allclose(output, base_2d(image_2d))
    step = 1e-6
    for b, x, y in [(0, 0, 0), (0, 4, 3), (1, 8, 6), (1, 2, 5)]:
        plus, minus = image_2d.clone(), image_2d.clone()
        plus[b, 0, x, y] += step
        minus[b, 0, x, y] -= step
        derivative = (base_2d(plus)[b] - base_2d(minus)[b]) / (2 * step)
        assert maps[b, x, y].item() == pytest.approx(max(derivative.item(), 0.0), abs=1e-6)


def test_guided_relus_by_hand_on_a_two_layer_network():
    """y = w3 . relu(W2 relu(W1 x)): guided backprop is W1^T (relu(W2^T (relu(w3) m2)) m1)."""
    torch.manual_seed(4)  # active units with negative weights: guided and plain differ
    network = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 1)).double()
    x = torch.randn(1, 4, dtype=torch.float64)
    w1, w2, w3 = network[0].weight, network[2].weight, network[4].weight[0]
    h1 = torch.relu(network[0](x))[0]
    h2 = torch.relu(network[2](h1))
    g2 = w3.clamp(min=0) * (h2 > 0)
    g1 = (w2.T @ g2).clamp(min=0) * (h1 > 0)
    expected = w1.T @ g1
    x.requires_grad_(True)
    with guided_relus(network):
        (guided,) = torch.autograd.grad(network(x).sum(), x)
    assert torch.allclose(guided[0], expected.detach())
    (plain,) = torch.autograd.grad(network(x).sum(), x)  # hooks removed on exit
    assert torch.allclose(plain[0], (w1.T @ ((w2.T @ (w3 * (h2 > 0))) * (h1 > 0))).detach())
    assert not torch.allclose(plain, guided)


class GuidedReLU(torch.autograd.Function):
    """An independent guided ReLU (autograd function instead of module hooks)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, gradient):
        (x,) = ctx.saved_tensors
        return gradient.clamp(min=0) * (x > 0)


def base_forward_with_guided_relus(model, x):
    convs = [layer[0] for block in (model.encoder.block1, model.encoder.block2) for layer in block]
    h = GuidedReLU.apply(convs[1](GuidedReLU.apply(convs[0](x))))
    fine = torch.cat([h, x], dim=1)
    pooled = max_pool(fine)
    deep = GuidedReLU.apply(convs[3](GuidedReLU.apply(convs[2](pooled))))
    return model.count_scale * model.fc(spatial_mean(torch.cat([deep, pooled], dim=1))).squeeze(1)


def test_guided_backprop_matches_an_independent_implementation(base_2d, image_2d):
    maps, _ = guided_backprop(base_2d, image_2d)
    x = image_2d.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(base_forward_with_guided_relus(base_2d, x).sum(), x)
    assert torch.allclose(maps, expected[:, 0].clamp(min=0))
    grad_maps, _ = input_gradient(base_2d, image_2d)
    assert not torch.allclose(maps, grad_maps)


def test_grad_cam_by_hand(base_2d, image_2d):
    """With GAP into a linear FC, d y / d f_k = s w_k / N at every voxel, so alpha_k = s w_k / N."""
    maps, output = grad_cam(base_2d, image_2d)
    encoded = base_2d.encoder(image_2d)
    deep = encoded.deep.detach()
    voxels = deep.shape[2] * deep.shape[3]
    alpha = base_2d.count_scale * base_2d.fc.weight[0, : deep.shape[1]].detach() / voxels
    cam = (deep * alpha[None, :, None, None]).sum(dim=1, keepdim=True)
    expected = F.interpolate(cam, size=image_2d.shape[2:], mode="bilinear", align_corners=False)[:, 0]
    assert maps.shape == (2, 9, 7)
    assert torch.allclose(maps, expected.clamp(min=0))
    assert torch.allclose(output, base_2d(image_2d))


def test_intensity_is_the_image_with_bases_count(base_2d, image_2d):
    maps, output = intensity(base_2d, image_2d)
    assert torch.equal(maps, image_2d[:, 0])
    assert torch.allclose(output, base_2d(image_2d))


def gaussian_shape(shape: tuple[int, ...], axes: tuple[int, ...], width: float = 1.0) -> torch.Tensor:
    """A bright Gaussian profile of ``width`` voxels around the volume's centre along ``axes``:
    a tube along the other axis (two axes) or a blob (all three), as a ``(1, 1, *shape)`` batch."""
    grid = np.meshgrid(*[np.arange(n) - n // 2 for n in shape], indexing="ij")
    squared = sum(grid[axis] ** 2 for axis in axes)
    return torch.from_numpy(np.exp(-squared / (2 * width**2)))[None, None].float()


def test_vesselness_of_a_bright_tube_a_blob_and_a_dark_tube_is_the_formulas():
    """Frangi et al.'s vesselness where the Hessian's eigenvalues are known (one scale): on a
    straight bright tube's axis (0, -a, -a) it is (1 - e^-2)^2 (alpha = 0.5, gamma half the
    largest norm, which lies on the axis); at a blob's centre (-a, -a, -a) the blobness term
    adds e^-2; a dark tube is not a bright ridge."""
    tube = gaussian_shape((9, 15, 15), axes=(1, 2))[0, 0].numpy()
    on_tube = vesselness(tube, sigmas=(1.0,))
    assert on_tube[4, 7, 7] == pytest.approx((1 - np.exp(-2)) ** 2, abs=1e-4)
    assert on_tube.max() == pytest.approx(on_tube[4, 7, 7], abs=1e-6)
    blob = vesselness(gaussian_shape((15, 15, 15), axes=(0, 1, 2))[0, 0].numpy(), sigmas=(1.0,))
    assert blob[7, 7, 7] == pytest.approx((1 - np.exp(-2)) ** 2 * np.exp(-2), abs=1e-4)
    assert np.abs(vesselness(1 - tube, sigmas=(1.0,))[:, 7, 7]).max() == 0


@pytest.mark.parametrize("shape", [(24, 20, 10), (40, 30)])
def test_vesselness_at_one_scale_follows_scikit_images_frangi(shape):
    """At one scale the sigma^2 normalisation cancels and scikit-image's frangi computes the same
    measure (its Hessian from two first-derivative filters, which treat the border otherwise)."""
    volume = ndimage.gaussian_filter(np.random.default_rng(0).random(shape), 1.0)
    inside = tuple(slice(4, -4) for _ in shape)
    ours = vesselness(volume, sigmas=(1.5,))[inside]
    theirs = skimage_frangi(volume, sigmas=[1.5], black_ridges=False)[inside]
    assert (ours > 0.05).mean() > 0.1
    assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] > 0.999
    assert np.abs(ours - theirs).mean() < 0.01


def test_frangi_maps_each_crop_at_the_documented_scales_with_bases_count():
    base = Base(3, count_scale=5.0).eval()
    crops = torch.cat([gaussian_shape((9, 15, 15), axes=(1, 2)), gaussian_shape((9, 15, 15), axes=(0, 2))])
    maps, output = frangi(base, crops)
    assert torch.allclose(output, base(crops))
    for crop, tube_map in zip(crops, maps):
        assert np.array_equal(tube_map.numpy(), vesselness(crop[0].numpy(), FRANGI_SIGMAS))
    assert maps[0, 4, 7, 7] > 0.5 and maps[1, 4, 7, 7] > 0.5  # on both tubes' axes


def test_class_activation_zeroes_negatives_and_keeps_the_count():
    torch.manual_seed(6)
    model = GPUnet(3, count_scale=10.0).eval()
    image = torch.rand(1, 1, 12, 10, 8)
    raw, count = model.attention(image)
    maps, output = class_activation(model, image)
    assert (raw < 0).any()
    assert torch.equal(maps, raw.clamp(min=0))
    assert torch.allclose(output, count)


def test_methods_refuse_the_wrong_architecture(base_2d, image_2d):
    with pytest.raises(TypeError, match="Base"):
        class_activation(base_2d, image_2d)
    with pytest.raises(TypeError, match="GPUnet"):
        grad_cam(GPUnet(2), image_2d.float())


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_maps_a_3d_crop_at_input_resolution(name):
    method = METHODS[name]
    model = build_model(method.architecture, 3).eval()
    maps, output = method.compute(model, torch.rand(1, 1, 16, 12, 11))
    assert maps.shape == (1, 16, 12, 11) and output.shape == (1,)
    assert (maps >= 0).all() and not maps.requires_grad


def test_inpainting_fills_the_mask_from_its_surroundings_only():
    image = torch.full((1, 1, 11, 9), 0.25, dtype=torch.float64)
    image[0, 0, 4:7, 3:6] = 1.0
    image[0, 0, 0, 0] = 0.5
    mask = image[:, 0] == 1.0
    filled = inpaint(image, mask)
    assert torch.allclose(filled[0, 0][mask[0]], torch.tensor(0.25, dtype=torch.float64), atol=1e-3)
    assert torch.equal(filled[0, 0][~mask[0]], image[0, 0][~mask[0]])


def test_iterative_saliency_is_guided_backprop_refined_on_the_inpainted_image(base_2d, image_2d):
    """Two passes by hand, with the independent guided-ReLU implementation and numpy masks."""
    single, _ = iterative_saliency(base_2d, image_2d, iterations=1)
    assert torch.allclose(single, guided_backprop(base_2d, image_2d)[0])

    def guided(images):
        x = images.clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(base_forward_with_guided_relus(base_2d, x).sum(), x)
        return gradient[:, 0].clamp(min=0)

    first = guided(image_2d)
    masks = []
    for saliency in first.numpy():
        salient = saliency > np.quantile(saliency, 0.99)
        masks.append(ndimage.binary_dilation(salient, structure=np.ones((3, 3))))
    second = guided(inpaint(image_2d, torch.from_numpy(np.stack(masks))))
    refined, output = iterative_saliency(base_2d, image_2d, iterations=2, decay=0.5)
    assert torch.allclose(refined, first + 0.5 * second)
    assert torch.allclose(output, base_2d(image_2d))


def test_wildcat_pools_k_highest_and_alpha_k_lowest_by_hand():
    torch.manual_seed(7)
    model = Wildcat(2, count_scale=4.0).double().eval()
    image = torch.rand(2, 1, 20, 15, dtype=torch.float64)
    class_map, output = model.attention(image)
    maps, _ = class_activation(model, image)
    assert torch.equal(maps, class_map.clamp(min=0))
    k = round(0.01 * 20 * 15)
    for b in range(2):
        values = np.sort(class_map[b].detach().numpy().ravel())
        expected = values[-k:].mean() + 0.7 * values[:k].mean()
        assert output[b].item() == pytest.approx(expected)
    assert torch.allclose(output, model(image))
