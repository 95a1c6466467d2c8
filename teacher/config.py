"""The teacher's own settings (on top of its planner's)."""
from dataclasses import dataclass

from planner.config import PlannerConfig
from planner.task_spec import TEXTS
from utils.options import ALL, option


@dataclass
class TeacherConfig(PlannerConfig):
    section = "the teacher"

    soft_planner: bool = option(False, "the teacher mixes every plan by its probability (off: one sampled per step)",
                                commands=ALL)
    goto_avoids_lava: bool = option(False, "the teacher's go-to never steps into lava (the official one does)",
                                    commands=ALL)
    teacher_texts: str = option("auto", "texts for the planner: full | reduced (what a plan needs) | auto (reduced "
                                        "for a live LLM)", commands=ALL, choices=TEXTS)
    sighted_teacher: bool = option(False, "a 3D task's teacher teaches only steps whose skill acts on what the camera "
                                          "shows")
