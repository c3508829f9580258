import pytest
import torch

from edgebert.errors import RecipeError
from edgebert.recipe import DistillConfig
from edgebert.stages.distill import build_student, pick_layers
from edgebert.tasks import get
from edgebert.training.losses import distill_loss

TASK = get("text-classification")


def test_pick_layers_spreads_evenly_and_keeps_the_last():
    assert pick_layers(6, 3) == [1, 3, 5]
    assert pick_layers(12, 4) == [2, 5, 8, 11]
    assert pick_layers(2, 1) == [1]


def _teacher(tiny_bert):
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(tiny_bert, attn_implementation="eager").eval()


def test_student_copies_the_chosen_teacher_layer(tiny_bert):
    teacher = _teacher(tiny_bert)
    student, layers = build_student(TASK, teacher, DistillConfig(layers=[1]))
    assert layers == [1] and student.config.num_hidden_layers == 1
    t, s = teacher.state_dict(), student.state_dict()
    assert torch.equal(
        s["bert.encoder.layer.0.attention.self.query.weight"], t["bert.encoder.layer.1.attention.self.query.weight"]
    )
    assert torch.equal(s["classifier.weight"], t["classifier.weight"])
    assert not torch.equal(s["bert.encoder.layer.0.output.dense.weight"], t["bert.encoder.layer.0.output.dense.weight"])


def test_student_layer_errors(tiny_bert):
    with pytest.raises(RecipeError, match="teacher has layers 0..1"):
        build_student(TASK, _teacher(tiny_bert), DistillConfig(layers=[3]))
    with pytest.raises(RecipeError, match="choose fewer"):
        build_student(TASK, _teacher(tiny_bert), DistillConfig(num_layers=2))


def test_loss_terms_vanish_when_student_equals_teacher(tiny_bert):
    teacher = _teacher(tiny_bert)
    batch = {"input_ids": torch.tensor([[2, 10, 11, 3, 0]]), "attention_mask": torch.tensor([[1, 1, 1, 1, 0]])}
    with torch.no_grad():
        out = teacher(**batch, output_hidden_states=True, output_attentions=True)
    labels = torch.tensor([1])
    cfg = DistillConfig(num_layers=1)
    ce = torch.nn.functional.cross_entropy(out.logits, labels)
    targets = {"labels": labels, "attention_mask": batch["attention_mask"]}
    same = distill_loss(TASK, out, out, targets, [0, 1], cfg)
    assert same.item() == pytest.approx(ce.item(), abs=1e-5)
    # a different student makes every distillation term positive
    student, layers = build_student(TASK, teacher, cfg)
    with torch.no_grad():
        # random init barely moves logits or attention; perturb the student so each term faces a real difference
        student.classifier.weight.mul_(100)
        student.bert.encoder.layer[0].attention.self.query.weight.mul_(30)
        s_out = student.eval()(**batch, output_hidden_states=True, output_attentions=True)
    only = lambda **w: distill_loss(  # noqa: E731
        TASK,
        s_out,
        out,
        targets,
        layers,
        DistillConfig(num_layers=1, losses={"labels": 0, "logits": 0, "hidden": 0, "attention": 0, **w}),
    ).item()
    assert only(logits=1) > 1e-4 and only(hidden=1) > 1e-6 and only(attention=1) > 1e-4
