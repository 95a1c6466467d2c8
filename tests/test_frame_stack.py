"""Frame stacking (algos/vec_env/frame_stack.py), as the training envs use it: an episode starts with its first
observation in every slot, each step shifts the stack and appends the newest, and an ended episode's final stack is
kept apart from the next episode's first."""
import numpy as np

from algos.vec_env.env_group import EnvGroup
from algos.vec_env.frame_stack import first_frames, push_frame, stacked_shape
from planner.task_spec import task_config
from teacher.policy import TeacherSpec


def test_push_shifts_out_the_oldest_frame_and_can_write_in_place():
    a, b, c = (np.full((2, 2, 3), v, dtype=np.uint8) for v in (1, 2, 3))
    stack = first_frames(a, 3)
    assert stack.shape == stacked_shape(a.shape, 3) == (2, 2, 9) and (stack == 1).all()
    after = push_frame(stack, b)
    assert after is not stack and (stack == 1).all()  # a new array: the old stack untouched
    assert [int(after[0, 0, k]) for k in (0, 3, 6)] == [1, 1, 2]
    push_frame(after, c, out=after)                    # in place, as the shared arrays are written
    assert [int(after[0, 0, k]) for k in (0, 3, 6)] == [1, 2, 3]
    assert first_frames(a, 1) is a and (push_frame(a, b) == b).all()


def test_the_env_group_stacks_each_env_and_restarts_the_stack_with_an_episode():
    task = task_config("SimpleDoorKey")
    group = EnvGroup(task["env_id"], [0, 1], [0, 1], TeacherSpec(task), frame_stack=3)
    try:
        group.reset()
        c = group.envs[0].observation_space.shape[-1]
        first = group.arrays["obs"].copy()
        assert first.shape[1:] == stacked_shape(group.envs[0].observation_space.shape, 3)
        assert all((first[i, :, :, :c] == first[i, :, :, k * c:(k + 1) * c]).all() for i in range(2) for k in (1, 2))
        for step in range(400):  # turning left forever: episodes end by truncation, and restart
            before = group.arrays["obs"].copy()
            group.step(np.zeros(2, dtype=np.int64))
            ended = group.arrays["truncated"] | group.arrays["terminated"]
            now = group.arrays["obs"]
            for i in range(2):
                if ended[i]:  # the final stack continues the old episode; the new one starts tiled
                    assert (group.arrays["final_obs"][i, :, :, :-c] == before[i, :, :, c:]).all()
                    assert all((now[i, :, :, :c] == now[i, :, :, k * c:(k + 1) * c]).all() for k in (1, 2))
                else:
                    assert (now[i, :, :, :-c] == before[i, :, :, c:]).all()
            if ended.all():
                break
        assert ended.any(), "no episode ended in 400 steps"
    finally:
        group.close()
