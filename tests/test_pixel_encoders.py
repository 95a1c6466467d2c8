"""The 3D students' image encoders (--pixel_encoder): IMPALA's residual CNN beside the Nature-DQN default, trained,
saved, resumed and evaluated through the same commands; refused in one line where it would not be used."""
import pytest
import torch

import main
from algos.learner import pixel_encoders
from tests.bad_input import assert_one_line_error, call
from tests.helpers import read_metrics

torch.set_num_threads(1)
PUTNEXT = "MiniWorld-PutNext-v0"


def test_each_encoder_maps_an_image_to_its_features():
    for name, features in (("nature", 512), ("impala", 256)):
        conv, n = pixel_encoders.build(name, 3, 60, 80)
        assert n == features and conv(torch.rand(2, 3, 60, 80)).shape == (2, features)
    impala, _ = pixel_encoders.build("impala", 3, 60, 80)
    assert sum(isinstance(m, pixel_encoders.ResidualBlock) for m in impala) == 6
    assert [m.out_channels for m in impala if isinstance(m, torch.nn.Conv2d)] == [16, 32, 32]
    assert impala[-2].in_features == 32 * 8 * 10  # three max-pools of stride 2: 60 x 80 -> 8 x 10
    with pytest.raises(ValueError, match="unknown pixel encoder 'resnet'"):
        pixel_encoders.build("resnet", 3, 60, 80)


def test_a_residual_block_with_its_second_convolution_zeroed_passes_its_input_through():
    block = pixel_encoders.ResidualBlock(4)
    torch.nn.init.zeros_(block.conv1.weight)
    torch.nn.init.zeros_(block.conv1.bias)
    x = torch.randn(1, 4, 5, 5)
    assert torch.equal(block(x), x)
    torch.nn.init.ones_(block.conv1.bias)
    assert torch.equal(block(x), x + 1)


def test_an_impala_student_trains_resumes_and_evaluates_on_putnext(tmp_path, capsys):
    args = ["train", "--task", PUTNEXT, "--logdir", tmp_path, "--savedir", "imp", "--n_itr", "1", "--num_envs", "2",
            "--workers", "0", "--traj_per_itr", "2", "--batch_size", "32", "--eval_interval", "1", "--num_eval", "1",
            "--video", "0", "--no_progress", "--pixel_encoder", "impala"]
    assert main.main([str(a) for a in args]) == 0
    run = tmp_path / "ppo" / PUTNEXT / "imp-0"
    payload = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    assert payload["config"]["pixel_encoder"] == "impala"
    assert sum(k.endswith("conv0.weight") for k in payload["model"]) == 6  # its residual blocks' weights
    assert main.main(["train", "--resume", str(run), "--n_itr", "2"]) == 0
    assert [row["iteration"] for row in read_metrics(run)] == ["1", "2"]
    capsys.readouterr()
    assert main.main(["eval", "--task", PUTNEXT, "--loaddir", str(run), "--num_eval", "2", "--logdir",
                      str(tmp_path), "--video", "0"]) == 0
    assert "over 2 episodes" in capsys.readouterr().out
    payload["config"]["pixel_encoder"] = "nature"  # a checkpoint whose settings name the other encoder
    torch.save(payload, tmp_path / "edited.pt")
    rc, out, err = call(capsys, ["eval", "--task", PUTNEXT, "--loaddir", tmp_path / "edited.pt", "--num_eval", "1",
                                 "--logdir", tmp_path, "--video", "0"])
    assert_one_line_error(rc, err, "do not fit the student network")


@pytest.mark.parametrize("extra,message", [
    (["--task", "SimpleDoorKey"], "--pixel_encoder encodes a 3D task's image; SimpleDoorKey is a grid task"),
    (["--task", PUTNEXT, "--policy", "sb3_ppo", "--teacher_coef", "0"], "--pixel_encoder would be ignored"),
])
def test_the_encoder_is_refused_where_it_would_not_be_used(tmp_path, capsys, extra, message):
    rc, out, err = call(capsys, ["train", "--pixel_encoder", "impala", "--n_itr", "1", "--logdir", tmp_path / "log",
                                 *extra])
    assert_one_line_error(rc, err, message)
    assert not (tmp_path / "log").exists()
