"""Model shapes transformers would only reject at the first forward pass (after the mixture and
tokenizer are built) are recipe errors: `codemix validate` names the key in one line."""

from pathlib import Path

import pytest

from codemix.recipes.cli import main
from helpers.recipes import recipe_text


@pytest.mark.parametrize("arch, message", [
    ("{arch: llama, hidden_size: 64, layers: 1, heads: 5, max_position_embeddings: 2048}",
     "train.model.arch: hidden_size 64 is not divisible by heads 5 (each head gets hidden_size / heads dimensions); "
     "try heads: 4"),
    ("{arch: llama, hidden_size: 36, layers: 1, heads: 4, max_position_embeddings: 2048}",
     "train.model.arch: hidden_size / heads = 9 is odd; llama's rotary embeddings need an even head size"),
    ("{arch: qwen2, hidden_size: 64, layers: 1, heads: 4, kv_heads: 3, max_position_embeddings: 2048}",
     "train.model.arch: kv_heads 3 must divide heads 4"),
    ("{arch: gpt2, hidden_size: 64, layers: 1, heads: 4, kv_heads: 2, max_position_embeddings: 2048}",
     "train.model.arch: gpt2 has no grouped-query attention; drop kv_heads (2)"),
])
def test_validate_names_the_shape_error(tmp_path: Path, capsys, arch, message):
    text = recipe_text(tmp_path / "out").replace(
        "{arch: llama, hidden_size: 32, layers: 1, heads: 2, max_position_embeddings: 2048}", arch)
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"codemix: error: {path}: {message}")
    assert not (tmp_path / "out").exists()


def test_gpt2_with_as_many_kv_heads_as_heads_is_fine(tmp_path: Path, capsys):
    text = recipe_text(tmp_path / "out").replace(
        "{arch: llama, hidden_size: 32, layers: 1, heads: 2, max_position_embeddings: 2048}",
        "{arch: gpt2, hidden_size: 32, layers: 1, heads: 2, kv_heads: 2, max_position_embeddings: 2048}")
    (tmp_path / "recipe.yaml").write_text(text)
    assert main(["validate", str(tmp_path / "recipe.yaml")]) == 0
