"""ResNet-50 and GoogLeNet in torchvision's layout: names, sizes, training outputs, export."""

import numpy as np
import onnx
import pytest
import torch

from workflow.errors import PipelineError
from workflow.models.export import onnx_from_torch, onnx_parity
from workflow.models.imagenet import build_image_network, googlenet, resnet50
from workflow.models.lenet import with_softmax


def test_resnet50_has_torchvisions_names_and_size():
    model = resnet50(1000)
    state = model.state_dict()
    # torchvision's ResNet-50 (IMAGENET1K_V1 and V2): 25,557,032 parameters
    assert sum(p.numel() for p in model.parameters()) == 25_557_032
    assert state["layer1.0.downsample.0.weight"].shape == (256, 64, 1, 1)
    assert state["layer4.2.conv3.weight"].shape == (2048, 512, 1, 1)
    assert state["layer3.5.bn2.running_var"].shape == (256,)
    assert state["fc.weight"].shape == (1000, 2048)
    assert "layer2.1.downsample.0.weight" not in state  # only each stage's first block
    assert model.layer2[0].conv2.stride == (2, 2)  # v1.5: the stride on the 3x3


def test_googlenet_has_torchvisions_names_and_size():
    model = googlenet(1000)
    state = model.state_dict()
    main = sum(p.numel() for name, p in model.named_parameters() if not name.startswith("aux"))
    assert main == 6_624_904  # torchvision's GoogLeNet without its auxiliary heads
    assert state["inception3a.branch3.1.conv.weight"].shape == (32, 16, 3, 3)  # "5x5" is 3x3
    assert state["inception5b.branch4.1.bn.weight"].shape == (128,)
    assert state["aux1.fc1.weight"].shape == (1024, 2048)
    assert state["aux2.conv.conv.weight"].shape == (128, 528, 1, 1)
    assert model.conv1.bn.eps == 0.001


@pytest.mark.parametrize("name", ["resnet50", "googlenet"])
def test_narrow_networks_keep_the_layout(name):
    wide = build_image_network(name, 10, base_width=64).state_dict()
    narrow = build_image_network(name, 10, base_width=16).state_dict()
    assert list(wide) == list(narrow)
    conv = next(key for key in wide if key.endswith("conv1.weight") or key == "conv1.conv.weight")
    assert narrow[conv].shape[0] * 4 == wide[conv].shape[0]
    with pytest.raises(PipelineError, match="base_width 6"):
        build_image_network(name, 10, base_width=6)
    with pytest.raises(PipelineError, match="unknown"):
        build_image_network("vgg16", 10, base_width=16)


@pytest.mark.slow
def test_googlenet_trains_with_its_auxiliary_heads_and_exports_without_them():
    torch.manual_seed(0)
    model = googlenet(5, base_width=8)
    x = torch.randn(2, 3, 64, 64)
    outputs = model.train()(x)
    assert isinstance(outputs, tuple) and [o.shape for o in outputs] == [(2, 5)] * 3
    model.eval()
    graph = onnx_from_torch(
        with_softmax(model), x.numpy(), input_name="input", output_name="prob", opset=18
    )
    names = {init.name for init in onnx.load_from_string(graph).graph.initializer}
    assert not any("aux" in name for name in names)
    report = onnx_parity(
        with_softmax(model),
        graph,
        np.random.default_rng(0).normal(size=(4, 3, 64, 64)).astype(np.float32),
        input_name="input",
        output_name="prob",
        batch_size=2,
        tolerance=1e-5,
    )
    assert report["count"] == 4


def test_googlenet_input_transform_is_torchvisions():
    model = googlenet(3, base_width=8, transform_input=True).eval()
    x = torch.rand(1, 3, 8, 8)
    out = model._transform(x)
    expected = x[:, 0] * (0.229 / 0.5) + (0.485 - 0.5) / 0.5
    torch.testing.assert_close(out[:, 0], expected)


@pytest.mark.slow
def test_torchvision_weights_load_when_they_fit(tmp_path):
    from workflow.errors import FormatError
    from workflow.models.imagenet import check_imagenet_classes, load_torchvision_weights

    torch.manual_seed(0)
    published = googlenet(1000, transform_input=True).state_dict()
    path = tmp_path / "googlenet-1378be20.pth"
    # torchvision's file as its loader leaves it: the auxiliary heads may be absent
    torch.save({k: v for k, v in published.items() if not k.startswith("aux")}, path)
    model = load_torchvision_weights("googlenet", str(path))
    assert model.transform_input and not model.training
    torch.testing.assert_close(model.state_dict()["fc.weight"], published["fc.weight"])
    check_imagenet_classes("googlenet", 1000)
    with pytest.raises(PipelineError, match="predict 1000 classes, the data has 10"):
        check_imagenet_classes("googlenet", 10)
    bad = dict(published) | {"fc.weight": torch.zeros(10, 1024)}
    torch.save(bad, path)
    with pytest.raises(FormatError, match=r"not torchvision's googlenet: 1 tensors .*fc.weight"):
        load_torchvision_weights("googlenet", str(path))
    torch.save({k: v for k, v in published.items() if k != "conv1.conv.weight"}, path)
    with pytest.raises(FormatError, match=r"1 missing \(\['conv1.conv.weight'\]\)"):
        load_torchvision_weights("googlenet", str(path))
